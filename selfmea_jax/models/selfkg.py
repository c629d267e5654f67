"""SelfKG entity encoder: centre name vector + attended neighbourhood, L2-normalised."""

from __future__ import annotations

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

  @nn.compact
  def __call__(self, x: jax.Array, mask: jax.Array, deterministic: bool = True) -> jax.Array:
    dim = x.shape[-1]
    neighbourhood = CentreGraphAttention(dim, self.dropout_rate, self.identity_init, name="attention")(
      x, mask, deterministic
    )
    combined = jnp.concatenate([x[:, 0], l2_normalise(neighbourhood)], axis=-1)
    kernel_init = (
      initializers.stacked_identity_kernel((1.0, self.neighbour_scale))
      if self.identity_init
      else nn.initializers.lecun_normal()
    )
    return l2_normalise(nn.Dense(dim, kernel_init=kernel_init, name="combine")(combined))
