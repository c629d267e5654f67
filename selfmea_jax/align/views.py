"""Name views: several [n, d] entity-name channels per KG, named `<encoder>:<source>`.

encoder: a sentence encoder of features/text_encoders.py (use, e5, labse, hash; cached on
disk), `literal` (character n-gram TF-IDF, features/literal.py) or `given` (name vectors
that come with the dataset, e.g. the synthetic pair's). source: `uri` (original-language
names), `translated` / `translated_cased` (machine-translated names: DBP15K's lower-case
tokens / its cased titles; entities without a translation keep their original name, and how
many did is reported), `romanised` (original names read in Latin
letters: pinyin, Hepburn; features/romanise.py), `glossed` (Chinese names read in English
dictionary glosses, features/gloss.py) or `read_as_japanese` (Chinese names read as Japanese
kanji, features/romanise.py). A view of those last two over KGs neither of which is read as
Chinese would repeat the `uri` view: it is left out (`applies`).
"""

from __future__ import annotations

import dataclasses

from absl import logging
import numpy as np

from selfmea_jax.data.kg import TRANSLATED_SOURCES, AlignmentTask
from selfmea_jax.errors import InputError
from selfmea_jax.features import literal, romanise, text_encoders
from selfmea_jax.features.names import CHINESE_ONLY_SOURCES, NAME_SOURCES, kg_names, name_features

VIEW_ENCODERS = tuple(text_encoders.ENCODERS) + ("literal", "given")


@dataclasses.dataclass(frozen=True)
class ViewSpec:
  encoder: str
  source: str = "uri"

  @property
  def name(self) -> str:
    return f"{self.encoder}:{self.source}"


def parse_view(text: str) -> ViewSpec:
  """'e5:translated' -> ViewSpec('e5', 'translated'); the source defaults to 'uri'."""
  encoder, _, source = text.partition(":")
  spec = ViewSpec(encoder.strip(), source.strip() or "uri")
  if spec.encoder not in VIEW_ENCODERS:
    raise InputError(f"unknown view encoder {spec.encoder!r} in {text!r}; choose one of {VIEW_ENCODERS}")
  if spec.source not in NAME_SOURCES:
    raise InputError(f"unknown name source {spec.source!r} in {text!r}; choose one of {NAME_SOURCES}")
  return spec


def applies(task: AlignmentTask, spec: ViewSpec) -> bool:
  """Whether the view says something of its own about these KGs: a `glossed` or
  `read_as_japanese` view only where at least one KG is read as Chinese."""
  return spec.source not in CHINESE_ONLY_SOURCES or any(
    romanise.script_of(kg.names) == "chinese" for kg in (task.kg1, task.kg2)
  )


def missing_translations(task: AlignmentTask, source: str) -> tuple[int, int] | None:
  """Entities of (KG1, KG2) without a machine translation of `source` (None: the dataset
  has none)."""
  counts = task.kg1.num_missing_translations(source), task.kg2.num_missing_translations(source)
  return None if counts[0] is None else counts


def view_matrices(
  task: AlignmentTask,
  spec: ViewSpec,
  cache_dir: str,
  seed: int = 0,
  literal_dim: int = 1024,
  given=None,
  encoder_kwargs: dict | None = None,
  tuned_layers: int = 0,
):
  """One view of both KGs: ([n1, d], [n2, d]) float32 unit rows in local-index order.
  tuned_layers: the top encoder layers that a fine-tuning on these names trains later
  (features/names.name_features)."""
  if spec.encoder == "given":
    if given is None:
      raise InputError("view 'given' needs a dataset that comes with name vectors (synthetic)")
    return tuple(np.asarray(x, np.float32) for x in given)
  if spec.source in TRANSLATED_SOURCES:
    missing = missing_translations(task, spec.source)
    if missing is None:
      raise InputError(f"view {spec.name!r} needs {spec.source} names; this dataset has none")
    logging.info("%s names missing for %d KG1 / %d KG2 entities (original name used)", spec.source, *missing)
  if spec.encoder == "literal":
    names1, names2 = kg_names(task.kg1, spec.source), kg_names(task.kg2, spec.source)
    return literal.literal_features(names1, names2, literal_dim, seed=seed)
  return name_features(
    task,
    cache_dir,
    spec.encoder,
    spec.source,
    encoder_kwargs=encoder_kwargs,
    local_order=True,
    tuned_layers=tuned_layers,
  )
