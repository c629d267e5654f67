"""Exact inner-product top-k with faiss (CPU), as an alternative to the blocked JAX search."""

from __future__ import annotations

import numpy as np


def search(
  queries: np.ndarray,
  candidates: np.ndarray,
  targets: np.ndarray | None = None,
  candidate_bias: np.ndarray | None = None,
  k: int = 10,
  rank_depth: int = 100,
):
  """Same contract as blocked.search; ranks beyond rank_depth are reported as rank_depth + 1.

  The candidate bias (CSLS) is folded in as an extra dimension: [c ; -bias] . [q ; 1].
  """
  import faiss  # pylint: disable=import-outside-toplevel

  q = np.ascontiguousarray(queries, np.float32)
  c = np.ascontiguousarray(candidates, np.float32)
  if candidate_bias is not None:
    q = np.ascontiguousarray(np.concatenate([q, np.ones((len(q), 1), np.float32)], 1))
    c = np.ascontiguousarray(np.concatenate([c, -np.asarray(candidate_bias, np.float32)[:, None]], 1))
  index = faiss.IndexFlatIP(c.shape[1])
  index.add(c)
  depth = min(max(k, rank_depth if targets is not None else k), len(c))
  scores, ids = index.search(q, depth)
  ranks = None
  if targets is not None:
    targets = np.asarray(targets)
    target_scores = np.einsum("ij,ij->i", q, c[targets])
    beats = (scores >= target_scores[:, None] - 1e-7) & (ids != targets[:, None]) & (ids >= 0)
    found = np.any(ids == targets[:, None], axis=1)
    ranks = np.where(found, beats.sum(1) + 1, depth + 1)
  return ranks, ids[:, :k], scores[:, :k]
