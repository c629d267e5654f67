"""The trainer pipeline's modes: train (then export), eval and export from the workdir."""

from __future__ import annotations

import os

import ml_collections
import numpy as np

from selfmea_jax.data.kg import AlignmentTask
from selfmea_jax.matching import consistency
from selfmea_jax.matching.confidence import decisions
from selfmea_jax.matching.conventions import DecodingPlan, decode_all
from selfmea_jax.matching.export import write_alignment
from selfmea_jax.train import distributed, input_pipeline, loop
from selfmea_jax.train.encode import encode_pair
from selfmea_jax.train.evaluate import evaluate_embeddings
from selfmea_jax.train.restore import restore_best


def export_alignment(
  config: ml_collections.ConfigDict, task: AlignmentTask, emb1: np.ndarray, emb2: np.ndarray, path: str
) -> str:
  """Decodes [n1, E] x [n2, E] under config.decoding and writes the alignment TSV."""
  plan = DecodingPlan.from_config(config.decoding)
  adjacencies = consistency.adjacencies(task)
  decoded = decode_all(emb1, emb2, plan, adjacencies)
  decided = decisions(decoded, plan.decoder, config.decoding.match_threshold, adjacencies)
  return write_alignment(task, decoded, path, decided)


def run(config: ml_collections.ConfigDict, workdir: str, mode: str, step: int | None = None) -> dict:
  """mode train: fit (resuming) and export; eval / export: from the best checkpointed
  parameters, without training. Returns the results printed by main."""
  task, inputs = input_pipeline.build(config)
  path = os.path.join(workdir, "alignment.tsv")
  if mode == "train":  # the export reuses the run's best embeddings: nothing is re-encoded
    outcome = loop.fit(config, workdir, task, inputs)
    if distributed.is_main_process():
      export_alignment(config, task, *outcome.embeddings(config), path)
    return outcome.results
  model, params, meta = restore_best(config, workdir, inputs, step)
  embeddings = encode_pair(config, model, params, inputs)
  if mode == "eval":
    return {**evaluate_embeddings(config, *embeddings, task), "best_epoch": meta["best_epoch"]}
  return {"alignment": export_alignment(config, task, *embeddings, path)}
