"""The label-free aligner on your own KG pair (OpenEA layout: rel_triples_1, rel_triples_2,
optional ent_links), with the DBP15K hyper-parameters and original-language names from the
URIs. `--config=configs/own_kgs.py:<directory>`; without a directory, the tiny worked
example in experiments/tiny_kgs. `<directory>,translated`: also the machine-translated name
views and settings of `dbp15k.py:<pair>,aligner,translated`, read from the folder's
translated_names_1 / translated_names_2 (`URI <TAB> translated name`)."""

import os

from configs import dbp15k

TRANSLATED = ",translated"


def get_config(arg: str | None = None):
  """arg: '<directory>[,translated]'."""
  arg = arg or "experiments/tiny_kgs"
  translated = arg.endswith(TRANSLATED)
  directory = arg[: -len(TRANSLATED)] if translated else arg
  c = dbp15k.aligner("own", translated=translated)
  name = os.path.basename(os.path.normpath(directory)) or "own_kgs"
  c.workdir = f"runs/{name}" + ("_translated" if translated else "")
  c.data.kind = "openea"
  c.data.openea_dir = directory
  return c
