"""SelfMEA on DBP15K fr_en: a shortcut for configs/dbp15k.py:fr_en,mea."""

from configs import dbp15k


def get_config():
  return dbp15k.get_config("fr_en,mea")
