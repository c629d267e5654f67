"""Decode a KG pair's embeddings under both evaluation conventions and score the decodings.

  test/*        sources = test KG1 entities, candidates = test KG2 entities (decoded among them);
  all/*         every KG1 entity decoded against every KG2 entity, scored on the test links;
  valid/all/*   the same decoding scored on the validation pool (model selection only).
Each prefix carries rank metrics under the decoder's scores (h1, h10, mrr) and the 1-to-1
decoded alignment's `decoded_accuracy` (matching/metrics.py). With consistency rounds, each
decoding is refined by the neighbour support of its own confident pairs.
"""

from __future__ import annotations

import dataclasses
import time

import ml_collections
import numpy as np

from selfmea_jax.matching import consistency, decoding, metrics
from selfmea_jax.matching.metrics import CONVENTIONS


@dataclasses.dataclass(frozen=True)
class DecodingPlan:
  """The config's `decoding` section: search, decoder and neighbour-consistency refinement."""

  decoder: decoding.Decoder
  candidates_k: int = 50
  search: str = "auto"
  search_target_recall: float = 0.99
  consistency_weight: float = 0.0
  consistency_rounds: int = 0
  conventions: tuple[str, ...] = CONVENTIONS

  @classmethod
  def from_config(cls, decoding_config: ml_collections.ConfigDict) -> DecodingPlan:
    names = [f.name for f in dataclasses.fields(cls) if f.name != "decoder"]
    values = {name: decoding_config[name] for name in names}
    values["conventions"] = tuple(values["conventions"])
    return cls(decoding.Decoder.from_config(decoding_config), **values)

  def decode(self, emb1: np.ndarray, emb2: np.ndarray) -> decoding.Decoded:
    return decoding.decode(
      emb1, emb2, self.decoder, self.candidates_k, self.search, self.search_target_recall
    )


def _refined(plan: DecodingPlan, decoded, adjacencies, pairs=None, links=None) -> decoding.Decoded:
  """plan.consistency_rounds of refinement; `pairs` (KG-wide) seed the first round, else the
  decoding's own confident pairs. links: the test links when the graph covers them only."""
  base = decoded.graph
  rows, cols = (None, None) if links is None else (links[:, 0], links[:, 1])
  for _ in range(plan.consistency_rounds):
    if pairs is None:
      pairs = decoding.confident_pairs(decoded)
      if links is not None:  # positions in the test links -> KG entity indices
        pairs = np.stack([links[pairs[:, 0], 0], links[pairs[:, 1], 1]], axis=1)
    decoded = consistency.refine(base, pairs, adjacencies, plan.decoder, plan.consistency_weight, rows, cols)
    pairs = None
  return decoded


def decode_all(emb1: np.ndarray, emb2: np.ndarray, plan: DecodingPlan, adjacencies=None) -> decoding.Decoded:
  """Every KG1 entity decoded against every KG2 entity (refined when the plan says so)."""
  return _refined(plan, plan.decode(emb1, emb2), adjacencies)


def decode_conventions(
  emb1: np.ndarray,
  emb2: np.ndarray,
  test_links: np.ndarray,
  valid_links: np.ndarray,
  plan: DecodingPlan,
  adjacencies=None,
  timings: dict | None = None,
) -> tuple[dict[str, float], decoding.Decoded]:
  """emb1 [n1, E], emb2 [n2, E] unit rows; links [*, 2]. Returns (metrics, the all-entity
  decoding). adjacencies: both KGs' 0/1 adjacency (needed with consistency rounds)."""
  timings = {} if timings is None else timings
  results = {}
  t = time.time()
  full = decode_all(emb1, emb2, plan, adjacencies)
  timings["decode_all_s"] = time.time() - t
  if "test" in plan.conventions and len(test_links):
    t = time.time()
    test = plan.decode(emb1[test_links[:, 0]], emb2[test_links[:, 1]])
    test = _refined(plan, test, adjacencies, decoding.confident_pairs(full), test_links)
    local = np.stack([np.arange(len(test_links))] * 2, axis=1)
    results.update(decoding.decoding_metrics(test, local, "test/"))
    timings["decode_test_s"] = time.time() - t
  if "all" in plan.conventions and len(test_links):
    results.update(decoding.decoding_metrics(full, test_links, "all/"))
  if len(valid_links):
    results.update(decoding.decoding_metrics(full, valid_links, "valid/all/"))
  return results, full


def decision_report(
  decoded: decoding.Decoded,
  probability: np.ndarray,
  match: np.ndarray,
  links: np.ndarray,
  dangling: np.ndarray,
) -> dict:
  """How the all-entity decoding's confidences and decisions ([num_rows] each, from
  matching/confidence.decisions) fare on the gold: links [q, 2] (sources with a counterpart) and dangling [d]
  (sources without). calibration/ece: expected calibration error of the confidence as the
  probability that the decoded partner is the gold one, on the linked sources, and
  calibration/reliability its diagram [(mean confidence, accuracy, count)]; coverage/*:
  precision of the most confident share of all these decisions (a matched dangling source is
  wrong); end_to_end/* and detection/* (matching/metrics.abstention_metrics)."""
  if not len(links):
    return {}
  correct = decoded.assignment[links[:, 0]] == links[:, 1]
  sources = np.concatenate([links[:, 0], dangling]).astype(np.int64)
  right = np.concatenate([correct, np.zeros(len(dangling), bool)])
  return {
    "calibration/ece": metrics.expected_calibration_error(probability[links[:, 0]], correct),
    "calibration/reliability": metrics.reliability(probability[links[:, 0]], correct),
    **metrics.precision_at_coverage(probability[sources], right),
    **metrics.abstention_metrics(decoded.assignment, match, links, np.asarray(dangling, np.int64)),
  }
