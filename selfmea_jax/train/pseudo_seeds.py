"""Pseudo-seeds without labels: mutual nearest neighbours, confirmed over a window of checks."""

from __future__ import annotations

import hashlib

import numpy as np

from selfmea_jax.matching import decoding


def mutual_nearest_neighbours(
  emb1: np.ndarray, emb2: np.ndarray, keep_fraction: float = 1.0, search: str = "exact"
) -> np.ndarray:
  """[n1, E], [n2, E] -> [p, 2] pairs (i, j) with j = NN(i) in KG2 and i = NN(j) in KG1: the
  confident pairs of the nearest-neighbour decoding of a top-2 candidate graph (the aligner's
  own decoding and pair selection). keep_fraction < 1 keeps the most confident pairs, those
  with the largest margin between the best and second-best KG2 candidate (most confident
  first). search: exact | flat | auto | hnsw | ivf (approximate: recall checked on a sample)."""
  decoded = decoding.decode(emb1, emb2, decoding.NEAREST, k=2, search=search)
  return decoding.confident_pairs(decoded, keep_fraction)


def confirm(streaks: np.ndarray, proposals: np.ndarray, window: int):
  """Tracks how many consecutive checks each pair has been mutual.

  streaks: [q, 3] (i, j, count) from the previous check; proposals: [p, 2] this check.
  Returns (new streaks [p, 3], confirmed pairs [c, 2] whose count reached window).
  """
  previous = {(int(i), int(j)): int(c) for i, j, c in streaks}
  counts = np.array([previous.get((int(i), int(j)), 0) + 1 for i, j in proposals], np.int32)
  new_streaks = (
    np.concatenate([proposals, counts[:, None]], 1) if len(proposals) else np.zeros((0, 3), np.int32)
  )
  return new_streaks.astype(np.int32), proposals[counts >= window]


def merge_one_to_one(seeds: np.ndarray, new_pairs: np.ndarray) -> np.ndarray:
  """Adds new pairs whose entities are not yet used by any seed (greedy, in order)."""
  used1, used2 = set(seeds[:, 0].tolist()), set(seeds[:, 1].tolist())
  added = []
  for i, j in new_pairs.tolist():
    if i not in used1 and j not in used2:
      added.append((i, j))
      used1.add(i)
      used2.add(j)
  if not added:
    return seeds
  return np.concatenate([seeds, np.asarray(added, np.int32)], axis=0)


def precision(pairs: np.ndarray, gold: np.ndarray) -> float:
  """Fraction correct among pairs whose KG1 entity has a gold link (reporting only; never
  used in training). Entities without a gold counterpart cannot be judged, so they are left out."""
  answer = dict(map(tuple, gold.tolist()))
  judged = [answer[i] == j for i, j in pairs.tolist() if i in answer]
  return float(np.mean(judged)) if judged else 0.0


def gold_precision(pairs: np.ndarray, task) -> float | None:
  """precision() against all of a task's gold links (validation + test), for reporting
  only; None when the task has no gold links."""
  gold = np.concatenate([task.valid_links, task.test_links])
  return precision(pairs, gold) if len(gold) else None


def seeds_digest(seeds: np.ndarray) -> str:
  """The sha256 of pseudo-seed pairs [p, 2]: what a round's fingerprint records of them."""
  return hashlib.sha256(np.ascontiguousarray(seeds).tobytes()).hexdigest()
