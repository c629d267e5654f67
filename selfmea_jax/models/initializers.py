"""Kernel initialisers that start an encoder at (or near) the identity map."""

from __future__ import annotations

import jax.numpy as jnp


def identity_kernel(_, shape, dtype=jnp.float32):
  """[d, d] identity (square kernels only)."""
  assert shape[0] == shape[1], shape
  return jnp.eye(shape[0], dtype=dtype)


def stacked_identity_kernel(scales: tuple[float, ...]):
  """[len(scales) * d, d] kernel = vertical stack of scale_i * I: a weighted sum of inputs."""

  def init(_, shape, dtype=jnp.float32):
    d = shape[1]
    assert shape[0] == d * len(scales), shape
    return jnp.concatenate([s * jnp.eye(d, dtype=dtype) for s in scales], axis=0)

  return init
