"""Restore a checkpoint to evaluate it, and write a predicted alignment as TSV."""

from __future__ import annotations

import os

import jax
import numpy as np

from selfmea_jax import checkpointing, input_pipeline
from selfmea_jax.data.kg import AlignmentTask
from selfmea_jax.errors import InputError
from selfmea_jax.evaluation import blocked
from selfmea_jax.evaluation.encode import encode_pair
from selfmea_jax.evaluation.evaluate import evaluate_embeddings
from selfmea_jax.train import build, sharding
from selfmea_jax.train.run_state import to_host


def restore_best_params(config, workdir: str, step: int | None = None):
  """Returns (task, inputs, model, best params, meta) from the checkpoint in workdir. The
  restore template comes from jax.eval_shape: nothing is initialised or encoded."""
  task, inputs = input_pipeline.build(config)
  model = build.make_model(config, input_pipeline.active_modalities(config, inputs))
  mesh = sharding.data_mesh(jax.local_devices()[:1])
  template = build.restore_template(config, model, build.make_optimizer(config, 1), inputs, mesh)
  mngr = checkpointing.manager(workdir, config.train.keep_checkpoints)
  if step is not None and step not in mngr.all_steps():
    raise InputError(f"no checkpoint at step {step}; available: {list(mngr.all_steps())}", workdir)
  restored = checkpointing.restore(mngr, template, step)
  if restored is None:
    raise InputError("no checkpoint found (train first)", os.path.join(workdir, "checkpoints"))
  _, arrays, meta = restored
  return task, inputs, model, to_host(arrays["best_params"]), meta


def evaluate_checkpoint(config, workdir: str, step: int | None = None) -> dict:
  task, inputs, model, params, meta = restore_best_params(config, workdir, step)
  results = evaluate_embeddings(config, *encode_pair(config, model, params, inputs), task)
  results["best_epoch"] = meta["best_epoch"]
  return results


def write_alignment(task: AlignmentTask, emb1: np.ndarray, emb2: np.ndarray, path: str) -> str:
  """Writes `path`, one row per KG1 entity: both entities' ids and names, the cosine, the
  rank-1 margin (best minus second-best cosine) and whether the pair is a mutual nearest
  neighbour (the same columns as the aligner's export). emb1 [n1, E], emb2 [n2, E]."""
  forward, scores, backward = blocked.nearest_both_ways(emb1, emb2, k=2)
  margins = scores[:, 0] - scores[:, 1] if scores.shape[1] > 1 else 0.0 * scores[:, 0]
  with open(path, "w", encoding="utf-8") as f:
    f.write("kg1_id\tkg1_name\tkg2_id\tkg2_name\tcosine\tmargin\tmutual\n")
    for i, (j, s, m) in enumerate(zip(forward[:, 0], scores[:, 0], margins)):
      f.write(
        f"{task.kg1.uris[i]}\t{task.kg1.names[i]}\t{task.kg2.uris[j]}\t{task.kg2.names[j]}\t"
        f"{s:.6f}\t{m:.6f}\t{int(backward[j] == i)}\n"
      )
  return path


def export_alignment(config, workdir: str, step: int | None = None) -> str:
  """<workdir>/alignment.tsv from the checkpointed best parameters."""
  task, inputs, model, params, _ = restore_best_params(config, workdir, step)
  return write_alignment(
    task, *encode_pair(config, model, params, inputs), os.path.join(workdir, "alignment.tsv")
  )
