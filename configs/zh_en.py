"""SelfKG on DBP15K zh_en: a shortcut for configs/dbp15k.py:zh_en."""

from configs import dbp15k


def get_config():
  return dbp15k.get_config("zh_en")
