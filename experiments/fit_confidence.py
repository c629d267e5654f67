"""Fits the confidence calibration on one pair's validation pools (issue 16).

Runs the aligner (resuming under --runs/<name>) on each spec: a benchmark of entities
without a counterpart and the complete pair, all of one DBP15K pair. Takes each final
decoding's pair features (matching/confidence.py) on its validation pool only (the
validation links and the validation share of the dangling entities), pools them, fits the
logistic calibration (and, to compare, the three-feature form without the neighbour support),
and prints how the raw and the fitted confidences decide on each spec's validation pool and
test links. Pooling a benchmark with dangling sources and the complete pair puts the fit
between the two priors: fitted where a sixth of the sources have no counterpart alone, the
confidence is under-confident on complete pairs. The fitted
(weights..., bias) become `decoding.calibration` in configs/dbp15k.py, unchanged for every
pair.

  python -m experiments.fit_confidence runs/bench/ja_en_d30 dbp15k:ja_en --runs=runs/abstention3

--translated fits the translated setting's calibration (runs under --runs/<name>_translated).
"""

from __future__ import annotations

import argparse
import dataclasses
import os

import numpy as np

from experiments.abstention import cell, config_for, run_name
from experiments.common import markdown_table, save_json
from selfmea_jax.align import run
from selfmea_jax.matching import confidence, consistency, decoding, metrics
from selfmea_jax.matching.conventions import decision_report


def pool(task, assignment: np.ndarray, valid: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
  """(links, dangling sources, sources [q + d], correct [q + d]) of one pool."""
  links = task.valid_links if valid else task.test_links
  dangling = task.valid_dangling1 if valid else task.dangling1
  sources = np.concatenate([links[:, 0], dangling]).astype(np.int64)
  correct = np.concatenate([assignment[links[:, 0]] == links[:, 1], np.zeros(len(dangling), bool)])
  return links, dangling, sources, correct


def measures(decoded, decoder, task, valid: bool, threshold: float, adjacencies) -> dict[str, float]:
  """The aligner's decision report (matching/conventions.decision_report) on one pool, and
  the ECE over all its sources (a dangling source's decoded pair is wrong)."""
  probability, match = confidence.decisions(decoded, decoder, threshold, adjacencies)
  links, dangling, sources, correct = pool(task, decoded.assignment, valid)
  out = decision_report(decoded, probability, match, links, dangling)
  out["ece/all"] = metrics.expected_calibration_error(probability[sources], correct)
  return out


def fitted_rows(decoded, raw, task, adjacencies) -> tuple[np.ndarray, np.ndarray]:
  """(features [m, F], correct [m]) of the validation pool's sources with a decoded pair."""
  features, rows = confidence.pair_features(decoded, raw, adjacencies)
  _, _, sources, correct = pool(task, decoded.assignment, valid=True)
  at = np.full(decoded.graph.num_rows, -1)
  at[rows] = np.arange(len(rows))
  chosen = at[sources] >= 0
  return features[at[sources][chosen]], correct[chosen]


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("specs", nargs="+", help="benchmark folders or dbp15k:<pair>, all of one pair")
  parser.add_argument("--runs", default="runs/abstention")
  parser.add_argument("--cache_dir", default="cache")
  parser.add_argument("--out", default="experiments/results/fit_confidence.json")
  parser.add_argument("--translated", action="store_true", help="the machine-translated name setting")
  args = parser.parse_args()
  fits = []  # (spec, task, final decoding, its decoder without calibration)
  for spec in args.specs:
    config = config_for(spec, args.cache_dir, args.translated)
    config.decoding.calibration = ()
    result = run.align(config, os.path.join(args.runs, run_name(spec, args.translated)))
    raw = decoding.Decoder.from_config(config.decoding)
    fits.append((spec, result.task, result.decoded, raw, consistency.adjacencies(result.task)))
  pooled = [fitted_rows(decoded, raw, task, adjacencies) for _, task, decoded, raw, adjacencies in fits]
  features, correct = np.concatenate([f for f, _ in pooled]), np.concatenate([c for _, c in pooled])
  calibration = confidence.fit(features, correct)
  without_support = confidence.fit(features[:, :-1], correct)  # the three-feature form, to compare
  threshold = config.decoding.match_threshold
  table, out = [], {"specs": args.specs, "calibration": calibration, "features": confidence.FEATURES}
  out["calibration_without_support"] = without_support
  for spec, task, decoded, raw, adjacencies in fits:
    for name, decoder in (
      ("decoder probability", raw),
      ("calibrated, 3 features", dataclasses.replace(raw, calibration=without_support)),
      ("calibrated", dataclasses.replace(raw, calibration=calibration)),
    ):
      for pool_name in ("valid", "test"):
        m = measures(decoded, decoder, task, pool_name == "valid", threshold, adjacencies)
        out[f"{run_name(spec, args.translated)}/{name}/{pool_name}"] = m
        table.append(
          [run_name(spec, args.translated), name, pool_name]
          + [cell(m, f"end_to_end/{k}") for k in ("precision", "recall", "f1")]
          + [cell(m, f"detection/{k}") for k in ("precision", "recall", "f1")]
          + [cell(m, "calibration/ece"), cell(m, "ece/all")]
        )
  print(
    "calibration (weights of", ", ".join(confidence.FEATURES), "; bias):", [round(v, 4) for v in calibration]
  )
  print("without", confidence.FEATURES[-1], [round(v, 4) for v in without_support])
  columns = ["run", "confidence", "pool", "e2e P", "e2e R", "e2e F1", "det P", "det R", "det F1"]
  print(markdown_table(columns + ["ECE linked", "ECE all"], table))
  save_json(args.out, out)


if __name__ == "__main__":
  main()
