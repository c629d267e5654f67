"""Blocked similarity search in JAX: one streaming pass over candidate blocks.

Never materialises the [Nq, Nc] matrix, and reads each candidate row once, so the
candidates may be a memory-mapped array larger than RAM. Scores are
s(q, c) = q . c - candidate_bias[c] (the bias expresses CSLS). Ranks follow
matching/scores.py (pessimistic in ties, NaN never a hit).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from selfmea_jax.matching.scores import beats


def _pad_rows(x: np.ndarray, multiple: int, value=0) -> np.ndarray:
  pad = (-len(x)) % multiple
  if pad == 0:
    return x
  return np.concatenate([x, np.full((pad,) + x.shape[1:], value, x.dtype)], axis=0)


@functools.partial(jax.jit, donate_argnums=(0,))
def _merge_block(
  carry, queries, bias_weights, targets, target_scores, cand, cand_bias, cand_valid, cand_subset, offset
):
  """Updates (top_scores [nb, bq, k], top_ids, counts [nb, bq], subset_counts [nb, bq]) with
  one candidate block.

  queries [nb, bq, E] (query blocks), bias_weights / targets / target_scores [nb, bq],
  cand [bc, E], cand_bias / cand_valid / cand_subset [bc].
  """
  k = carry[0].shape[-1]
  ids = offset + jnp.arange(cand.shape[0])

  def per_query_block(args):
    (top_scores, top_ids, counts, subset_counts), q, w, t, ts = args
    scores = jnp.matmul(q, cand.T, preferred_element_type=jnp.float32) - w[:, None] * cand_bias[None]
    scores = jnp.where(cand_valid[None], scores, -jnp.inf)
    against = beats(scores, ts[:, None]) & cand_valid[None] & (ids[None] != t[:, None])
    counts = counts + jnp.sum(against, axis=1)
    subset_counts = subset_counts + jnp.sum(against & cand_subset[None], axis=1)
    if k == 0:  # ranks only
      return top_scores, top_ids, counts, subset_counts
    merged = jnp.concatenate([top_scores, scores], axis=1)
    merged_ids = jnp.concatenate([top_ids, jnp.broadcast_to(ids, scores.shape)], axis=1)
    top_scores, pos = jax.lax.top_k(merged, k)
    return top_scores, jnp.take_along_axis(merged_ids, pos, axis=1), counts, subset_counts

  return jax.lax.map(per_query_block, (carry, queries, bias_weights, targets, target_scores))


@dataclasses.dataclass(frozen=True)
class SearchResult:
  """ranks [Nq] among all candidates and subset_ranks [Nq] among the subset's (None without
  targets / subset); top_ids / top_scores [Nq, k] over all candidates."""

  ranks: np.ndarray | None
  subset_ranks: np.ndarray | None
  top_ids: np.ndarray
  top_scores: np.ndarray


def search_all(
  queries: np.ndarray,
  candidates: np.ndarray,
  targets: np.ndarray | None = None,
  candidate_bias: np.ndarray | None = None,
  k: int = 10,
  bias_weights: np.ndarray | None = None,
  subset: np.ndarray | None = None,
  compute_dtype=jnp.float32,
  query_block: int = 1024,
  candidate_block: int = 8192,
) -> SearchResult:
  """One streaming pass: top-k and pessimistic target ranks, among all candidates and among a
  candidate subset, from the same block of scores.

  queries [Nq, E]; candidates [Nc, E] (may be np.memmap); targets [Nq] candidate index;
  s(q, c) = q . c - bias_weights[q] * candidate_bias[c] (bias_weights default 1: every query
  biased); subset [Nc] bool (e.g. the test targets: the 'test' convention's ranks).
  compute_dtype: of the score matmul (bfloat16 on accelerators; accumulated in float32; the
  target scores stay float32, so near-ties within bfloat16's precision count against them).
  """
  nq, nc = len(queries), len(candidates)
  k = min(k, nc)  # 0: ranks only (top_ids / top_scores are then [Nq, 0])
  bias = np.zeros(nc, np.float32) if candidate_bias is None else np.asarray(candidate_bias, np.float32)
  weights = np.ones(nq, np.float32) if bias_weights is None else np.asarray(bias_weights, np.float32)
  in_subset = np.zeros(nc, bool) if subset is None else np.asarray(subset, bool)
  q = np.asarray(queries, np.float32)
  if targets is None:  # top-k only: no target to gather, nothing to count
    tgt, target_scores = np.full(nq, -1, np.int64), np.full(nq, np.inf, np.float32)
  else:
    tgt = np.asarray(targets, np.int64)
    target_scores = np.einsum("ij,ij->i", q, np.asarray(candidates[tgt], np.float32)) - weights * bias[tgt]
  bq = min(query_block, nq)
  shape = (-1, bq)
  q_blocks = jnp.asarray(_pad_rows(q, bq).reshape(shape + q.shape[1:]), compute_dtype)
  w_blocks = jnp.asarray(_pad_rows(weights, bq).reshape(shape))
  t_blocks = jnp.asarray(_pad_rows(tgt.astype(np.int32), bq, -1).reshape(shape))
  s_blocks = jnp.asarray(_pad_rows(target_scores.astype(np.float32), bq).reshape(shape))
  nb = q_blocks.shape[0]
  carry = (
    jnp.full((nb, bq, k), -jnp.inf),
    jnp.full((nb, bq, k), -1, jnp.int32),
    jnp.zeros((nb, bq), jnp.int32),
    jnp.zeros((nb, bq), jnp.int32),
  )
  bc = min(candidate_block, nc)
  for start in range(0, nc, bc):
    block = np.asarray(candidates[start : start + bc], np.float32)
    carry = _merge_block(
      carry,
      q_blocks,
      w_blocks,
      t_blocks,
      s_blocks,
      jnp.asarray(_pad_rows(block, bc), compute_dtype),
      jnp.asarray(_pad_rows(bias[start : start + bc], bc)),
      jnp.asarray(_pad_rows(np.ones(len(block), bool), bc, False)),
      jnp.asarray(_pad_rows(in_subset[start : start + bc], bc, False)),
      jnp.int32(start),
    )
  top_scores, top_ids, counts, subset_counts = (
    np.asarray(x).reshape((nb * bq,) + x.shape[2:])[:nq] for x in carry
  )
  has_targets = targets is not None
  return SearchResult(
    ranks=counts + 1 if has_targets else None,
    subset_ranks=subset_counts + 1 if has_targets and subset is not None else None,
    top_ids=top_ids,
    top_scores=top_scores,
  )


def search(
  queries: np.ndarray,
  candidates: np.ndarray,
  targets: np.ndarray | None = None,
  candidate_bias: np.ndarray | None = None,
  k: int = 10,
  query_block: int = 1024,
  candidate_block: int = 8192,
):
  """Top-k candidates and (if targets given) pessimistic target ranks.

  queries [Nq, E], candidates [Nc, E] (may be np.memmap), targets [Nq] candidate index.
  Returns (ranks [Nq] or None, top_ids [Nq, k], top_scores [Nq, k]).
  """
  result = search_all(
    queries, candidates, targets, candidate_bias, k, query_block=query_block, candidate_block=candidate_block
  )
  return result.ranks, result.top_ids, result.top_scores
