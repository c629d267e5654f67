"""The label-free aligner on DBP15K zh_en: name views, multi-hop fusion, 1-to-1 decoding,
self-training. `--config=configs/zh_en_best.py` uses original-language names only (the papers'
setting); `--config=configs/zh_en_best.py:translated` adds the machine-translated names."""

from selfmea_jax.config_defaults import dbp15k_align_config


def get_config(arg: str | None = None):
  return dbp15k_align_config("zh_en", translated=arg == "translated")
