"""Align two KGs from Python (a notebook), with the same config keys as the command line.

  from selfmea_jax import api
  table = api.align_triples(triples1, triples2, links=None, workdir="runs/mine")
  table = api.align_folder("my_pair", workdir="runs/mine", overrides={"align.self_training_rounds": 0})
  table.rows[0]  # {'kg1_id': ..., 'kg2_name': ..., 'confidence': ..., 'decision': 'match', ...}
  table.review   # <workdir>/review.html: open it in a browser

Triples are (head URI, relation URI, tail URI); links (optional) are (KG1 URI, KG2 URI) gold
pairs, used for evaluation only; names (optional) map a URI to its name (default: from the
URI); translated names (optional) map a URI to its machine-translated name and switch on the
translated setting (`configs/own_kgs.py:<dir>,translated`). In-memory KGs are written to
`<workdir>/input/` in the OpenEA layout and read back by the same loader as the command
line, so every check (and every file:line message) applies;
their name vectors are cached under `<workdir>/cache/` (the converted e5 weights stay in the
usual cache directory, `data.weights_dir`).
"""

from __future__ import annotations

import dataclasses
import os

import ml_collections

from selfmea_jax import config_checks, config_files, files, run_config
from selfmea_jax.align import run as aligner
from selfmea_jax.data.load import input_files
from selfmea_jax.errors import InputError
from selfmea_jax.features.names import weights_dir
from selfmea_jax.matching.export import HEADER, alignment_rows

Triple = tuple[str, str, str]


@dataclasses.dataclass(frozen=True)
class AlignmentTable:
  """One row per KG1 entity (the columns of alignment.tsv), the run's results, and the paths of
  alignment.tsv and review.html (the page for reviewing the least confident decisions)."""

  rows: list[dict]
  results: dict
  path: str
  review: str

  @property
  def columns(self) -> tuple[str, ...]:
    return HEADER


def default_config(
  directory: str, workdir: str, overrides: dict | None = None, translated: bool = False
) -> ml_collections.ConfigDict:
  """The aligner's config for an OpenEA folder (configs/own_kgs.py; translated: its
  `,translated` setting) with dotted-key overrides, e.g. {'align.self_training_rounds': 0}."""
  config = config_files.load("own_kgs", directory + (",translated" if translated else ""))
  config.workdir = workdir
  return _overridden(config, overrides)


def _overridden(config: ml_collections.ConfigDict, overrides: dict | None) -> ml_collections.ConfigDict:
  for key, value in (overrides or {}).items():
    config_files.set_key(config, key, value)
  return config


def align_folder(
  directory: str,
  workdir: str,
  overrides: dict | None = None,
  config: ml_collections.ConfigDict | None = None,
  translated: bool = False,
) -> AlignmentTable:
  """Aligns the KG pair of an OpenEA folder (rel_triples_1/2, optional ent_links, names_1/2,
  translated_names_1/2 read with translated=True). Resumes from workdir like the command line
  (and refuses another config's workdir)."""
  config = config or default_config(directory, workdir, overrides, translated)
  config_checks.validate(config)
  with run_config.training_workdir(config, workdir, input_files(config)):
    result = aligner.align(config, workdir)
  rows = alignment_rows(result.task, result.decoded, result.decided)
  rows = [dict(zip(HEADER, row)) for row in rows]
  return AlignmentTable(rows, result.report, result.report["alignment"], result.report["review"])


def align_triples(
  triples1: list[Triple],
  triples2: list[Triple],
  workdir: str,
  links: list[tuple[str, str]] | None = None,
  names1: dict[str, str] | None = None,
  names2: dict[str, str] | None = None,
  overrides: dict | None = None,
  translated1: dict[str, str] | None = None,
  translated2: dict[str, str] | None = None,
) -> AlignmentTable:
  """Aligns two KGs given in memory (see the module doc)."""
  directory = os.path.join(workdir, "input")
  tables = {
    "rel_triples_1": triples1,
    "rel_triples_2": triples2,
    "ent_links": links,
    "names_1": None if names1 is None else sorted(names1.items()),
    "names_2": None if names2 is None else sorted(names2.items()),
    "translated_names_1": None if translated1 is None else sorted(translated1.items()),
    "translated_names_2": None if translated2 is None else sorted(translated2.items()),
  }
  for name, rows in tables.items():
    if rows is not None:
      files.write_text(os.path.join(directory, name), "".join(_tsv_line(row, name) for row in rows))
  config = default_config(directory, workdir, translated=translated1 is not None or translated2 is not None)
  local = {  # name vectors: not shared by name; converted model weights: the usual cache directory
    "data.weights_dir": weights_dir(config),
    "data.cache_dir": os.path.join(workdir, "cache"),
  }
  return align_folder(directory, workdir, config=_overridden(config, {**local, **(overrides or {})}))


def _tsv_line(row, table: str) -> str:
  fields = [str(field) for field in row]
  if any("\t" in field or "\n" in field or "\r" in field for field in fields):
    raise InputError(f"{table}: a field holds a tab or a line break: {fields!r}")
  return "\t".join(fields) + "\n"
