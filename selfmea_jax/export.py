"""Restore a checkpoint to evaluate it or to export the predicted alignment as TSV."""

from __future__ import annotations

import os

from selfmea_jax import checkpointing, pipeline
from selfmea_jax.errors import InputError
from selfmea_jax.evaluation import blocked
from selfmea_jax.train import loop


def restore_best_params(config, workdir: str, step: int | None = None):
  """Returns (task, inputs, model, best params, meta) from the checkpoint in workdir."""
  task, inputs = pipeline.build(config)
  model = loop.make_model(config, pipeline.active_modalities(config, inputs))
  tx = loop.make_optimizer(config, 1)
  state = loop.init_state(config, model, tx, inputs)
  template = {"state": state, "best_params": loop.to_host(state.params)}
  mngr = checkpointing.manager(workdir, config.train.keep_checkpoints)
  if step is not None and step not in mngr.all_steps():
    raise InputError(f"no checkpoint at step {step}; available: {list(mngr.all_steps())}", workdir)
  restored = checkpointing.restore(mngr, template, step)
  if restored is None:
    raise InputError("no checkpoint found (train first)", os.path.join(workdir, "checkpoints"))
  _, arrays, meta = restored
  return task, inputs, model, arrays["best_params"], meta


def evaluate_checkpoint(config, workdir: str, step: int | None = None) -> dict:
  task, inputs, model, params, meta = restore_best_params(config, workdir, step)
  results, _ = loop.evaluate_params(config, model, params, task, inputs)
  results["best_epoch"] = meta["best_epoch"]
  return results


def export_alignment(config, workdir: str, step: int | None = None) -> str:
  """Writes <workdir>/alignment.tsv: kg1 uri, predicted kg2 uri, cosine, mutual (0/1)."""
  task, inputs, model, params, _ = restore_best_params(config, workdir, step)
  forward, scores, backward = blocked.nearest_both_ways(*loop.encode_pair(config, model, params, inputs))
  path = os.path.join(workdir, "alignment.tsv")
  with open(path, "w", encoding="utf-8") as f:
    f.write("kg1_entity\tkg2_entity\tscore\tmutual\n")
    for i, (j, s) in enumerate(zip(forward[:, 0], scores[:, 0])):
      f.write(f"{task.kg1.uris[i]}\t{task.kg2.uris[j]}\t{s:.6f}\t{int(backward[j] == i)}\n")
  return path
