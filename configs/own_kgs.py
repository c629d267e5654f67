"""The label-free aligner on your own KG pair (OpenEA layout: rel_triples_1, rel_triples_2,
optional ent_links), with the DBP15K hyper-parameters and original-language names from the
URIs. `--config=configs/own_kgs.py:<directory>`; without a directory, the tiny worked
example in experiments/tiny_kgs."""

import os

from configs import dbp15k


def get_config(arg: str | None = None):
  directory = arg or "experiments/tiny_kgs"
  c = dbp15k.aligner("own")
  c.workdir = f"runs/{os.path.basename(os.path.normpath(directory)) or 'own_kgs'}"
  c.data.kind = "openea"
  c.data.openea_dir = directory
  return c
