"""SelfKG's 1-layer single-head graph attention, evaluated at the centre of a 1-hop ego net."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from selfmea_jax.models import initializers


class CentreGraphAttention(nn.Module):
  """Attention of the centre (slot 0) over its neighbourhood slots (itself included).

  h = x W;  e_j = LeakyReLU(a_src . tanh(h_0) + a_dst . tanh(h_j));  out = sum_j softmax(e)_j h_j + b
  """

  features: int
  dropout_rate: float = 0.0
  identity_init: bool = True
  dtype: Any = jnp.float32  # compute dtype (parameters stay float32)

  @nn.compact
  def __call__(self, x: jax.Array, mask: jax.Array, deterministic: bool = True) -> jax.Array:
    """x: [B, K, D] slot features (slot 0 = centre); mask: [B, K] bool. Returns [B, features]."""
    kernel_init = initializers.identity_kernel if self.identity_init else nn.initializers.xavier_uniform()
    h = nn.Dense(self.features, use_bias=False, kernel_init=kernel_init, dtype=self.dtype, name="w")(x)
    t = jnp.tanh(h)
    a_init = nn.initializers.xavier_uniform()
    score_src = nn.Dense(1, use_bias=False, kernel_init=a_init, name="a_src")(t[:, 0])  # [B, 1]
    score_dst = nn.Dense(1, use_bias=False, kernel_init=a_init, name="a_dst")(t)[..., 0]  # [B, K]
    scores = nn.leaky_relu(score_src + score_dst, negative_slope=0.2)
    scores = jnp.where(mask, scores, -jnp.inf)
    weights = jax.nn.softmax(scores, axis=-1)
    weights = nn.Dropout(self.dropout_rate)(weights, deterministic=deterministic)
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    return jnp.einsum("bk,bkf->bf", weights, h) + bias
