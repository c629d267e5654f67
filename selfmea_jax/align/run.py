"""The label-free aligner: name views -> multi-hop fusion -> candidate graph -> decoding,
then self-training rounds (decoded pseudo-seeds -> SelfMEA trainer -> one more view).

The data is loaded once per command: the task, the views, and the trainer's inputs (built
from the already loaded name view) serve every round; each round calls the trainer's fit()
on them. Every decoding is reported under both conventions by matching/conventions.py
(rank metrics h1 / h10 / mrr under the decoder's scores, and decoded_accuracy of the 1-to-1
alignment). Modes: train runs (and resumes) every stage; eval and export decode again from
what the workdir stores (the cached views and each round's checkpointed trainer), never
training.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import time

from absl import logging
import ml_collections
import numpy as np

from selfmea_jax import files, run_config
from selfmea_jax.align import fusion, views
from selfmea_jax.align.finetuned_view import finetuned_view
from selfmea_jax.align.propagation import normalised_edges
from selfmea_jax.data.kg import TRANSLATED_SOURCES, AlignmentTask
from selfmea_jax.data.load import Dataset, load
from selfmea_jax.errors import InputError
from selfmea_jax.features.names import name_encoder_kwargs
from selfmea_jax.matching import consistency, decoding
from selfmea_jax.matching.confidence import confidences, decisions
from selfmea_jax.matching.conventions import DecodingPlan, decision_report, decode_conventions
from selfmea_jax.matching.export import write_alignment
from selfmea_jax.matching.review import write_review
from selfmea_jax.train import input_pipeline, loop, pseudo_seeds
from selfmea_jax.train.encode import encode_pair
from selfmea_jax.train.restore import restore_best

MODES = ("train", "eval", "export")


@dataclasses.dataclass
class ViewSet:
  """The views fused so far: names, per-view ([n1, d], [n2, d]) matrices and raw weights."""

  names: list[str]
  matrices: list[tuple[np.ndarray, np.ndarray]]
  weights: list[float]

  def add(self, name: str, matrices, weight: float, center: bool = False) -> None:
    self.names.append(name)
    self.matrices.append(tuple(map(fusion.center_rows, matrices)) if center else matrices)
    self.weights.append(weight)

  def replace(self, index: int, name: str, matrices, center: bool = False) -> None:
    """The view at index gets another name and matrices (its weight stays)."""
    self.names[index] = name
    self.matrices[index] = tuple(map(fusion.center_rows, matrices)) if center else matrices

  def copy(self) -> ViewSet:
    return ViewSet(list(self.names), list(self.matrices), list(self.weights))

  def fuse(self, edges, hop_weights) -> tuple[np.ndarray, np.ndarray]:
    w = np.asarray(self.weights) / np.sum(self.weights)
    return tuple(fusion.fuse([m[k] for m in self.matrices], edges[k], w, hop_weights) for k in (0, 1))


@dataclasses.dataclass(frozen=True)
class AlignerResult:
  """report: the JSON-able results (stages, final, views, timings; each round's trainer
  results nested in its stage); task and decoded: the final all-entity decoding; decided:
  its (confidence [n1], match [n1])."""

  report: dict
  task: AlignmentTask
  decoded: decoding.Decoded
  decided: tuple[np.ndarray, np.ndarray]


def trainer_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The SelfMEA trainer's config for the self-training rounds: the run's config with the
  overrides of align.trainer (the one place they live), seeded by the decoded alignment,
  ranking by cosine in its own epoch reports (the aligner decodes)."""
  spec = views.parse_view(config.align.trainer.name_view)
  cfg = copy.deepcopy(config)
  with cfg.unlocked():
    cfg.pipeline = "trainer"
    cfg.data.name_encoder, cfg.data.name_source = spec.encoder, spec.source
    cfg.train.num_epochs = config.align.trainer.num_epochs
    cfg.train.nca_weight = config.align.trainer.nca_weight
    cfg.train.initial_seeds = "given"
    cfg.train.iterative = True
    cfg.decoding.scoring, cfg.decoding.assignment = "cosine", "greedy"
    cfg.decoding.consistency_rounds = 0
  return cfg


def load_views(config: ml_collections.ConfigDict, dataset: Dataset) -> tuple[ViewSet, dict]:
  """(the configured name views with their weights, {view name: raw matrices}), each view
  loaded (or encoded and cached) once; a view that does not apply to these KGs
  (views.applies) is left out with its weight."""
  cfg = config.align
  specs = [views.parse_view(v) for v in cfg.views]
  weights = fusion.normalised_weights(cfg.view_weights, len(specs), "align.view_weights")
  view_set, raw = ViewSet([], [], []), {}
  for spec, weight in zip(specs, weights):
    if not views.applies(dataset.task, spec):
      logging.info("view %s left out: neither KG's names are read as Chinese", spec.name)
      continue
    raw[spec.name] = _view(config, dataset, spec)
    view_set.add(spec.name, raw[spec.name], weight, cfg.center_views)
  return view_set, raw


def _view(config: ml_collections.ConfigDict, dataset: Dataset, spec: views.ViewSpec):
  return views.view_matrices(
    dataset.task,
    spec,
    config.data.cache_dir,
    config.seed,
    config.align.literal_dim,
    dataset.given_names,
    name_encoder_kwargs(config, spec.encoder),
    _tuned_layers(config, spec),
  )


def _tuned_layers(config: ml_collections.ConfigDict, spec: views.ViewSpec) -> int:
  """The e5 layers that each round fine-tunes on this view's names (0: none), so that the
  view is encoded through the frozen layers' cached states (align/finetuned_view.py)."""
  tuning = config.align.finetune
  tuned = tuning.enabled and spec.encoder == "e5jax" and spec.source == tuning.source
  return tuning.train_layers if tuned else 0


def _stage(report: dict, name: str, results: dict, seconds: float) -> None:
  report["stages"].append({"stage": name, "seconds": seconds, **results})
  logging.info(
    "stage %-28s %s (%.1fs)",
    name,
    " ".join(f"{k}={v:.4f}" for k, v in sorted(results.items()) if isinstance(v, float)),
    seconds,
  )


# keys that never change what a round trains: what decides (the confidence's calibration,
# the match threshold) and where features and weights are kept (their files are the same)
NOT_TRAINED_KEYS = tuple(
  f"config.{k}"
  for k in ("decoding.calibration", "decoding.match_threshold", "data.cache_dir", "data.weights_dir")
)


def _check_fingerprint(workdir: str, fingerprint: dict) -> None:
  """A round resumes from its checkpoints: refuse if they were made from other pseudo-seeds
  or another config (a silent mix would report a model trained on other data); the
  NOT_TRAINED_KEYS may differ."""
  run_config.check_or_save_json(
    os.path.join(workdir, "fingerprint.json"),
    fingerprint,
    "this self-training round was started from other pseudo-seeds or another config",
    ignored_prefixes=NOT_TRAINED_KEYS,
  )


def trainer_fingerprint(trainer_cfg: ml_collections.ConfigDict, seeds: np.ndarray) -> dict:
  """What a round's trainer depends on: its pseudo-seeds and its config, less the aligner's
  own keys (align.*: the views, the rounds, the fine-tuning; the trainer reads its overrides
  from trainer_config's copy) and the workdir, so that changing those resumes the round."""
  config = json.loads(trainer_cfg.to_json())
  return {
    "seeds_sha256": pseudo_seeds.seeds_digest(seeds),
    "config": {k: v for k, v in config.items() if k not in ("align", "workdir")},
  }


def round_workdir(workdir: str, round_index: int) -> str:
  return os.path.join(workdir, f"self_training_{round_index}")


def _require_round(workdir: str, round_index: int) -> None:
  directory = os.path.join(round_workdir(workdir, round_index), "checkpoints")
  if not os.path.isdir(directory):
    raise InputError(f"no trained self-training round {round_index}: run --mode=train first", directory)


def trained_view(
  trainer_cfg: ml_collections.ConfigDict, inputs, task, seeds: np.ndarray, workdir: str, mode: str
) -> tuple[tuple[np.ndarray, np.ndarray], dict]:
  """One round's trained encoder embeddings ([n1, E], [n2, E]) and its results: fitted on
  `seeds` (mode train, resuming), or restored from the round's checkpoint (eval / export)."""
  if mode == "train":
    _check_fingerprint(workdir, trainer_fingerprint(trainer_cfg, seeds))
    outcome = loop.fit(trainer_cfg, workdir, task, inputs, given_seeds=seeds, standalone=False)
    return outcome.embeddings(trainer_cfg), outcome.results
  model, params, meta = restore_best(trainer_cfg, workdir, inputs)
  return encode_pair(trainer_cfg, model, params, inputs), {"best_epoch": meta["best_epoch"]}


def stage_signal(decoded: decoding.Decoded, decoder: decoding.Decoder, adjacencies) -> float:
  """The label-free signal that keeps a stage: the mean confidence of the decoded pairs over
  all KG1 entities (an unmatched entity counts 0), i.e. the expected share of KG1 entities
  whose decoded partner is right. A self-training round is kept only if it raises it."""
  return float(np.mean(confidences(decoded, decoder, adjacencies)))


def align(
  config: ml_collections.ConfigDict, workdir: str, mode: str = "train", dataset: Dataset | None = None
) -> AlignerResult:
  """Runs every stage (mode train) or decodes again from the workdir (eval, export).
  dataset: the already loaded data (default: load config.data)."""
  if mode not in MODES:
    raise InputError(f"unknown mode {mode!r}; choose one of {MODES}")
  cfg = config.align
  if mode != "train" and cfg.self_training_rounds and cfg.trained_view_weight > 0:
    _require_round(workdir, 1)  # decode again from what the workdir stores
  started = time.time()
  timings, report = {}, {"pipeline": "aligner", "mode": mode, "stages": []}
  t = time.time()
  dataset = dataset or load(config)
  task = dataset.task
  timings["load_s"] = time.time() - t
  logging.info("%s", task.describe())
  if not len(task.test_links) and not len(task.valid_links):
    logging.info("no gold links: nothing will be evaluated; the alignment is decoded and exported")
  t = time.time()
  view_set, raw_views = load_views(config, dataset)
  timings["views_s"] = time.time() - t
  for source in TRANSLATED_SOURCES:
    missing = views.missing_translations(task, source)
    if missing is not None and any(v.endswith(f":{source}") for v in cfg.views):
      report["missing_translations" if source == "translated" else f"missing_{source}"] = list(missing)
  kgs = (task.kg1, task.kg2)
  edges = [normalised_edges(kg.num_entities, kg.triples) for kg in kgs]
  adjacencies = consistency.adjacencies(task)
  hop_weights = fusion.normalised_weights(cfg.hop_weights, len(cfg.hop_weights), "align.hop_weights")
  plan = DecodingPlan.from_config(config.decoding)
  t = time.time()
  fused = view_set.fuse(edges, hop_weights)
  timings["fuse_s"] = time.time() - t
  step_times = {}
  results, full = decode_conventions(*fused, task.test_links, task.valid_links, plan, adjacencies, step_times)
  timings.update({f"round0/{k}": v for k, v in step_times.items()})
  kept_signal = stage_signal(full, plan.decoder, adjacencies)
  _stage(
    report, "+".join(view_set.names), {**results, "signal/expected_precision": kept_signal}, time.time() - t
  )
  report["stages"][-1]["kept"] = True
  final = report["stages"][-1]
  trainer_cfg, inputs = trainer_config(config), None
  train_view = views.parse_view(cfg.trainer.name_view)
  name_views = view_set.copy()  # round 0's views: each round adds its own learned views to these
  for round_index in range(1, cfg.self_training_rounds + 1):
    t = time.time()
    seeds = decoding.confident_pairs(full, cfg.trainer.seed_fraction)
    info = {"seeds/count": len(seeds)}
    known = pseudo_seeds.gold_precision(seeds, task)
    if known is not None:
      info["seeds/precision"] = known  # reporting only
    logging.info(
      "round %d: %d pseudo-seeds from the decoded alignment (precision against gold %s, reporting only)",
      round_index,
      len(seeds),
      "unknown: no gold links" if known is None else f"{known:.3f}",
    )
    kept_views = view_set.copy()
    # the round's learned views replace the last round's: kept, they would outweigh the names
    # (ja_en's validation pool, round 2: .9724 replaced, .9673 kept; BUILD_NOTES issue 17)
    view_set = name_views.copy()
    base_weight = np.mean(name_views.weights)
    train_results = {}
    if cfg.trained_view_weight > 0:  # the SelfMEA trainer's view
      started_part = time.time()
      if mode != "train":
        _require_round(workdir, round_index)
      if inputs is None:  # built once: the trainer's name input is one of the loaded views
        names = raw_views.get(train_view.name) or _view(config, dataset, train_view)
        inputs = input_pipeline.build_inputs(trainer_cfg, dataset, names)
      trained, train_results = trained_view(
        trainer_cfg, inputs, task, seeds, round_workdir(workdir, round_index), mode
      )
      view_set.add(f"trained{round_index}", trained, cfg.trained_view_weight * base_weight, cfg.center_views)
      info["trainer/best_epoch"] = train_results["best_epoch"]
      timings[f"round{round_index}/trainer_s"] = time.time() - started_part
    if cfg.finetune.enabled:  # the name encoder fine-tuned on the same pseudo-seeds
      started_part = time.time()
      tuned, tune_results = finetuned_view(
        config, task, seeds, os.path.join(round_workdir(workdir, round_index), "name_finetune"), mode
      )
      timings[f"round{round_index}/finetune_s"] = time.time() - started_part  # + encoding both KGs
      info.update({f"finetune/{k}": v for k, v in tune_results.items() if isinstance(v, int | float)})
      # replace_view '' (the default) or a view left out (views.applies): the tuned view joins
      if cfg.finetune.replace_view in name_views.names:
        view_set.replace(
          name_views.names.index(cfg.finetune.replace_view), f"e5ft{round_index}", tuned, cfg.center_views
        )
      else:
        view_set.add(f"e5ft{round_index}", tuned, base_weight, cfg.center_views)
    timings[f"round{round_index}/train_s"] = time.time() - t
    fused = view_set.fuse(edges, hop_weights)
    step_times = {}
    results, decoded = decode_conventions(
      *fused, task.test_links, task.valid_links, plan, adjacencies, step_times
    )
    timings.update({f"round{round_index}/{k}": v for k, v in step_times.items()})
    info["signal/expected_precision"] = signal = stage_signal(decoded, plan.decoder, adjacencies)
    _stage(report, f"+ self-training round {round_index}", {**results, **info}, time.time() - t)
    report["stages"][-1].update(trainer=train_results, kept=signal > kept_signal)
    if signal > kept_signal:
      full, kept_signal, final = decoded, signal, report["stages"][-1]
    else:  # set aside; a next round would train again on the same pseudo-seeds: stop here
      view_set = kept_views
      logging.info(
        "round %d not kept: expected precision %.4f <= %.4f of the kept stage (label-free); "
        "no further rounds",
        round_index,
        signal,
        kept_signal,
      )
      break
  report["final"] = {k: v for k, v in final.items() if k != "trainer"}
  threshold = config.decoding.match_threshold
  decided = decisions(full, plan.decoder, threshold, adjacencies)  # (confidence, match): report and review
  report["decisions"] = decision_report(full, *decided, task.test_links, task.dangling1)
  report["views"] = view_set.names
  report["view_weights"] = [float(w / np.sum(view_set.weights)) for w in view_set.weights]
  timings["total_s"] = time.time() - started
  report["timings"] = timings
  os.makedirs(workdir, exist_ok=True)
  if mode == "train":
    files.write_json(os.path.join(workdir, "results.json"), report)
  if mode in ("train", "export"):
    path = os.path.join(workdir, "alignment.tsv")
    report["alignment"] = write_alignment(task, full, path, decided)
    gold = np.concatenate([task.valid_links, task.test_links]).reshape(-1, 2)
    report["review"] = write_review(
      os.path.join(workdir, "review.html"),
      task,
      full,
      *decided,
      adjacencies,
      gold,
    )
  return AlignerResult(report, task, full, decided)
