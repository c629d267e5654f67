"""The training loop: steps, periodic logging, end-of-epoch work, checkpoints and resume.

fit() trains on data that is already loaded (the task and both KGs' inputs): it resumes
from workdir's newest readable checkpoint, runs the jitted step over the input pipeline's
batches, evaluates and selects at epoch ends (train/epoch_end.py), and returns a
TrainOutcome with everything export needs (no rebuilding, no re-encoding). train() loads the
config's data and fits; the aligner calls fit() once per self-training round on the data it
loaded once.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

from absl import logging
import jax
import ml_collections
import numpy as np
from tqdm.auto import tqdm

from selfmea_jax import checkpointing, files, interrupts, plots
from selfmea_jax.data.inputs import GraphInputs
from selfmea_jax.data.kg import AlignmentTask
from selfmea_jax.errors import InputError
from selfmea_jax.metric_writers import IntervalMeans, MetricWriter, flatten_config
from selfmea_jax.models.fusion import EntityEncoder
from selfmea_jax.train import build, distributed, input_pipeline, pseudo_seeds, sharding
from selfmea_jax.train.encode import encode_pair
from selfmea_jax.train.epoch_end import end_of_epoch
from selfmea_jax.train.evaluate import (
  VALID_KEY,
  evaluate_params,
  format_results,
  names_only_report,
  test_links,
)
from selfmea_jax.train.run_state import RunState, from_checkpoint, to_host


@dataclasses.dataclass(frozen=True)
class TrainOutcome:
  """What a finished training run hands on: its results and the selected encoder."""

  results: dict
  model: EntityEncoder
  best_params: Any
  task: AlignmentTask
  inputs: tuple[GraphInputs, GraphInputs]
  best_embeddings: tuple[np.ndarray, np.ndarray] | None = None

  def embeddings(self, config: ml_collections.ConfigDict) -> tuple[np.ndarray, np.ndarray]:
    """([n1, E], [n2, E]) of the best parameters (encoded only if this run did not)."""
    if self.best_embeddings is not None:
      return self.best_embeddings
    return encode_pair(config, self.model, self.best_params, self.inputs)


def initial_seeds(
  config: ml_collections.ConfigDict, task, inputs, encoded, given: np.ndarray | None = None
) -> np.ndarray:
  """[p, 2] label-free starting pseudo-seeds: mutual NNs of the names or of the untrained
  encoder (`encoded`: its ([n1, E], [n2, E]) embeddings), or `given` pairs (e.g. the aligner's
  decoded alignment)."""
  source = config.train.initial_seeds
  if config.train.nca_weight <= 0 or not source:
    return np.zeros((0, 2), np.int32)
  if given is not None:
    seeds, source = np.asarray(given, np.int32).reshape(-1, 2), "the given alignment"
  elif source == "names":
    emb1, emb2 = inputs[0].name_matrix(), inputs[1].name_matrix()
  elif source == "encoder":
    emb1, emb2 = encoded
  else:
    raise InputError(f"unknown train.initial_seeds {source!r}; choose '', 'names' or 'encoder'")
  if given is None:
    seeds = pseudo_seeds.mutual_nearest_neighbours(
      emb1, emb2, config.train.seed_keep_fraction, config.train.seed_search
    )
  known = pseudo_seeds.gold_precision(seeds, task)
  logging.info(
    "initial pseudo-seeds from %s: %d (precision %s, reporting only)",
    source,
    len(seeds),
    "unknown" if known is None else f"{known:.3f}",
  )
  return seeds


def fresh_run_state(
  config: ml_collections.ConfigDict, task, inputs, model, params, given_seeds=None, names_only: bool = True
) -> RunState:
  """The run state before the first step: the untrained model as the best so far, and the
  names-only baseline (unless `names_only` is False: a caller that knows it already)."""
  evaluated = len(test_links(config, task))
  if evaluated < len(task.test_links):
    logging.info(
      "evaluating a seeded sample of %d of %d test links (exact ranks; each metric with its standard error)",
      evaluated,
      len(task.test_links),
    )
  baseline = names_only_report(config, task, inputs) if names_only else {}
  untrained, embeddings = evaluate_params(config, model, params, task, inputs)
  if names_only:
    logging.info("names only: %s", format_results(baseline))
  logging.info("untrained encoder: %s", format_results(untrained))
  return RunState(
    seeds=initial_seeds(config, task, inputs, embeddings, given_seeds),
    streaks=np.zeros((0, 3), np.int32),
    best_params=to_host(params),
    best_valid=untrained.get(VALID_KEY, -1.0),
    best_results=untrained,
    names_only=baseline,
    untrained=untrained,
    best_embeddings=embeddings,
  )


class Checkpointer:
  """Saves (train state, run state) at a step with orbax; saves run in the background."""

  def __init__(self, workdir: str, keep: int):
    self.manager = checkpointing.manager(workdir, keep)
    self.saved_step = -1
    self.saving = False  # a Ctrl-C inside orbax's save must not start a second save

  def restore(self, template):
    restored = checkpointing.restore(self.manager, template)
    if restored is not None:
      self.saved_step = restored[0]
    return restored

  def save(self, step: int, state, run: RunState) -> None:
    best_params, meta = run.checkpoint_items()
    self.saving = True
    checkpointing.save(self.manager, step, {"state": state, "best_params": best_params}, meta)
    self.saving, self.saved_step = False, step

  def save_on_interrupt(self, state, run: RunState) -> None:
    """Checkpoints the last completed step with `run` as it was after it. A step in flight
    may have consumed (donated) the state's buffers: then nothing newer can be written."""
    if self.saving:  # an interrupted save is left to orbax: uncommitted, it is never restored
      return
    if any(leaf.is_deleted() for leaf in jax.tree.leaves(state) if isinstance(leaf, jax.Array)):
      return  # the state's buffers were donated to a step that did not complete
    completed = int(jax.device_get(state.step))
    if completed > self.saved_step:
      self.save(completed, state, run)

  def close(self) -> None:
    with checkpointing.disk_errors(str(self.manager.directory)):
      try:
        self.manager.wait_until_finished()
      finally:
        self.manager.close()


def _epoch_end_due(config: ml_collections.ConfigDict, done: int, per_epoch: int) -> bool:
  return done > 0 and done % per_epoch == 0 and (done // per_epoch) % config.train.eval_every_epochs == 0


def _check_finite(scalars: dict, first: int, last: int, workdir: str) -> None:
  if not np.isfinite(scalars["loss"]):
    raise InputError(
      f"training diverged: the loss is {scalars['loss']} in steps {first}-{last} "
      "(try a lower train.learning_rate); the last checkpoint is kept",
      workdir,
    )


def train(config: ml_collections.ConfigDict, workdir: str) -> TrainOutcome:
  """Loads the config's data and fits (resuming from workdir's newest readable checkpoint)."""
  task, inputs = input_pipeline.build(config)
  logging.info("%s", task.describe())
  return fit(config, workdir, task, inputs)


def fit(
  config: ml_collections.ConfigDict,
  workdir: str,
  task: AlignmentTask,
  inputs: tuple[GraphInputs, GraphInputs],
  given_seeds: np.ndarray | None = None,
  standalone: bool = True,
) -> TrainOutcome:
  """Trains on loaded data (resuming from workdir's newest readable checkpoint).

  given_seeds: [p, 2] starting pseudo-seeds instead of train.initial_seeds' own.
  standalone=False (a step of a larger run, e.g. an aligner round): no names-only baseline,
  no results.json or curves.png of its own (the caller nests the returned results).
  Ctrl-C (interrupts.py) stops at the next safe point with the last completed step saved,
  raising KeyboardInterrupt whose message says where."""
  os.makedirs(workdir, exist_ok=True)
  with interrupts.deferred():
    return _fit(config, workdir, task, inputs, given_seeds, standalone)


def _fit(
  config: ml_collections.ConfigDict, workdir: str, task, inputs, given_seeds, standalone
) -> TrainOutcome:
  modalities = input_pipeline.active_modalities(config, inputs)
  model = build.make_model(config, modalities)
  per_epoch = input_pipeline.steps_per_epoch(config, inputs)
  total_steps = per_epoch * config.train.num_epochs
  tx = build.make_optimizer(config, total_steps)
  mesh = sharding.config_mesh(config)
  if mesh.size > 1:
    logging.info("data parallel over %d devices", mesh.size)
  checkpointer = Checkpointer(workdir, config.train.keep_checkpoints)
  restored = checkpointer.restore(build.restore_template(config, model, tx, inputs, mesh))
  if restored is not None:
    start, arrays, meta = restored
    state, run = arrays["state"], from_checkpoint(arrays["best_params"], meta)
    logging.info("resumed from step %d", start)
  else:
    start = 0
    state = sharding.replicate(build.init_state(config, model, tx, inputs), mesh)
    run = fresh_run_state(config, task, inputs, model, state.params, given_seeds, names_only=standalone)
  main_process = distributed.is_main_process()  # writes logs and results; all processes train
  writer = MetricWriter(workdir, resume_step=start if restored is not None else None, enabled=main_process)
  if restored is None:
    writer.write_hparams(flatten_config(config))
    writer.write_scalars(0, {"epoch": 0, **run.untrained})
  shard = distributed.process_shard()  # this process's slice of every global batch
  step_fn = sharding.make_train_step(model, tx, build.loss_config(config), mesh)
  started = time.time()
  progress = tqdm(
    range(start, total_steps),
    initial=start,
    total=total_steps,
    desc="training",
    unit="step",
    disable=None if main_process else True,
  )
  means, interval_start, interval_time = IntervalMeans(), start, time.time()
  try:
    if _epoch_end_due(config, start, per_epoch) and not run.evaluated(start // per_epoch):
      run, results = end_of_epoch(
        config,
        model,
        to_host(state.params),
        task,
        inputs,
        run,  # cut short
        start // per_epoch,
        start,
      )  # before: redo
      writer.write_scalars(start, results)
    for step in progress:
      batch = input_pipeline.make_batch(config, inputs, step, per_epoch, run.seeds, shard)
      interrupts.check()  # a safe point: every step before this one has completed
      with interrupts.shield():  # the state is donated to the step: never cut in between
        state, step_metrics = step_fn(state, batch)
      means.add(step_metrics)
      done = step + 1
      if done % config.train.log_every_steps == 0:
        scalars = means.pop()
        _check_finite(scalars, interval_start + 1, done, workdir)
        scalars["steps_per_second"] = (done - interval_start) / max(time.time() - interval_time, 1e-9)
        interval_start, interval_time = done, time.time()
        progress.set_postfix(loss=f"{scalars['loss']:.4f}")
        writer.write_scalars(done, scalars)
      if _epoch_end_due(config, done, per_epoch):
        run, results = end_of_epoch(
          config, model, to_host(state.params), task, inputs, run, done // per_epoch, done
        )
        writer.write_scalars(done, results)
      if done % config.train.checkpoint_every_steps == 0 or done == total_steps:
        with interrupts.shield():
          checkpointer.save(done, state, run)
    if total_steps == 0 and restored is None:  # num_epochs=0: the untrained model, for export
      checkpointer.save(0, state, run)
  except KeyboardInterrupt:
    progress.close()
    with interrupts.shield():
      checkpointer.save_on_interrupt(state, run)
    if checkpointer.saved_step < 0:
      raise KeyboardInterrupt("before the first step completed; nothing to keep") from None
    raise KeyboardInterrupt(
      f"checkpoint at step {checkpointer.saved_step} in {workdir}; rerun the same command to resume"
    ) from None
  finally:  # each closes even if another fails (a full disk fails them all); the first error wins
    progress.close()
    with interrupts.shield():  # waits for the background checkpoint writes: never cut
      try:
        writer.close()
      finally:
        checkpointer.close()
  final = {
    **({"names_only": run.names_only} if standalone else {}),
    "untrained": run.untrained,
    "best_epoch": run.best_epoch,
    "best": run.best_results,
    "last": run.history[-1] if run.history else {},
    "train_seconds_this_run": time.time() - started,
    "modalities": list(modalities),
  }
  if not (main_process and standalone):
    return TrainOutcome(final, model, run.best_params, task, inputs, run.best_embeddings)
  files.write_json(os.path.join(workdir, "results.json"), final)
  plots.plot_curves(workdir)
  return TrainOutcome(final, model, run.best_params, task, inputs, run.best_embeddings)
