"""Multi-host JAX: one process per host, started with the same command on every host.

With config.distributed.enabled, `initialize` calls jax.distributed.initialize before any
other JAX work: on a TPU pod slice or a SLURM / multi-GPU cluster it finds the other
processes itself; elsewhere name them with distributed.coordinator_address (host:port of
process 0), distributed.num_processes and distributed.process_id. CPU processes exchange
collectives over gloo. Every process then builds only its own slice of each global batch
(input_pipeline.make_batch(shard=...)), and the global batch array is assembled with
jax.make_array_from_process_local_data (train/sharding.py).
"""

from __future__ import annotations

import jax
import ml_collections

from selfmea_jax.errors import InputError


def initialize(config: ml_collections.ConfigDict) -> None:
  """Joins the processes of a multi-host run (no-op unless distributed.enabled)."""
  d = config.distributed
  if not d.enabled or jax.distributed.is_initialized():
    return
  kwargs = {}
  if d.coordinator_address:
    if d.num_processes < 1 or not 0 <= d.process_id < d.num_processes:
      raise InputError(
        f"--config.distributed: process_id={d.process_id} and num_processes={d.num_processes} "
        "must satisfy 0 <= process_id < num_processes when coordinator_address is set"
      )
    kwargs = dict(
      coordinator_address=d.coordinator_address, num_processes=d.num_processes, process_id=d.process_id
    )
  jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU processes; ignored elsewhere
  jax.distributed.initialize(**kwargs)


def process_shard() -> tuple[int, int]:
  """(this process's index, number of processes): which slice of each global batch it builds."""
  return jax.process_index(), jax.process_count()


def is_main_process() -> bool:
  """Process 0 writes logs, metrics and results; every process takes part in checkpoints."""
  return jax.process_index() == 0
