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
  """Writes <workdir>/alignment.tsv, one row per KG1 entity: both entities' ids and names,
  the cosine, the rank-1 margin (best minus second-best cosine) and whether the pair is a
  mutual nearest neighbour (the same columns as the aligner's export)."""
  task, inputs, model, params, _ = restore_best_params(config, workdir, step)
  forward, scores, backward = blocked.nearest_both_ways(*loop.encode_pair(config, model, params, inputs),
                                                        k=2)
  margins = scores[:, 0] - scores[:, 1] if scores.shape[1] > 1 else 0.0 * scores[:, 0]
  path = os.path.join(workdir, "alignment.tsv")
  with open(path, "w", encoding="utf-8") as f:
    f.write("kg1_id\tkg1_name\tkg2_id\tkg2_name\tcosine\tmargin\tmutual\n")
    for i, (j, s, m) in enumerate(zip(forward[:, 0], scores[:, 0], margins)):
      f.write(f"{task.kg1.uris[i]}\t{task.kg1.names[i]}\t{task.kg2.uris[j]}\t{task.kg2.names[j]}\t"
              f"{s:.6f}\t{m:.6f}\t{int(backward[j] == i)}\n")
  return path
