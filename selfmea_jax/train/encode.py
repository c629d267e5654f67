"""Embeddings of every entity of a KG from an encoder's parameters (inference mode)."""

from __future__ import annotations

import functools

import jax
import ml_collections
import numpy as np

from selfmea_jax.data.inputs import GraphInputs


@functools.partial(jax.jit, static_argnames=("model",))
def apply_inference(model, params, batch: dict) -> dict:
  """model.apply in inference mode (no dropout); compiled once per (model, batch shape)."""
  return model.apply(params, batch, deterministic=True)


def encode_all(model, params, graph: GraphInputs, batch: int = 2048, output: str = "joint") -> np.ndarray:
  """[n, E] embeddings of every entity of one KG, in fixed-shape batches of `batch` rows."""
  chunks = []
  for start in range(0, graph.num_entities, batch):
    ids = np.arange(start, min(start + batch, graph.num_entities))
    pad = batch - len(ids)  # keep one compiled shape
    out = apply_inference(model, params, graph.gather(np.concatenate([ids, np.repeat(ids[-1:], pad)])))[
      output
    ]
    chunks.append(np.asarray(out)[: len(ids)])
  return np.concatenate(chunks)


def encode_pair(config: ml_collections.ConfigDict, model, params, inputs) -> tuple[np.ndarray, np.ndarray]:
  """([n1, E], [n2, E]) joint embeddings of both KGs."""
  return tuple(encode_all(model, params, graph, config.eval.encode_batch) for graph in inputs)
