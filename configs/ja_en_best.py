"""The label-free aligner on DBP15K ja_en: a shortcut for configs/dbp15k.py:ja_en,best.
`--config=configs/ja_en_best.py` uses original-language names only (the papers' setting);
`--config=configs/ja_en_best.py:translated` adds the machine-translated names."""

from configs import dbp15k


def get_config(arg: str | None = None):
  return dbp15k.get_config("ja_en,best" + (",translated" if arg == "translated" else ""))
