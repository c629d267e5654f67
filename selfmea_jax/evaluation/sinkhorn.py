"""1-to-1 decoding by Sinkhorn normalisation of a dense similarity matrix."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from selfmea_jax.errors import InputError
from selfmea_jax.evaluation.blocked import TIE_EPS

MAX_ENTRIES = 400_000_000  # ~1.6 GB of float32


@functools.partial(jax.jit, static_argnames=("iterations",))
def _sinkhorn_log(scores, temperature, iterations):
  log_p = scores / temperature

  def body(_, log_p):
    log_p = log_p - jax.nn.logsumexp(log_p, axis=1, keepdims=True)
    return log_p - jax.nn.logsumexp(log_p, axis=0, keepdims=True)

  return jax.lax.fori_loop(0, iterations, body, log_p)


def sinkhorn_scores(
  queries: np.ndarray, candidates: np.ndarray, temperature: float = 0.02, iterations: int = 10
) -> np.ndarray:
  """[Nq, E], [Nc, E] -> [Nq, Nc] log transport plan (higher = more likely matched)."""
  if len(queries) * len(candidates) > MAX_ENTRIES:
    raise InputError(
      f"Sinkhorn decoding needs the dense {len(queries)} x {len(candidates)} matrix; "
      f"over the {MAX_ENTRIES:,}-entry limit. Use eval.decoding='greedy' or 'csls'."
    )
  scores = jnp.asarray(queries, jnp.float32) @ jnp.asarray(candidates, jnp.float32).T
  return np.asarray(_sinkhorn_log(scores, temperature, iterations))


def dense_ranks(scores: np.ndarray, targets: np.ndarray, k: int = 10):
  """Pessimistic ranks and top-k from a dense [Nq, Nc] score matrix: the same tie rule as the
  blocked search (within TIE_EPS counts against the target); a NaN target score ranks last."""
  rows = np.arange(len(scores))
  target_scores = scores[rows, targets]
  beats = ~(scores < target_scores[:, None] - TIE_EPS)  # NaN on either side counts against
  beats[rows, targets] = False
  ranks = beats.sum(1) + 1
  top_ids = np.argsort(-scores, axis=1, kind="stable")[:, :k]
  return ranks, top_ids, np.take_along_axis(scores, top_ids, 1)
