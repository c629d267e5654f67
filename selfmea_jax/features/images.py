"""Image features: EVA's pickle (`entity id -> 2048-d vector`) or .npy, with missing-image fill.

Entities without an image get a vector drawn from the per-dimension mean/std of those
with one (as EVA does); the returned mask records which rows are real.
"""

from __future__ import annotations

import os
import pickle

import numpy as np

from selfmea_jax import rng_streams
from selfmea_jax.data.kg import KnowledgeGraph
from selfmea_jax.errors import InputError


def _finite(table: dict[int, np.ndarray], path: str) -> dict[int, np.ndarray]:
  """The table, or an InputError naming the first entity whose vector has a NaN/Inf."""
  for entity_id, vector in table.items():
    if not np.isfinite(vector).all():
      raise InputError(f"non-finite value (NaN or Inf) in the features of entity id {entity_id}", path)
  return table


def read_image_table(path: str) -> dict[int, np.ndarray]:
  """{source entity id: vector} from a .pkl dict or a .npy/.npz with `ids` and `features`."""
  if not os.path.isfile(path):
    raise InputError("image feature file not found", path)
  try:
    if path.endswith(".pkl") or path.endswith(".pickle"):
      with open(path, "rb") as f:
        table = pickle.load(f)
      return _finite({int(k): np.asarray(v, np.float32).reshape(-1) for k, v in table.items()}, path)
    data = np.load(path)
    return _finite({int(i): np.asarray(v, np.float32) for i, v in zip(data["ids"], data["features"])}, path)
  except (pickle.UnpicklingError, KeyError, ValueError, AttributeError, EOFError) as e:
    raise InputError(f"cannot read image features ({type(e).__name__}: {e})", path) from None


def fill_missing(features: np.ndarray, mask: np.ndarray, seed: int = 0) -> np.ndarray:
  """[n, d] with rows ~mask replaced by N(mean, std) of the real rows."""
  if mask.all():
    return features
  if not mask.any():
    raise InputError("no entity has an image feature (check the ids in the image file)")
  real = features[mask]
  rng = rng_streams.missing_images(seed)
  out = features.copy()
  out[~mask] = rng.normal(real.mean(0), real.std(0) + 1e-6, size=(int((~mask).sum()), real.shape[1]))
  return out.astype(np.float32)


def image_features(kg: KnowledgeGraph, table: dict[int, np.ndarray], seed: int = 0):
  """Returns ([n, d] features in local order, [n] bool mask of real images)."""
  if not table:
    raise InputError("image feature table is empty")
  dim = len(next(iter(table.values())))
  features = np.zeros((kg.num_entities, dim), np.float32)
  mask = np.zeros(kg.num_entities, bool)
  for local, source_id in enumerate(kg.source_ids):
    vector = table.get(int(source_id))
    if vector is not None:
      if len(vector) != dim:
        raise InputError(f"image vector of entity {source_id} has {len(vector)} dims, expected {dim}")
      features[local], mask[local] = vector, True
  return fill_missing(features, mask, seed), mask
