"""Blocked similarity search in JAX: never materialises the full [Nq, Nc] matrix.

Scores are s(q, c) = q . c - candidate_bias[c] (the bias expresses CSLS). Ranks are
pessimistic: rank = 1 + #{c != target : s(q, c) >= s(q, target)}, so ties never favour
the gold answer and candidate order cannot matter.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np


def _pad_rows(x: np.ndarray, multiple: int, value: float = 0.0) -> np.ndarray:
  pad = (-len(x)) % multiple
  if pad == 0:
    return x
  return np.concatenate([x, np.full((pad,) + x.shape[1:], value, x.dtype)], axis=0)


@functools.partial(jax.jit, static_argnames=("k",))
def _query_block(queries, targets, candidates, bias, valid, k):
  """queries [bq, E], targets [bq] (-1 = none), candidates [nb, bc, E], bias/valid [nb, bc]."""
  def scan_block(carry, block):
    top_scores, top_ids, target_score = carry
    cand, cand_bias, cand_valid, offset = block
    scores = queries @ cand.T - cand_bias[None]  # [bq, bc]
    scores = jnp.where(cand_valid[None], scores, -jnp.inf)
    ids = offset + jnp.arange(cand.shape[0])
    is_target = ids[None] == targets[:, None]
    target_score = target_score + jnp.sum(jnp.where(is_target, scores, 0.0), axis=1)
    merged_scores = jnp.concatenate([top_scores, scores], axis=1)
    merged_ids = jnp.concatenate([top_ids, jnp.broadcast_to(ids, scores.shape)], axis=1)
    top_scores, pos = jax.lax.top_k(merged_scores, k)
    top_ids = jnp.take_along_axis(merged_ids, pos, axis=1)
    return (top_scores, top_ids, target_score), None

  num_blocks, block = candidates.shape[:2]
  offsets = jnp.arange(num_blocks) * block
  init = (jnp.full((len(queries), k), -jnp.inf), jnp.full((len(queries), k), -1, jnp.int32),
          jnp.zeros(len(queries)))
  (top_scores, top_ids, target_score), _ = jax.lax.scan(
      scan_block, init, (candidates, bias, valid, offsets))

  def count_block(count, block):  # second pass: pessimistic rank against the target's score
    cand, cand_bias, cand_valid, offset = block
    scores = queries @ cand.T - cand_bias[None]
    ids = offset + jnp.arange(cand.shape[0])
    # `~(s < t)` rather than `s >= t`: a NaN score counts against the target, never for it.
    beats = ~(scores < target_score[:, None]) & cand_valid[None] & (ids[None] != targets[:, None])
    return count + jnp.sum(beats, axis=1), None

  count, _ = jax.lax.scan(count_block, jnp.zeros(len(queries), jnp.int32),
                          (candidates, bias, valid, offsets))
  return count + 1, top_scores, top_ids


def search(queries: np.ndarray, candidates: np.ndarray, targets: np.ndarray | None = None,
           candidate_bias: np.ndarray | None = None, k: int = 10, query_block: int = 1024,
           candidate_block: int = 8192):
  """Top-k candidates and (if targets given) pessimistic target ranks.

  queries [Nq, E], candidates [Nc, E], targets [Nq] candidate index or -1.
  Returns (ranks [Nq] int or None, top_ids [Nq, k], top_scores [Nq, k]).
  """
  nq, nc = len(queries), len(candidates)
  k = min(k, nc)
  block = min(candidate_block, nc)
  cand = _pad_rows(np.asarray(candidates, np.float32), block)
  bias = _pad_rows(np.zeros(nc, np.float32) if candidate_bias is None
                   else np.asarray(candidate_bias, np.float32), block)
  valid = _pad_rows(np.ones(nc, bool), block, False)
  cand, bias, valid = (jnp.asarray(a.reshape((-1, block) + a.shape[1:])) for a in (cand, bias, valid))
  tgt = np.full(nq, -1, np.int32) if targets is None else np.asarray(targets, np.int32)
  q_block = min(query_block, nq)
  qs, ts = _pad_rows(np.asarray(queries, np.float32), q_block), _pad_rows(tgt, q_block, -1)
  ranks, top_ids, top_scores = [], [], []
  for start in range(0, len(qs), q_block):
    r, s, i = _query_block(jnp.asarray(qs[start:start + q_block]), jnp.asarray(ts[start:start + q_block]),
                           cand, bias, valid, k)
    ranks.append(np.asarray(r)); top_scores.append(np.asarray(s)); top_ids.append(np.asarray(i))
  ranks = np.concatenate(ranks)[:nq] if targets is not None else None
  return ranks, np.concatenate(top_ids)[:nq], np.concatenate(top_scores)[:nq]


def mean_topk_similarity(queries: np.ndarray, candidates: np.ndarray, k: int, **kwargs) -> np.ndarray:
  """[Nq] mean of each query's k highest cosine similarities (CSLS's r term)."""
  _, _, top_scores = search(queries, candidates, k=k, **kwargs)
  return top_scores.mean(axis=1)
