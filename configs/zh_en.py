"""DBP15K zh_en: a shortcut for configs/dbp15k.py:zh_en[,<variant>] (SelfKG without an argument;
`--config=configs/zh_en.py:aligner` is the label-free aligner)."""

from configs import dbp15k


def get_config(arg: str | None = None):
  return dbp15k.get_config("zh_en" + (f",{arg}" if arg else ""))
