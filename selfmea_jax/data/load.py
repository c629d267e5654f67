"""The task a config names, loaded once per command: synthetic, DBP15K or an OpenEA folder."""

from __future__ import annotations

import dataclasses
import os

import ml_collections
import numpy as np

from selfmea_jax.data import dbp15k, openea
from selfmea_jax.data.kg import TRANSLATED_SOURCES, AlignmentTask
from selfmea_jax.data.synthetic import SyntheticSpec, make_synthetic_pair
from selfmea_jax.errors import InputError

KINDS = ("synthetic", "dbp15k", "openea")
REAL_KINDS = ("dbp15k", "openea")  # datasets read from files (name caches in file order)


def name_inputs(config: ml_collections.ConfigDict) -> list[str]:
  """Every `<encoder>:<source>` name input of the config: the trainer's, and the aligner's
  views and self-training view."""
  own = f"{config.data.name_encoder}:{config.data.name_source}"
  if config.pipeline != "aligner":
    return [own]
  return [*config.align.views, config.align.trainer.name_view]


def uses_translations(config: ml_collections.ConfigDict) -> bool:
  """Whether any name input of the config reads the machine-translated names."""
  return any(text.partition(":")[2].strip() in TRANSLATED_SOURCES for text in name_inputs(config))


@dataclasses.dataclass(frozen=True)
class Dataset:
  """A loaded task plus what a dataset may bring besides its files' triples and names: the
  synthetic pair's own name vectors ([n1, d], [n2, d] local order) and extra modalities
  ({'image': (kg1, kg2), 'attribute': (kg1, kg2)})."""

  task: AlignmentTask
  given_names: tuple[np.ndarray, np.ndarray] | None = None
  given_extras: dict = dataclasses.field(default_factory=dict)


def input_files(config: ml_collections.ConfigDict) -> list[str]:
  """Every file the config's data is read from (for the workdir's data fingerprint)."""
  paths = [p for p in (*config.data.image_files, *config.data.attribute_files) if p]
  if config.data.kind == "dbp15k":
    paths += _files_below(os.path.join(config.data.data_dir, "DBP15K", config.data.pair))
  elif config.data.kind == "openea":
    paths += _files_below(config.data.openea_dir, recursive=False)
  return paths


def _files_below(directory: str, recursive: bool = True) -> list[str]:
  if not os.path.isdir(directory):
    return []
  if not recursive:
    return [os.path.join(directory, n) for n in sorted(os.listdir(directory))]
  return [os.path.join(root, n) for root, _, names in sorted(os.walk(directory)) for n in sorted(names)]


def load(config: ml_collections.ConfigDict) -> Dataset:
  """The dataset named by config.data (entity ids remapped by a seeded shuffle)."""
  if config.data.kind == "synthetic":
    pair = make_synthetic_pair(SyntheticSpec(**config.data.synthetic.to_dict()), seed=config.seed)
    extras = {"image": pair.image_features, "attribute": pair.attribute_bags}
    return Dataset(pair.task, pair.name_features, extras)
  if config.data.kind == "dbp15k":
    task = dbp15k.load_dbp15k(
      config.data.data_dir, config.data.pair, seed=config.seed, translations=uses_translations(config)
    )
    return Dataset(task)
  if config.data.kind == "openea":
    return Dataset(
      openea.load_openea(config.data.openea_dir, seed=config.seed, valid_fraction=config.data.valid_fraction)
    )
  raise InputError(f"unknown data.kind {config.data.kind!r}; choose one of {KINDS}")
