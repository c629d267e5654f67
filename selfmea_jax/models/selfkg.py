"""SelfKG entity encoder: centre name vector + attended neighbourhood, L2-normalised."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from selfmea_jax.models import initializers
from selfmea_jax.models.graph_attention import CentreGraphAttention


def l2_normalise(x: jax.Array, eps: float = 1e-12) -> jax.Array:
  """Unit rows; a zero row stays zero with a finite gradient (no sqrt at 0)."""
  return x * jax.lax.rsqrt(jnp.maximum(jnp.sum(x * x, axis=-1, keepdims=True), eps * eps))


class SelfKGEncoder(nn.Module):
  """[B, K, D] neighbourhood name vectors + [B, K] mask -> [B, D] unit embeddings.

  out = normalise(W_c [x_centre ; normalise(GAT(x))]). With identity_init the untrained
  encoder is x_centre + neighbour_scale * normalise(GAT(x)), i.e. starts near names-only.
  """

  dropout_rate: float = 0.3
  identity_init: bool = True
  neighbour_scale: float = 0.0
  dtype: Any = jnp.float32  # compute dtype of the dense layers; the output is float32

  @nn.compact
  def __call__(self, x: jax.Array, mask: jax.Array, deterministic: bool = True) -> jax.Array:
    dim = x.shape[-1]
    attention = CentreGraphAttention(dim, self.dropout_rate, self.identity_init, self.dtype, name="attention")
    neighbourhood = attention(x, mask, deterministic).astype(jnp.float32)
    combined = jnp.concatenate([x[:, 0], l2_normalise(neighbourhood)], axis=-1)
    kernel_init = (
      initializers.stacked_identity_kernel((1.0, self.neighbour_scale))
      if self.identity_init
      else nn.initializers.lecun_normal()
    )
    combine = nn.Dense(dim, kernel_init=kernel_init, dtype=self.dtype, name="combine")
    return l2_normalise(combine(combined).astype(jnp.float32))
