"""The trainer's input pipeline: both KGs' model inputs from a loaded dataset, and the
host-side batches of every training step (entity batches of both KGs plus pseudo-seed pairs)."""

from __future__ import annotations

import functools

import ml_collections
import numpy as np

from selfmea_jax import rng_streams
from selfmea_jax.data import openea
from selfmea_jax.data.inputs import GraphInputs
from selfmea_jax.data.kg import AlignmentTask
from selfmea_jax.data.load import REAL_KINDS, Dataset, load
from selfmea_jax.data.neighbours import neighbour_table
from selfmea_jax.features import attributes, images, relations
from selfmea_jax.features.names import name_encoder_kwargs, name_features
from selfmea_jax.models.fusion import EXTRA_MODALITIES

Names = tuple[np.ndarray, np.ndarray]  # ([n1, d], [n2, d]) name vectors of both KGs


def _file_extras(config: ml_collections.ConfigDict, task: AlignmentTask) -> dict:
  """Image and attribute features of a file-backed dataset, where the config names them."""
  extras = {}
  if all(config.data.image_files):
    extras["image"] = tuple(
      images.image_features(kg, images.read_image_table(path), config.seed)[0]
      for kg, path in zip((task.kg1, task.kg2), config.data.image_files)
    )
  if config.data.kind == "openea" and "attribute" in config.data.modalities:
    per_kg = [
      openea.attribute_keys(config.data.openea_dir, kg, kg_number)
      for kg_number, kg in ((1, task.kg1), (2, task.kg2))
    ]
    if all(keys is not None for keys in per_kg):
      vocab = attributes.attribute_vocabulary(per_kg, config.data.attribute_top_k)
      extras["attribute"] = tuple(attributes.attribute_bags(e, vocab) for e in per_kg)
  if all(config.data.attribute_files):
    per_kg = [
      attributes.read_attribute_file(p, kg)
      for p, kg in zip(config.data.attribute_files, (task.kg1, task.kg2))
    ]
    vocab = attributes.attribute_vocabulary(per_kg, config.data.attribute_top_k)
    extras["attribute"] = tuple(attributes.attribute_bags(e, vocab) for e in per_kg)
  return extras


def trainer_names(config: ml_collections.ConfigDict, dataset: Dataset) -> tuple[Names, tuple]:
  """(names, rows): the encoder's name input of both KGs. Files: the cached
  data.name_encoder / data.name_source vectors, memory-mapped in source-file order
  (rows = each KG's source_rows); synthetic: the given vectors (rows None)."""
  if dataset.given_names is not None:
    return dataset.given_names, (None, None)
  task = dataset.task
  names = name_features(
    task,
    config.data.cache_dir,
    config.data.name_encoder,
    config.data.name_source,
    local_order=False,
    dtype=config.data.feature_dtype,
    encoder_kwargs=name_encoder_kwargs(config, config.data.name_encoder),
  )
  return names, (task.kg1.source_rows, task.kg2.source_rows)


def build_inputs(
  config: ml_collections.ConfigDict, dataset: Dataset, names: Names | None = None
) -> tuple[GraphInputs, GraphInputs]:
  """Both KGs' encoder inputs. names: local-order name vectors to use instead of
  trainer_names' (the aligner hands over a view it has already loaded)."""
  task = dataset.task
  rows = (None, None)
  if names is None:
    names, rows = trainer_names(config, dataset)
  extras = dict(dataset.given_extras) if config.data.kind not in REAL_KINDS else _file_extras(config, task)
  kgs = (task.kg1, task.kg2)
  if "relation" in config.data.modalities:
    vocab = relations.relation_vocabulary(
      list(kgs), config.data.relation_top_k, config.data.relation_shared_names
    )
    extras["relation"] = tuple(
      relations.relation_bags(kg, vocab, config.data.relation_shared_names) for kg in kgs
    )
  inputs = []
  for k, kg in enumerate(kgs):
    ids, mask = neighbour_table(kg.num_entities, kg.triples, config.model.num_slots, config.seed)
    chosen = {m: extras[m][k] for m in config.data.modalities if m in extras}
    inputs.append(
      GraphInputs(names=names[k], neighbour_ids=ids, neighbour_mask=mask, extras=chosen, name_rows=rows[k])
    )
  return tuple(inputs)


def build(config: ml_collections.ConfigDict) -> tuple[AlignmentTask, tuple[GraphInputs, GraphInputs]]:
  """Loads the data named by config.data and returns (task, (inputs_kg1, inputs_kg2))."""
  dataset = load(config)
  return dataset.task, build_inputs(config, dataset)


def active_modalities(
  config: ml_collections.ConfigDict, inputs: tuple[GraphInputs, GraphInputs]
) -> tuple[str, ...]:
  """Extra modalities requested in the config and present in the data (in canonical order)."""
  return tuple(m for m in EXTRA_MODALITIES if m in config.data.modalities and m in inputs[0].extras)


def steps_per_epoch(config: ml_collections.ConfigDict, inputs: tuple[GraphInputs, GraphInputs]) -> int:
  """An epoch visits every entity of the larger KG once."""
  n = max(g.num_entities for g in inputs)
  return -(-n // config.train.batch_size)


@functools.lru_cache(maxsize=4)
def _epoch_permutation(seed: int, epoch: int, kg_index: int, num_entities: int) -> np.ndarray:
  perm = rng_streams.epoch_order(seed, epoch, kg_index).permutation(num_entities)
  perm.flags.writeable = False
  return perm


def batch_ids(
  seed: int, step: int, kg_index: int, num_entities: int, batch_size: int, per_epoch: int
) -> np.ndarray:
  """[batch_size] entity ids of one KG for `step`: a fresh seeded permutation each epoch,
  cycled (the smaller KG wraps around)."""
  epoch, index = divmod(step, per_epoch)
  perm = _epoch_permutation(seed, epoch, kg_index, num_entities)
  positions = (index * batch_size + np.arange(batch_size)) % num_entities
  return perm[positions]


def process_slice(rows: np.ndarray, shard: tuple[int, int]) -> np.ndarray:
  """The contiguous slice of a global batch's rows that process shard[0] of shard[1] builds."""
  index, count = shard
  size = len(rows) // count
  return rows[index * size : (index + 1) * size]


def make_batch(
  config: ml_collections.ConfigDict,
  inputs,
  step: int,
  per_epoch: int,
  seeds: np.ndarray,
  shard: tuple[int, int] = (0, 1),
) -> dict:
  """Host-side batch of one step: {'kg1', 'kg2'} entity inputs of both KGs (B rows each),
  plus 'seeds_left' / 'seeds_right' / 'seed_weights' (S rows) when NCA is on.
  seeds: [p, 2] pseudo-seed pairs (local ids). shard: (process index, process count); a
  process gathers only its B / count (and S / count) rows of the global batch."""
  batch = {}
  for kg_index, name in enumerate(("kg1", "kg2")):
    ids = batch_ids(
      config.seed, step, kg_index, inputs[kg_index].num_entities, config.train.batch_size, per_epoch
    )
    batch[name] = inputs[kg_index].gather(process_slice(ids, shard))
  if config.train.nca_weight > 0:
    rng = rng_streams.seed_batch(config.seed, step)
    rows, weights = sample_seed_batch(seeds, config.train.seed_batch_size, rng)
    pairs = seeds[rows] if len(seeds) else np.zeros((len(rows), 2), np.int64)
    pairs, weights = process_slice(pairs, shard), process_slice(weights, shard)
    batch["seeds_left"] = inputs[0].gather(pairs[:, 0])
    batch["seeds_right"] = inputs[1].gather(pairs[:, 1])
    batch["seed_weights"] = weights
  return batch


def sample_seed_batch(seeds: np.ndarray, size: int, rng: np.random.Generator):
  """Returns ([size] rows into seeds, [size] weights); pads with weight 0 when seeds are few."""
  if len(seeds) == 0:
    return np.zeros(size, np.int64), np.zeros(size, np.float32)
  if len(seeds) >= size:
    return rng.choice(len(seeds), size, replace=False), np.ones(size, np.float32)
  rows = np.concatenate([rng.permutation(len(seeds)), np.zeros(size - len(seeds), np.int64)])
  weights = np.concatenate([np.ones(len(seeds)), np.zeros(size - len(seeds))]).astype(np.float32)
  return rows, weights
