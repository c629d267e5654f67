"""Fits the confidence calibration on one pair's validation pool (issue 16).

Runs the aligner (resuming) on a benchmark of entities without a counterpart with the
decoder probability as its confidence, takes the final decoding's pair features
(matching/confidence.py) on the validation pool only (the validation links and the
validation share of the dangling entities), fits the logistic calibration, and prints how
both confidences decide on the validation pool and on the test links. The fitted
(weights..., bias) become `decoding.calibration` in configs/default.py, unchanged for every
pair.

  python -m experiments.fit_confidence --bench=runs/bench/ja_en_d30 --workdir=runs/exp/fit_ja_en_d30
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from experiments.common import markdown_table, save_json
from selfmea_jax import config_files
from selfmea_jax.align import run
from selfmea_jax.matching import confidence, decoding, metrics
from selfmea_jax.matching.conventions import decision_report


def pool(task, assignment: np.ndarray, valid: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
  """(links, dangling sources, sources [q + d], correct [q + d]) of one pool."""
  links = task.valid_links if valid else task.test_links
  dangling = task.valid_dangling1 if valid else task.dangling1
  sources = np.concatenate([links[:, 0], dangling]).astype(np.int64)
  correct = np.concatenate([assignment[links[:, 0]] == links[:, 1], np.zeros(len(dangling), bool)])
  return links, dangling, sources, correct


def measures(decoded, decoder, task, valid: bool, threshold: float) -> dict[str, float]:
  """The aligner's decision report (matching/conventions.decision_report) on one pool, and
  the ECE over all its sources (a dangling source's decoded pair is wrong)."""
  probability, match = confidence.decisions(decoded, decoder, threshold)
  links, dangling, sources, correct = pool(task, decoded.assignment, valid)
  out = decision_report(decoded, probability, match, links, dangling)
  out["ece/all"] = metrics.expected_calibration_error(probability[sources], correct)
  return out


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--bench", default="runs/bench/ja_en_d30")
  parser.add_argument("--workdir", default="runs/exp/fit_ja_en_d30")
  parser.add_argument("--cache_dir", default="cache")
  parser.add_argument("--out", default="experiments/results/fit_confidence.json")
  args = parser.parse_args()
  config = config_files.load("own_kgs", args.bench)
  config.data.cache_dir = args.cache_dir
  config.decoding.calibration = ()
  result = run.align(config, args.workdir)
  task, decoded = result.task, result.decoded
  raw = decoding.Decoder.from_config(config.decoding)
  features, rows = confidence.pair_features(decoded, raw)
  _, _, sources, correct = pool(task, decoded.assignment, valid=True)
  at = {row: k for k, row in enumerate(rows.tolist())}
  chosen = [(at[s], c) for s, c in zip(sources.tolist(), correct.tolist()) if s in at]
  calibration = confidence.fit(features[[k for k, _ in chosen]], np.array([c for _, c in chosen]))
  fitted = dataclasses.replace(raw, calibration=calibration)
  threshold = config.decoding.match_threshold
  table, out = [], {"bench": args.bench, "calibration": calibration, "features": confidence.FEATURES}
  for name, decoder in (("decoder probability", raw), ("calibrated", fitted)):
    for pool_name in ("valid", "test"):
      m = measures(decoded, decoder, task, pool_name == "valid", threshold)
      out[f"{name}/{pool_name}"] = m
      table.append(
        [name, pool_name]
        + [f"{m[k]:.3f}" for k in ("end_to_end/precision", "end_to_end/recall", "end_to_end/f1")]
        + [f"{m[k]:.3f}" for k in ("detection/precision", "detection/recall", "detection/f1")]
        + [f"{m['calibration/ece']:.3f}", f"{m['ece/all']:.3f}"]
      )
  print(
    "calibration (weights of", ", ".join(confidence.FEATURES), "; bias):", [round(v, 4) for v in calibration]
  )
  print(
    markdown_table(
      ["confidence", "pool", "e2e P", "e2e R", "e2e F1", "det P", "det R", "det F1", "ECE linked", "ECE all"],
      table,
    )
  )
  save_json(args.out, out)


if __name__ == "__main__":
  main()
