"""On-disk feature cache: one .npy per KG (rows in source-file order) + a JSON manifest.

The manifest records what produced the file (encoder, name source) and a hash of the
input names, so a stale cache is detected instead of silently used.
"""

from __future__ import annotations

import hashlib
import json
import os
import time

import numpy as np

from selfmea_jax.errors import InputError, warn


def names_digest(names: list[str]) -> str:
  h = hashlib.sha256()
  for name in names:
    h.update(name.encode("utf-8") + b"\n")
  return h.hexdigest()


def cache_stem(cache_dir: str, dataset: str, kind: str, kg_number: int) -> str:
  """<cache_dir>/<dataset>/<kind>_kg<kg_number> (kind e.g. 'name-use-uri')."""
  return os.path.join(cache_dir, dataset, f"{kind}_kg{kg_number}")


def save_features(stem: str, features: np.ndarray, manifest: dict) -> None:
  """Writes <stem>.npy and <stem>.json atomically (tmp file + rename)."""
  os.makedirs(os.path.dirname(stem), exist_ok=True)
  tmp = stem + ".tmp.npy"
  np.save(tmp, features)
  os.replace(tmp, stem + ".npy")
  manifest = dict(
    manifest,
    shape=list(features.shape),
    dtype=str(features.dtype),
    created=time.strftime("%Y-%m-%d %H:%M:%S"),
  )
  with open(stem + ".json.tmp", "w", encoding="utf-8") as f:
    json.dump(manifest, f, indent=1)
  os.replace(stem + ".json.tmp", stem + ".json")


def load_features(stem: str, expected: dict | None = None, mmap: bool = True) -> np.ndarray | None:
  """Returns the cached array (memory-mapped), or None when absent, unreadable or made from
  other inputs than `expected` says (stale: it is computed again and replaced, with a warning)."""
  if not (os.path.exists(stem + ".npy") and os.path.exists(stem + ".json")):
    return None
  try:
    with open(stem + ".json", encoding="utf-8") as f:
      manifest = json.load(f)
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    warn(f"{stem}.json: unreadable cache manifest ({e}); computing the features again")
    return None
  stale = [key for key, value in (expected or {}).items() if manifest.get(key) != value]
  if stale:  # made from other names (another dataset under the same name, edited data)
    warn(f"{stem}.npy: cached from other inputs ({', '.join(stale)} differ); computing the features again")
    return None
  try:
    features = np.load(stem + ".npy", mmap_mode="r" if mmap else None)
  except (ValueError, OSError, EOFError) as e:  # a truncated or overwritten file
    warn(f"{stem}.npy: unreadable cache ({e}); computing the features again")
    return None
  if list(features.shape) != manifest.get("shape", list(features.shape)):
    warn(
      f"{stem}.npy: shape {list(features.shape)}, manifest {manifest['shape']}; computing the features again"
    )
    return None
  check_finite(features, stem + ".npy")
  return features


def check_finite(features: np.ndarray, path: str, chunk: int = 65536) -> None:
  """Raises InputError naming the first row with a NaN/Inf (reads the array in chunks)."""
  for start in range(0, len(features), chunk):
    bad = ~np.isfinite(np.asarray(features[start : start + chunk])).all(axis=tuple(range(1, features.ndim)))
    if bad.any():
      raise InputError(
        f"non-finite value (NaN or Inf) in row {start + int(np.argmax(bad))}; "
        "delete the cache to recompute it",
        path,
      )
