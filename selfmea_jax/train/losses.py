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


def nca_loss(left: jax.Array, right: jax.Array, weights: jax.Array, alpha: float, beta: float,
             margin: float = 0.5) -> jax.Array:
  """NCA / multi-similarity loss on aligned pairs (EVA's NCA, in MS-loss form).

  left, right: [S, E] unit embeddings of seed pairs (row i aligned to row i);
  weights: [S] 1 for real pairs, 0 for padding. alpha scales negatives, beta positives.
  """
  sim = left @ right.T
  size = sim.shape[0]
  diag = jnp.diagonal(sim)
  pair_mask = weights[:, None] * weights[None, :] * (1.0 - jnp.eye(size))
  def log1p_sum_exp(x, mask, axis):  # log(1 + sum mask * exp(x)), stable
    m = jnp.maximum(jnp.max(jnp.where(mask > 0, x, -jnp.inf), axis=axis), 0.0)
    return m + jnp.log(jnp.exp(-m) + jnp.sum(mask * jnp.exp(x - jnp.expand_dims(m, axis)), axis=axis))
  neg_rows = log1p_sum_exp(alpha * (sim - margin), pair_mask, axis=1) / alpha
  neg_cols = log1p_sum_exp(alpha * (sim - margin), pair_mask, axis=0) / alpha
  pos = jnp.log1p(jnp.exp(-beta * (diag - margin))) / beta
  per_pair = neg_rows + neg_cols + 2.0 * pos
  return jnp.sum(weights * per_pair) / jnp.maximum(jnp.sum(weights), 1.0)
