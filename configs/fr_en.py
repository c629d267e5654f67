"""SelfKG on DBP15K fr_en (names from the original-language URIs, USE encoder, 1-hop GAT)."""

from selfmea_jax.config_defaults import dbp15k_config


def get_config():
  return dbp15k_config("fr_en")
