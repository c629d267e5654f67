"""Contrastive (RSM / InfoNCE with a negative queue) and NCA losses on unit embeddings."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def queue_infonce(queries: jax.Array, keys: jax.Array, queue: jax.Array, temperature: float) -> jax.Array:
  """SelfKG's relative-similarity loss with self-negatives.

  queries, keys: [B, E] (online / momentum encodings of the same entities);
  queue: [Q, E] momentum encodings of other entities of the same KG. Returns a scalar.
  """
  positive = jnp.sum(queries * keys, axis=-1, keepdims=True)  # [B, 1]
  negative = queries @ queue.T  # [B, Q]
  logits = jnp.concatenate([positive, negative], axis=1) / temperature
  return optax.softmax_cross_entropy_with_integer_labels(logits, jnp.zeros(len(queries), jnp.int32)).mean()


def _log1p_sum_exp(x: jax.Array, where: jax.Array, axis: int) -> jax.Array:
  """log(1 + sum_j where_j * exp(x_j)) along `axis`, stable (a zero logit joins the sum)."""
  zeros = jnp.zeros_like(jnp.take(x, jnp.array([0]), axis=axis))
  return jax.nn.logsumexp(
    jnp.concatenate([zeros, x], axis),
    axis=axis,
    where=jnp.concatenate([jnp.ones_like(zeros, bool), where], axis),
  )


def nca_loss(
  left: jax.Array, right: jax.Array, weights: jax.Array, alpha: float, beta: float, margin: float = 0.5
) -> jax.Array:
  """NCA / multi-similarity loss on aligned pairs (EVA's NCA, in MS-loss form).

  left, right: [S, E] unit embeddings of seed pairs (row i aligned to row i);
  weights: [S] 1 for real pairs, 0 for padding. alpha scales negatives, beta positives.
  """
  sim = left @ right.T
  size = sim.shape[0]
  negatives = (weights[:, None] * weights[None, :] * (1.0 - jnp.eye(size))) > 0
  scaled = alpha * (sim - margin)
  neg_rows = _log1p_sum_exp(scaled, negatives, axis=1) / alpha
  neg_cols = _log1p_sum_exp(scaled.T, negatives.T, axis=1) / alpha
  pos = jax.nn.softplus(-beta * (jnp.diagonal(sim) - margin)) / beta
  per_pair = neg_rows + neg_cols + 2.0 * pos
  return jnp.sum(weights * per_pair) / jnp.maximum(jnp.sum(weights), 1.0)
