"""The label-free aligner on your own KG pair (OpenEA layout: rel_triples_1, rel_triples_2,
optional ent_links). `--config=configs/own_kgs.py:<directory>`; without a directory, the
tiny worked example in experiments/tiny_kgs."""

from selfmea_jax.config_defaults import own_kgs_config


def get_config(arg: str | None = None):
  return own_kgs_config(arg or "experiments/tiny_kgs")
