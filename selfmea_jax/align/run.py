"""The label-free aligner: name views -> multi-hop fusion -> candidate graph -> decoding,
then self-training rounds (decoded pseudo-seeds -> SelfMEA trainer -> one more view).

Each stage is timed; every decoding is reported under both conventions:
  test/*        sources = test KG1 entities, candidates = test KG2 entities (decoded among them);
  all/*         every KG1 entity decoded against every KG2 entity; scored on the test links
                (the SelfKG/SelfMEA papers' convention);
  valid/all/*   the same decoding scored on the validation pool (for model selection only).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import time

from absl import logging
import numpy as np

from selfmea_jax import input_pipeline, run_config
from selfmea_jax.align import candidates, consistency, decoding, fusion, views
from selfmea_jax.align.propagation import normalised_edges
from selfmea_jax.data.kg import AlignmentTask
from selfmea_jax.data.synthetic import SyntheticSpec, make_synthetic_pair
from selfmea_jax.errors import InputError
from selfmea_jax.features import text_encoders
from selfmea_jax.features.names import name_encoder_kwargs
from selfmea_jax.train import pseudo_seeds


@dataclasses.dataclass
class Decoded:
  """One decoding of KG1 x KG2: the candidate graph (its scores may include the neighbour
  support), the decoder's entry scores [e], the assignment [n1] and the plain cosines [e]."""

  graph: candidates.CandidateGraph
  scores: np.ndarray
  assignment: np.ndarray
  cosine: np.ndarray


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

  def fuse(self, edges, hop_weights) -> tuple[np.ndarray, np.ndarray]:
    w = np.asarray(self.weights) / np.sum(self.weights)
    return tuple(fusion.fuse([m[k] for m in self.matrices], edges[k], w, hop_weights) for k in (0, 1))


def load_task(config) -> tuple[AlignmentTask, tuple[np.ndarray, np.ndarray] | None]:
  """(task, the dataset's own name vectors or None)."""
  if config.data.kind == "synthetic":
    pair = make_synthetic_pair(SyntheticSpec(**config.data.synthetic.to_dict()), seed=config.seed)
    return pair.task, pair.name_features
  if config.data.kind in input_pipeline.REAL_KINDS:
    return input_pipeline.load_real_task(config), None
  raise InputError(f"unknown data.kind {config.data.kind!r}; choose 'synthetic', 'dbp15k' or 'openea'")


def decode_graph(graph: candidates.CandidateGraph, cfg) -> Decoded:
  """Scores under cfg.scoring and the assignment of one candidate graph. Hungarian on a
  Sinkhorn plan maximises the transported mass (sum of plan probabilities): a row stays
  unmatched rather than take a pair of no mass."""
  scores = decoding.rescore(graph, cfg.scoring, cfg.csls_k, cfg.sinkhorn_temperature, cfg.sinkhorn_iterations)
  if cfg.assignment == "hungarian" and cfg.scoring == "sinkhorn":
    assignment = decoding.hungarian(graph, np.exp(scores), min_score=0.0)
  else:
    assignment = decoding.assign(graph, scores, cfg.assignment)
  return Decoded(graph, scores, assignment, graph.scores)


def decode(emb1: np.ndarray, emb2: np.ndarray, cfg) -> Decoded:
  """[n1, E], [n2, E] unit rows -> candidate graph, scores under cfg.scoring, assignment."""
  graph = candidates.candidate_graph(emb1, emb2, cfg.candidates_k, cfg.search, cfg.search_target_recall)
  return decode_graph(graph, cfg)


def refine(
  base: candidates.CandidateGraph, pairs: np.ndarray, adjacencies, cfg, row_ids=None, col_ids=None
) -> Decoded:
  """Re-decodes with cosine + consistency_weight * neighbour support of `pairs`."""
  support = consistency.neighbour_support(base, pairs, *adjacencies, row_ids, col_ids)
  graph = dataclasses.replace(base, scores=base.scores + cfg.consistency_weight * support)
  return dataclasses.replace(decode_graph(graph, cfg), cosine=base.scores)


def _metrics(decoded: Decoded, links: np.ndarray, prefix: str) -> dict:
  ranks = decoding.link_ranks(decoded.graph, decoded.scores, links)
  return {f"{prefix}{k}": v for k, v in decoding.alignment_metrics(ranks, decoded.assignment, links).items()}


def evaluate_fused(task: AlignmentTask, fused, cfg, timings: dict, tag: str, adjacencies):
  """Decodes under the requested conventions (with cfg.consistency_rounds of neighbour-
  consistency refinement); returns (metrics, the all-entity decoding)."""
  results = {}
  t = time.time()
  full = decode(fused[0], fused[1], cfg)
  base = full.graph
  for _ in range(cfg.consistency_rounds):
    full = refine(base, confident_pairs(full, 1.0), adjacencies, cfg)
  timings[f"{tag}/decode_all_s"] = time.time() - t
  if "test" in cfg.conventions and len(task.test_links):
    t = time.time()
    links = task.test_links
    local = np.stack([np.arange(len(links))] * 2, axis=1)
    test = decode(fused[0][links[:, 0]], fused[1][links[:, 1]], cfg)
    test_base, pairs = test.graph, confident_pairs(full, 1.0)
    for _ in range(cfg.consistency_rounds):
      test = refine(test_base, pairs, adjacencies, cfg, links[:, 0], links[:, 1])
      pairs = _to_kg_pairs(confident_pairs(test, 1.0), links)
    results.update(_metrics(test, local, "test/"))
    timings[f"{tag}/decode_test_s"] = time.time() - t
  if "all" in cfg.conventions and len(task.test_links):
    results.update(_metrics(full, task.test_links, "all/"))
  if len(task.valid_links):
    results.update(_metrics(full, task.valid_links, "valid/all/"))
  return results, full


def _to_kg_pairs(pairs: np.ndarray, links: np.ndarray) -> np.ndarray:
  """Pairs of positions in the test links -> pairs of KG entity indices."""
  return np.stack([links[pairs[:, 0], 0], links[pairs[:, 1], 1]], axis=1)


def confident_pairs(decoded: Decoded, keep_fraction: float) -> np.ndarray:
  """[p, 2] decoded pairs that are also mutual best under the candidate scores (the cosine,
  plus the neighbour support when refined), most confident first (largest gap between the
  row's best and second-best cosine)."""
  graph = decoded.graph
  row_best, col_best = decoding.mutual_best(graph, graph.scores)
  left = np.flatnonzero(decoded.assignment >= 0)
  right = decoded.assignment[left]
  mutual = (row_best[left] == right) & (col_best[right] == left)
  left, right = left[mutual], right[mutual]
  order = np.argsort(-graph.row_margins[left], kind="stable")[: int(np.ceil(keep_fraction * len(left)))]
  return np.stack([left[order], right[order]], axis=1).astype(np.int32)


def trainer_config(config, round_index: int, workdir: str):
  """The SelfMEA trainer's config for one self-training round."""
  cfg = copy.deepcopy(config)
  spec = views.parse_view(config.align.train_view)
  expected = ("given",) if config.data.kind == "synthetic" else tuple(text_encoders.ENCODERS)
  if spec.encoder not in expected:
    raise InputError(
      f"align.train_view {spec.name!r}: the trainer reads a cached name encoder "
      f"view; choose one with encoder in {expected}"
    )
  with cfg.unlocked():
    if config.data.kind in input_pipeline.REAL_KINDS:
      cfg.data.name_encoder, cfg.data.name_source = spec.encoder, spec.source
    cfg.train.num_epochs = config.align.train_epochs
    cfg.train.nca_weight = config.align.train_nca_weight
    cfg.train.initial_seeds = "given"
    cfg.train.iterative = True
    cfg.workdir = os.path.join(workdir, f"self_training_{round_index}")
  return cfg


def _check_fingerprint(workdir: str, fingerprint: dict) -> None:
  """The trainer resumes from workdir's checkpoints: refuse if they were made from other
  pseudo-seeds or another config (a silent mix would report a model trained on other data)."""
  run_config.check_or_save_json(
    os.path.join(workdir, "fingerprint.json"),
    fingerprint,
    "this self-training round was started from other pseudo-seeds or another config",
  )


def self_training_view(config, seeds: np.ndarray, round_index: int, workdir: str):
  """Trains SelfMEA on the given pseudo-seeds; returns the trained encoder's embeddings of
  both KGs ([n1, E], [n2, E]) and the trainer's results."""
  from selfmea_jax.train import loop  # pylint: disable=import-outside-toplevel

  cfg = trainer_config(config, round_index, workdir)
  _check_fingerprint(
    cfg.workdir,
    {"seeds_sha256": hashlib.sha256(seeds.tobytes()).hexdigest(), "config": json.loads(cfg.to_json())},
  )
  outcome = loop.train(cfg, cfg.workdir, given_seeds=seeds)
  return outcome.embeddings(cfg), outcome.results


def _stage(report: dict, name: str, results: dict, seconds: float) -> None:
  report["stages"].append({"stage": name, "seconds": seconds, **results})
  logging.info(
    "stage %-28s %s (%.1fs)",
    name,
    " ".join(f"{k}={v:.4f}" for k, v in sorted(results.items()) if isinstance(v, float)),
    seconds,
  )


def load_views(config, task, given) -> ViewSet:
  """The configured name views of both KGs, with their weights."""
  cfg = config.align
  specs = [views.parse_view(v) for v in cfg.views]
  weights = fusion.normalised_weights(cfg.view_weights, len(specs), "align.view_weights")
  view_set = ViewSet([], [], [])
  for spec, weight in zip(specs, weights):
    matrices = views.view_matrices(
      task,
      spec,
      config.data.cache_dir,
      config.seed,
      cfg.literal_dim,
      given,
      name_encoder_kwargs(config, spec.encoder),
    )
    view_set.add(spec.name, matrices, weight, cfg.center_views)
  return view_set


def self_training_round(config, task, decoded: Decoded, round_index: int, workdir: str):
  """Pseudo-seeds from `decoded` -> trainer -> ((emb1, emb2) trained view, stage info)."""
  seeds = confident_pairs(decoded, config.align.seed_keep_fraction)
  info = {"seeds/count": len(seeds)}
  known = pseudo_seeds.gold_precision(seeds, task)
  if known is not None:
    info["seeds/precision"] = known
  logging.info(
    "round %d: %d pseudo-seeds from the decoded alignment (precision against gold %s, reporting only)",
    round_index,
    len(seeds),
    "unknown: no gold links" if known is None else f"{known:.3f}",
  )
  trained, train_results = self_training_view(config, seeds, round_index, workdir)
  info["trainer/best_epoch"] = train_results["best_epoch"]
  return trained, info


def align(config, workdir: str | None = None) -> dict:
  """Runs every stage; returns {'stages': [...], 'final': metrics, 'timings': {...}, ...}
  (keys starting with '_' hold in-memory objects: the task, final decoding and embeddings)."""
  cfg = config.align
  started = time.time()
  timings, report = {}, {"stages": []}
  t = time.time()
  task, given = load_task(config)
  timings["load_s"] = time.time() - t
  logging.info("%s", task.describe())
  if not len(task.test_links) and not len(task.valid_links):
    logging.info("no gold links: nothing will be evaluated; the alignment is decoded and exported")
  t = time.time()
  view_set = load_views(config, task, given)
  timings["views_s"] = time.time() - t
  missing = views.missing_translations(task)
  if missing is not None and any(v.endswith(":translated") for v in cfg.views):
    report["missing_translations"] = list(missing)
  kgs = (task.kg1, task.kg2)
  edges = [normalised_edges(kg.num_entities, kg.triples) for kg in kgs]
  adjacencies = [consistency.adjacency(kg.num_entities, kg.triples) for kg in kgs]
  hop_weights = fusion.normalised_weights(cfg.hop_weights, len(cfg.hop_weights), "align.hop_weights")
  t = time.time()
  fused = view_set.fuse(edges, hop_weights)
  timings["fuse_s"] = time.time() - t
  results, full = evaluate_fused(task, fused, cfg, timings, "round0", adjacencies)
  _stage(report, "+".join(view_set.names), results, time.time() - t)
  for round_index in range(1, cfg.self_training_rounds + 1):
    t = time.time()
    trained, info = self_training_round(config, task, full, round_index, workdir or config.workdir)
    timings[f"round{round_index}/train_s"] = time.time() - t
    base_weight = np.mean(view_set.weights[: len(cfg.views)])
    view_set.add(f"trained{round_index}", trained, cfg.trained_view_weight * base_weight, cfg.center_views)
    fused = view_set.fuse(edges, hop_weights)
    results, full = evaluate_fused(task, fused, cfg, timings, f"round{round_index}", adjacencies)
    _stage(report, f"+ self-training round {round_index}", {**results, **info}, time.time() - t)
  report["final"] = report["stages"][-1]
  report["views"] = view_set.names
  report["view_weights"] = [float(w / np.sum(view_set.weights)) for w in view_set.weights]
  timings["total_s"] = time.time() - started
  report["timings"] = timings
  if workdir:
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "results.json"), "w", encoding="utf-8") as f:
      json.dump(report, f, indent=1)
    report["alignment"] = write_alignment(task, full, os.path.join(workdir, "alignment.tsv"))
  report["_decoded"], report["_task"], report["_fused"] = full, task, fused
  return report


def write_alignment(task: AlignmentTask, decoded: Decoded, path: str) -> str:
  """TSV, one row per KG1 entity: ids and names of both sides, cosine, rank-1 margin (best
  minus second-best cosine of the row), and whether the pair is also mutual best under the
  candidate scores (unmatched rows: empty KG2 side)."""
  graph = decoded.graph
  cosine = dict(zip(graph.rows.astype(np.int64) * graph.num_cols + graph.cols, decoded.cosine))
  confident = {tuple(p) for p in confident_pairs(decoded, 1.0).tolist()}
  with open(path, "w", encoding="utf-8") as f:
    f.write("kg1_id\tkg1_name\tkg2_id\tkg2_name\tcosine\tmargin\tmutual\n")
    for i, (j, margin) in enumerate(zip(decoded.assignment.tolist(), graph.row_margins.tolist())):
      if j < 0:
        f.write(f"{task.kg1.uris[i]}\t{task.kg1.names[i]}\t\t\t\t{margin:.6f}\t0\n")
        continue
      f.write(
        f"{task.kg1.uris[i]}\t{task.kg1.names[i]}\t{task.kg2.uris[j]}\t{task.kg2.names[j]}\t"
        f"{cosine[i * graph.num_cols + j]:.6f}\t{margin:.6f}\t{int((i, j) in confident)}\n"
      )
  return path
