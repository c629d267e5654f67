"""SelfKG on DBP15K ja_en: a shortcut for configs/dbp15k.py:ja_en."""

from configs import dbp15k


def get_config():
  return dbp15k.get_config("ja_en")
