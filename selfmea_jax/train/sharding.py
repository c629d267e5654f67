"""The one device path: jax.jit with NamedSharding over a 1-D data mesh (pmap's successor).

Every run builds a mesh, of one device or of all local devices. The batch's leading axis is
split over the mesh axis 'data'; the train state (params, momentum params, optimiser state,
queues) is replicated. jit compiles one global program, so the gradient all-reduce, the
cross-device negatives and the queue update are inserted by XLA: on N devices the step
computes what it computes on one.
"""

from __future__ import annotations

import functools

import jax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
import ml_collections
import numpy as np

from selfmea_jax.errors import InputError
from selfmea_jax.train.step import LossConfig, train_step

DATA_AXIS = "data"


def data_mesh(devices=None) -> Mesh:
  """A 1-D mesh over `devices` (default: all local devices)."""
  devices = jax.local_devices() if devices is None else devices
  return Mesh(np.asarray(devices), (DATA_AXIS,))


def check_divisible(batch_size: int, mesh: Mesh, what: str = "train.batch_size") -> None:
  if batch_size % mesh.size:
    raise InputError(
      f"{what}={batch_size} must be a multiple of the {mesh.size} devices (or set train.data_parallel=False)"
    )


def config_mesh(config: ml_collections.ConfigDict) -> Mesh:
  """All devices of all processes when config.train.data_parallel (multi-host: every
  process's), else the first local one; batch sizes checked."""
  if jax.process_count() > 1 and not config.train.data_parallel:
    raise InputError("a multi-host run (distributed.enabled) needs train.data_parallel=True")
  devices = jax.devices() if jax.process_count() > 1 else jax.local_devices()
  mesh = data_mesh(devices if config.train.data_parallel else devices[:1])
  check_divisible(config.train.batch_size, mesh)
  if config.train.nca_weight > 0:
    check_divisible(config.train.seed_batch_size, mesh, "train.seed_batch_size")
  return mesh


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def replicate(tree, mesh: Mesh):
  """Places every leaf of `tree` on all devices of the mesh."""
  return jax.device_put(tree, replicated(mesh))


def shard_batch(batch, mesh: Mesh):
  """Splits every array's leading (batch) axis across the mesh. With several processes,
  `batch` is this process's slice and the global array is assembled from every process's."""
  sharding = NamedSharding(mesh, P(DATA_AXIS))
  if jax.process_count() > 1:
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), batch)
  return jax.device_put(batch, sharding)


def with_sharding(abstract_tree, mesh: Mesh):
  """ShapeDtypeStruct leaves with the replicated sharding (a restore template)."""
  return jax.tree.map(
    lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=replicated(mesh)), abstract_tree
  )


def make_train_step(model, tx, cfg: LossConfig, mesh: Mesh):
  """(replicated state, host batch) -> (replicated state, metrics); the state is donated and
  the batch is split on axis 0 over the mesh."""
  step = _jitted_step(model, tx, cfg, mesh)
  return lambda state, batch: step(state, shard_batch(batch, mesh))


@functools.lru_cache(maxsize=8)
def _jitted_step(model, tx, cfg: LossConfig, mesh: Mesh):
  """One jitted step per (model, optimiser, loss settings, mesh): a later run in this process
  (the next self-training round, a resumed run) reuses its compiled programs."""
  return jax.jit(
    lambda state, batch: train_step(state, batch, model, tx, cfg),
    in_shardings=(replicated(mesh), NamedSharding(mesh, P(DATA_AXIS))),
    out_shardings=(replicated(mesh), replicated(mesh)),
    donate_argnums=0,
  )
