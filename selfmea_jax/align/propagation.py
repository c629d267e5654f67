"""Multi-hop structure: features propagated over each KG's normalised adjacency (sparse, JAX).

A_hat = D^-1/2 (A + I) D^-1/2 over the undirected, de-duplicated entity graph, applied as a
segment sum over the edge list (never a dense [n, n] matrix). Hop h of a view X is
normalise(A_hat^h X): hop 0 is the entity's own name, hop 1 its neighbourhood's, and so on.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from selfmea_jax.data.neighbours import undirected_edges


def normalised_edges(num_entities: int, triples: np.ndarray):
  """[m, 3] triples -> (senders [e], receivers [e], weights [e]) of A_hat, self loops included."""
  loops = np.repeat(np.arange(num_entities, dtype=np.int64)[:, None], 2, axis=1)
  edges = np.unique(np.concatenate([undirected_edges(triples), loops]), axis=0)
  degree = np.bincount(edges[:, 0], minlength=num_entities).astype(np.float32)
  inv_sqrt = 1.0 / np.sqrt(degree)
  weights = inv_sqrt[edges[:, 0]] * inv_sqrt[edges[:, 1]]
  return edges[:, 0].astype(np.int32), edges[:, 1].astype(np.int32), weights.astype(np.float32)


@functools.partial(jax.jit, static_argnames=("num_entities",))
def _apply_adjacency(x, senders, receivers, weights, num_entities):
  return jax.ops.segment_sum(weights[:, None] * x[senders], receivers, num_entities)


def _unit(x):
  return x * jax.lax.rsqrt(jnp.maximum(jnp.sum(x * x, axis=-1, keepdims=True), 1e-24))


def propagate(features: np.ndarray, edges, hops: int) -> list[np.ndarray]:
  """[n, d] features -> [hop 0, ..., hop `hops`], each [n, d] float32 with unit rows."""
  senders, receivers, weights = (jnp.asarray(a) for a in edges)
  x = jnp.asarray(features, jnp.float32)
  out = [np.asarray(_unit(x))]
  for _ in range(hops):
    x = _apply_adjacency(x, senders, receivers, weights, len(features))
    out.append(np.asarray(_unit(x)))
  return out
