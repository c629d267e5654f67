"""Embeddings of every entity of a KG from an encoder's parameters (inference mode)."""

from __future__ import annotations

import jax
import numpy as np

from selfmea_jax.data.inputs import GraphInputs

_APPLY_CACHE = {}


def jitted_apply(model):
  """jit(model.apply) in inference mode, compiled once per model."""
  if model not in _APPLY_CACHE:
    _APPLY_CACHE[model] = jax.jit(lambda p, b: model.apply(p, b, deterministic=True))
  return _APPLY_CACHE[model]


def encode_all(model, params, graph: GraphInputs, batch: int = 2048, output: str = "joint") -> np.ndarray:
  """[n, E] embeddings of every entity of one KG, in fixed-shape batches of `batch` rows."""
  apply = jitted_apply(model)
  chunks = []
  for start in range(0, graph.num_entities, batch):
    ids = np.arange(start, min(start + batch, graph.num_entities))
    pad = batch - len(ids)  # keep one compiled shape
    out = apply(params, graph.gather(np.concatenate([ids, np.repeat(ids[-1:], pad)])))[output]
    chunks.append(np.asarray(out)[: len(ids)])
  return np.concatenate(chunks)


def encode_pair(config, model, params, inputs) -> tuple[np.ndarray, np.ndarray]:
  """([n1, E], [n2, E]) joint embeddings of both KGs."""
  return tuple(encode_all(model, params, graph, config.eval.encode_batch) for graph in inputs)
