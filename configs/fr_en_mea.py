"""SelfMEA on DBP15K fr_en: names + graph (SelfKG), relation bags, fusion, NCA, iterative."""

from selfmea_jax.config_defaults import dbp15k_mea_config


def get_config():
  return dbp15k_mea_config("fr_en")
