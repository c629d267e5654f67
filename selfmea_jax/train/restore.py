"""Restore a training run's selected (best) parameters from its orbax checkpoints."""

from __future__ import annotations

import os
from typing import Any

import jax
import ml_collections

from selfmea_jax import checkpointing
from selfmea_jax.data.inputs import GraphInputs
from selfmea_jax.errors import InputError
from selfmea_jax.models.fusion import EntityEncoder
from selfmea_jax.train import build, input_pipeline, sharding
from selfmea_jax.train.run_state import to_host


def restore_best(
  config: ml_collections.ConfigDict,
  workdir: str,
  inputs: tuple[GraphInputs, GraphInputs],
  step: int | None = None,
) -> tuple[EntityEncoder, Any, dict]:
  """(model, best params on the host, checkpoint meta) of workdir's checkpoint at `step`
  (default: the newest readable one). The restore template comes from jax.eval_shape:
  nothing is initialised or encoded. No checkpoint: one InputError line."""
  model = build.make_model(config, input_pipeline.active_modalities(config, inputs))
  mesh = sharding.data_mesh(jax.local_devices()[:1])
  template = build.restore_template(config, model, build.make_optimizer(config, 1), inputs, mesh)
  directory = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(directory):
    raise InputError("no checkpoint here: train first (--mode=train)", directory)
  mngr = checkpointing.manager(workdir, config.train.keep_checkpoints)
  if step is not None and step not in mngr.all_steps():
    raise InputError(f"no checkpoint at step {step}; available: {list(mngr.all_steps())}", workdir)
  restored = checkpointing.restore(mngr, template, step)
  mngr.close()
  if restored is None:
    raise InputError("no readable checkpoint here: train first (--mode=train)", directory)
  _, arrays, meta = restored
  return model, to_host(arrays["best_params"]), meta
