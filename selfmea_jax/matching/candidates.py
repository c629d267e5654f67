"""Sparse candidate graph: each source's top-k targets and each target's top-k sources.

One blocked pass over the [n1, n2] similarity (never materialised): every query block's
scores are computed once and feed both the row top-k and a running column top-k. The
union of both directions is the only input of decoding, ranking and pseudo-seed mining,
so none of them is quadratic in memory.
"""

from __future__ import annotations

import dataclasses
import functools

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from selfmea_jax.matching import approximate


@dataclasses.dataclass(frozen=True)
class CandidateGraph:
  """Entries e of a sparse [num_rows, num_cols] score matrix, sorted by (row, col).

  rows, cols: [e] int32; scores: [e] float32 (cosine of the fused embeddings).
  row_top: [num_rows, k] best scores of each row, descending; col_top: [num_cols, k].
  """

  rows: np.ndarray
  cols: np.ndarray
  scores: np.ndarray
  num_rows: int
  num_cols: int
  row_top: np.ndarray
  col_top: np.ndarray

  @property
  def num_entries(self) -> int:
    return len(self.rows)

  def transposed(self) -> CandidateGraph:
    """The same entries with rows and columns swapped (entries keep their order, so they are
    not sorted by the new rows)."""
    return CandidateGraph(
      self.cols, self.rows, self.scores, self.num_cols, self.num_rows, self.col_top, self.row_top
    )

  @property
  def row_margins(self) -> np.ndarray:
    """[num_rows] best minus second-best score of each row (0 with a single candidate)."""
    if self.row_top.shape[1] < 2:
      return np.zeros(self.num_rows, np.float32)
    return self.row_top[:, 0] - self.row_top[:, 1]


@functools.partial(jax.jit, static_argnames=("k_rows",), donate_argnums=(0, 1))
def _block_topk(col_scores, col_ids, queries, candidates, offset, valid, k_rows):
  """Scores one query block [bq, E] against all candidates [nc, E]; returns the row top-k
  and the column top-k merged with the running one ([nc, k] scores and source ids)."""
  scores = queries @ candidates.T
  scores = jnp.where(valid[:, None], scores, -jnp.inf)
  row_scores, row_ids = jax.lax.top_k(scores, k_rows)
  block_ids = offset + jnp.arange(queries.shape[0], dtype=jnp.int32)
  merged = jnp.concatenate([col_scores, scores.T], axis=1)
  merged_ids = jnp.concatenate([col_ids, jnp.broadcast_to(block_ids, scores.T.shape)], axis=1)
  col_scores, pos = jax.lax.top_k(merged, col_scores.shape[1])
  return col_scores, jnp.take_along_axis(merged_ids, pos, axis=1), row_scores, row_ids


def two_way_topk(emb1: np.ndarray, emb2: np.ndarray, k: int, query_block: int = 1024):
  """[n1, E], [n2, E] -> (row_ids [n1, k], row_scores, col_ids [n2, k], col_scores)."""
  n1, n2 = len(emb1), len(emb2)
  k_rows, k_cols = min(k, n2), min(k, n1)
  candidates = jnp.asarray(emb2, jnp.float32)
  col_scores = jnp.full((n2, k_cols), -jnp.inf, jnp.float32)
  col_ids = jnp.full((n2, k_cols), -1, jnp.int32)
  bq = min(query_block, n1)
  row_ids, row_scores = [], []
  for start in range(0, n1, bq):
    block = np.asarray(emb1[start : start + bq], np.float32)
    valid = np.arange(bq) < len(block)
    block = np.pad(block, ((0, bq - len(block)), (0, 0)))
    col_scores, col_ids, rs, ri = _block_topk(
      col_scores, col_ids, jnp.asarray(block), candidates, jnp.int32(start), jnp.asarray(valid), k_rows
    )
    row_scores.append(np.asarray(rs)[: int(valid.sum())])
    row_ids.append(np.asarray(ri)[: int(valid.sum())])
  return (np.concatenate(row_ids), np.concatenate(row_scores), np.asarray(col_ids), np.asarray(col_scores))


def approximate_two_way_topk(emb1, emb2, k: int, method: str, target_recall: float, seed: int = 0):
  """two_way_topk by approximate search in each direction (evaluation/approximate.py); logs
  the recall each direction was measured at against exact search."""
  out = []
  for name, queries, candidates in (("KG1->KG2", emb1, emb2), ("KG2->KG1", emb2, emb1)):
    top = approximate.search_topk(queries, candidates, k, method, target_recall, seed=seed)
    log = logging.info if top.recall else logging.debug  # approximate: say what recall it reached
    log(
      "candidates %s: %s top-%d in %.1fs %s",
      name,
      top.method,
      k,
      top.seconds,
      " ".join(f"{key}={value:.4f}" for key, value in top.recall.items() if key != "sampled_queries"),
    )
    out += [top.ids.astype(np.int32), top.scores]
  return tuple(out)


def candidate_graph(
  emb1: np.ndarray, emb2: np.ndarray, k: int = 50, search: str = "exact", target_recall: float = 0.99
) -> CandidateGraph:
  """Union of both directions' top-k under the dot product of unit rows. search: exact (one
  blocked JAX pass) | flat (faiss exact) | auto | ivf | hnsw (approximate above a size,
  recall logged)."""
  if approximate.resolved(search, len(emb1), len(emb2)) == "exact":  # both directions in one pass
    row_ids, row_scores, col_ids, col_scores = two_way_topk(emb1, emb2, k)
  else:
    row_ids, row_scores, col_ids, col_scores = approximate_two_way_topk(emb1, emb2, k, search, target_recall)
  return graph_from_topk(len(emb1), len(emb2), row_ids, row_scores, col_ids, col_scores)


def graph_from_topk(n1: int, n2: int, row_ids, row_scores, col_ids, col_scores) -> CandidateGraph:
  """The union of row top-k [n1, k] and column top-k [n2, k] as one graph (duplicates,
  missing (-1) and non-finite entries dropped)."""
  rows = np.concatenate([np.repeat(np.arange(n1), row_ids.shape[1]), col_ids.ravel()])
  cols = np.concatenate([row_ids.ravel(), np.repeat(np.arange(n2), col_ids.shape[1])])
  scores = np.concatenate([row_scores.ravel(), col_scores.ravel()])
  keep = (rows >= 0) & (cols >= 0) & np.isfinite(scores)
  key, first = np.unique(rows[keep].astype(np.int64) * n2 + cols[keep], return_index=True)
  return CandidateGraph(
    rows=(key // n2).astype(np.int32),
    cols=(key % n2).astype(np.int32),
    scores=scores[keep][first].astype(np.float32),
    num_rows=n1,
    num_cols=n2,
    row_top=row_scores,
    col_top=col_scores,
  )
