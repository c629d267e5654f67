"""Data parallelism with jax.jit + NamedSharding (the successor of pmap).

The batch's leading axis is split over a 1-D device mesh ('data'); the train state
(params, momentum params, optimiser state, queues) is replicated. jit compiles one global
program, so the gradient all-reduce, the cross-device negatives and the queue update are
inserted by XLA: the step computes exactly what the single-device step computes.
"""

from __future__ import annotations

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
import numpy as np

from selfmea_jax.errors import InputError
from selfmea_jax.train.step import train_step


def data_mesh(devices=None) -> Mesh:
  devices = jax.local_devices() if devices is None else devices
  return Mesh(np.asarray(devices), ("data",))


def check_divisible(batch_size: int, mesh: Mesh, what: str = "train.batch_size") -> None:
  if batch_size % mesh.size:
    raise InputError(f"{what}={batch_size} must be a multiple of the {mesh.size} devices")


def replicate(tree, mesh: Mesh):
  return jax.device_put(tree, NamedSharding(mesh, P()))


def shard_batch(batch, mesh: Mesh):
  """Splits every array's leading (batch) axis across the mesh."""
  return jax.device_put(batch, NamedSharding(mesh, P("data")))


def make_sharded_train_step(model, tx, cfg, mesh: Mesh):
  """(replicated state, batch sharded on axis 0) -> (replicated state, metrics)."""
  replicated = NamedSharding(mesh, P())
  batched = NamedSharding(mesh, P("data"))
  step = jax.jit(lambda state, batch: train_step(state, batch, model, tx, cfg),
                 in_shardings=(replicated, batched), out_shardings=(replicated, replicated),
                 donate_argnums=0)
  return lambda state, batch: step(state, shard_batch(batch, mesh))
