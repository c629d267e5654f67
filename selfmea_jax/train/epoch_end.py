"""What happens at the end of an epoch: evaluation, iterative learning (new pseudo-seeds from
stable mutual nearest neighbours) and model selection."""

from __future__ import annotations

import dataclasses

from absl import logging
import ml_collections

from selfmea_jax.models.fusion import modality_weights
from selfmea_jax.train import pseudo_seeds
from selfmea_jax.train.evaluate import VALID_KEY, evaluate_params, format_results
from selfmea_jax.train.run_state import RunState, record_evaluation


def iterate_due(config: ml_collections.ConfigDict, epoch: int) -> bool:
  return (
    config.train.iterative and config.train.nca_weight > 0 and epoch % config.train.iterate_every_epochs == 0
  )


def grow_seeds(config: ml_collections.ConfigDict, run: RunState, emb1, emb2, task) -> tuple[RunState, dict]:
  """Mutual nearest neighbours that stayed mutual for train.iterate_window checks join the
  pseudo-seeds (one-to-one). Returns (new run state, {'seeds/count'[, 'seeds/precision']})."""
  proposals = pseudo_seeds.mutual_nearest_neighbours(
    emb1, emb2, config.train.seed_keep_fraction, config.train.seed_search
  )
  streaks, confirmed = pseudo_seeds.confirm(run.streaks, proposals, config.train.iterate_window)
  seeds = pseudo_seeds.merge_one_to_one(run.seeds, confirmed)
  info = {"seeds/count": len(seeds)}
  known = pseudo_seeds.gold_precision(seeds, task)
  if known is not None:
    info["seeds/precision"] = known  # reporting only: never read by training
  return dataclasses.replace(run, seeds=seeds, streaks=streaks), info


def end_of_epoch(
  config: ml_collections.ConfigDict, model, params, task, inputs, run: RunState, epoch: int, step: int
) -> tuple[RunState, dict]:
  """Evaluates `params`, grows the pseudo-seeds when due, keeps the best parameters.
  Returns (new run state, the epoch's report)."""
  results, (emb1, emb2) = evaluate_params(config, model, params, task, inputs)
  results.update({"epoch": epoch, "step": step})
  results.update({f"fusion/{m}": w for m, w in modality_weights(params, model.extra_modalities).items()})
  if iterate_due(config, epoch):
    run, info = grow_seeds(config, run, emb1, emb2, task)
    results.update(info)
  logging.info(
    "epoch %d: valid MRR %.4f | %s", epoch, results.get(VALID_KEY, float("nan")), format_results(results)
  )
  run = record_evaluation(run, results, VALID_KEY, epoch, params, (emb1, emb2), config.eval.select_best)
  return run, results
