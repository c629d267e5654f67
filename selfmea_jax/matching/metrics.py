"""Alignment metrics under one rank rule, for every client (trainer, aligner, benchmarks).

Two kinds of metric, never under one name:
  h1, h10, mrr        rank-based: the gold partner's rank among the candidates under the
                      scores (cosine, CSLS or the Sinkhorn plan); h1 is rank-1 accuracy;
  decoded_accuracy    the share of sources whose 1-to-1 decoded partner (greedy or
                      Hungarian assignment) is the gold one.
Conventions: 'test' ranks / decodes each test source among the test targets only (SEU,
FGWEA, most papers); 'all' among every KG2 entity (SelfKG's own code).

Every rank follows matching/scores.py (pessimistic in ties, NaN never a hit); a gold
partner missing from a sparse candidate set ranks last.
"""

from __future__ import annotations

import jax
from jax.experimental import multihost_utils
import numpy as np

from selfmea_jax.errors import InputError
from selfmea_jax.matching import blocked
from selfmea_jax.matching.scores import beats, csls_density

CONVENTIONS = ("test", "all")
ONE_PASS_SCORINGS = ("cosine", "csls")  # exact ranks from one blocked pass; sinkhorn: candidate graph


def standard_error(values: np.ndarray) -> float:
  """The standard error of the mean of values [n] (0 with fewer than 2 values)."""
  values = np.asarray(values, np.float64)
  return float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0


def rank_metrics(ranks: np.ndarray, standard_errors: bool = False) -> dict[str, float]:
  """ranks [n] (1 = best) -> {'h1', 'h10', 'mrr'}; with standard_errors also '<metric>_se',
  the standard error of each mean (for ranks of a random sample of the queries)."""
  ranks = np.asarray(ranks, np.float64)
  per_query = {"h1": ranks <= 1, "h10": ranks <= 10, "mrr": 1.0 / ranks}
  out = {name: float(np.mean(values)) for name, values in per_query.items()}
  if standard_errors:
    out.update({f"{name}_se": standard_error(values) for name, values in per_query.items()})
  return out


def decoded_accuracy(assignment: np.ndarray, links: np.ndarray) -> float:
  """Share of links [q, 2] (source, gold) whose source is assigned its gold partner;
  assignment [num_sources], -1 = unmatched (never a hit)."""
  return float(np.mean(assignment[links[:, 0]] == links[:, 1])) if len(links) else float("nan")


def f1(precision: float, recall: float) -> float:
  return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def _prf(predicted: int, correct: int, relevant: int, prefix: str) -> dict[str, float]:
  precision = correct / predicted if predicted else 0.0
  recall = correct / relevant if relevant else 0.0
  return {f"{prefix}precision": precision, f"{prefix}recall": recall, f"{prefix}f1": f1(precision, recall)}


def abstention_metrics(
  assignment: np.ndarray, match: np.ndarray, links: np.ndarray, dangling: np.ndarray
) -> dict[str, float]:
  """End-to-end alignment and dangling detection (Sun et al., ACL 2021), over the sources of
  `links` [q, 2] (each has a gold counterpart) and `dangling` [d] (sources without one).

  assignment [num_sources]: decoded partner (-1 none); match [num_sources] bool: the decision.
  end_to_end/*: precision of the pairs decided `match`, recall against the gold links.
  detection/*: `no_match` as the positive class, against the dangling sources;
  detection/f1_ceiling: its F1 under perfect decisions of this assignment, 2d / (2d + w) for d
  dangling and w wrongly decoded linked sources (those are `no_match` too, false detections)."""
  sources = np.concatenate([links[:, 0], dangling]).astype(np.int64)
  decided = match[sources] & (assignment[sources] >= 0)
  right = assignment[links[:, 0]] == links[:, 1]
  out = _prf(int(decided.sum()), int(np.sum(decided[: len(links)] & right)), len(links), "end_to_end/")
  if len(dangling):  # without known dangling sources there is nothing to detect
    no_match = ~decided
    out.update(_prf(int(no_match.sum()), int(no_match[len(links) :].sum()), len(dangling), "detection/"))
    wrong = int(np.sum(~right))
    out["detection/f1_ceiling"] = 2 * len(dangling) / (2 * len(dangling) + wrong)
  return out


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
  """sum_b |B_b| / n * |mean confidence - accuracy| over equal-width confidence bins."""
  total = len(np.asarray(confidence))
  return float(sum(count / total * abs(c - a) for c, a, count in reliability(confidence, correct, bins)))


def coverage_curve(confidence: np.ndarray, correct: np.ndarray, coverages) -> list[tuple[float, float]]:
  """[(coverage c, precision of the c most confident share of the decisions)]."""
  order = np.argsort(-np.asarray(confidence), kind="stable")
  hits = np.cumsum(np.asarray(correct, np.float64)[order])
  out = []
  for coverage in coverages:
    count = max(1, round(coverage * len(hits)))
    out.append((float(coverage), float(hits[count - 1] / count) if len(hits) else float("nan")))
  return out


def precision_at_coverage(
  confidence: np.ndarray, correct: np.ndarray, coverages=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
) -> dict[str, float]:
  """{'coverage/<c>': precision of the c most confident share of the decisions}."""
  return {f"coverage/{c:.1f}": p for c, p in coverage_curve(confidence, correct, coverages)}


def reliability(
  confidence: np.ndarray, correct: np.ndarray, bins: int = 10
) -> list[tuple[float, float, int]]:
  """[(mean confidence, accuracy, count)] of each equal-width confidence bin with decisions
  (the reliability diagram; expected_calibration_error is their count-weighted gap)."""
  confidence, correct = np.asarray(confidence, np.float64), np.asarray(correct, np.float64)
  which = np.minimum((confidence * bins).astype(int), bins - 1)
  return [
    (float(confidence[which == b].mean()), float(correct[which == b].mean()), int((which == b).sum()))
    for b in range(bins)
    if (which == b).any()
  ]


def graph_ranks(
  rows: np.ndarray, cols: np.ndarray, scores: np.ndarray, links: np.ndarray, num_rows: int, num_cols: int
) -> np.ndarray:
  """[q] rank of each gold column among its row's entries of a sparse score matrix.

  rows / cols / scores [e]: the entries of a [num_rows, num_cols] matrix; links [q, 2] (row,
  gold column), rows unique. A gold column that is not an entry, or whose score is NaN,
  ranks last (num_cols)."""
  query_of_row = np.full(num_rows, -1, np.int64)
  query_of_row[links[:, 0]] = np.arange(len(links))
  q = query_of_row[rows]
  on_query = q >= 0
  gold_entry = on_query.copy()
  gold_entry[on_query] = cols[on_query] == links[q[on_query], 1]
  gold_score = np.full(len(links), np.nan, np.float64)
  gold_score[q[gold_entry]] = scores[gold_entry]
  rivals = on_query & ~gold_entry
  against = np.zeros(len(rivals), bool)
  against[rivals] = beats(scores[rivals], gold_score[q[rivals]])
  ranks = np.bincount(q[against], minlength=len(links)) + 1
  return np.where(np.isnan(gold_score), num_cols, ranks)


def one_pass_ranks(
  emb1: np.ndarray,
  emb2: np.ndarray,
  links: np.ndarray,
  valid_links: np.ndarray | None = None,
  scoring: str = "cosine",
  csls_k: int = 10,
  compute_dtype: str = "float32",
  test_targets: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Exact pessimistic ranks from one blocked pass over KG2 (no score matrix kept).

  emb1 [n1, E], emb2 [n2, E], links / valid_links [*, 2]. Returns (test ranks among the test
  targets [t], test ranks among all KG2 [t], validation ranks among all KG2 [v]).
  scoring: cosine | csls (test queries only; validation is always cosine). test_targets:
  the 'test' convention's candidates (default links[:, 1]; all test targets when `links` is a
  sample of the test links)."""
  if scoring not in ONE_PASS_SCORINGS:
    raise InputError(f"exact one-pass ranks support scoring {ONE_PASS_SCORINGS}, not {scoring!r}")
  valid = np.zeros((0, 2), np.int64) if valid_links is None else np.asarray(valid_links).reshape(-1, 2)
  links = np.asarray(links).reshape(-1, 2)
  queries = np.concatenate([links[:, 0], valid[:, 0]])
  targets = np.concatenate([links[:, 1], valid[:, 1]])
  if not len(queries):  # a KG pair without gold links: nothing to rank
    return (np.zeros(0, np.int64),) * 3
  bias, weights = None, None
  if scoring == "csls" and len(links):  # r(c) over the test sources (the query's own r is a constant)
    _, _, best = blocked.search(emb2, emb1[links[:, 0]], k=csls_k)  # each KG2 entity's best sources
    bias = 0.5 * csls_density(best, csls_k)
    weights = np.concatenate([np.ones(len(links)), np.zeros(len(valid))])
  subset = np.zeros(len(emb2), bool)
  subset[links[:, 1] if test_targets is None else test_targets] = True
  ranks, subset_ranks = split_over_processes(
    lambda rows: blocked.search_all(
      emb1[queries[rows]],
      emb2,
      targets[rows],
      bias,
      k=0,
      subset=subset,
      compute_dtype=compute_dtype,
      bias_weights=None if weights is None else weights[rows],
    ),
    len(queries),
  )
  t = len(links)
  return subset_ranks[:t], ranks[:t], ranks[t:]


def one_pass_report(
  emb1: np.ndarray,
  emb2: np.ndarray,
  links: np.ndarray,
  valid_links: np.ndarray | None = None,
  standard_errors: bool = False,
  **rank_options,
) -> dict[str, float]:
  """{'test/h1', ..., 'all/mrr', 'valid/all/h1', ...}: rank metrics of one_pass_ranks (its
  options: scoring, csls_k, compute_dtype, test_targets); with standard_errors each test
  metric's '_se' too. {} without links."""
  test, every, valid = one_pass_ranks(emb1, emb2, links, valid_links, **rank_options)
  out = {}
  if len(test):
    for convention, values in (("test", test), ("all", every)):
      out.update({f"{convention}/{k}": v for k, v in rank_metrics(values, standard_errors).items()})
  if len(valid):
    out.update({f"valid/all/{k}": v for k, v in rank_metrics(valid).items()})
  return out


def split_over_processes(search, num_queries: int) -> tuple[np.ndarray, np.ndarray]:
  """(ranks, subset_ranks) [num_queries] of `search(rows)` (a blocked.search_all over the given
  query rows), each process of a multi-host run searching its own contiguous block of
  queries; the blocks are gathered from every process in query order."""
  count = jax.process_count()
  if count == 1:
    result = search(np.arange(num_queries))
    return result.ranks, result.subset_ranks
  size = -(-num_queries // count)
  rows = np.arange(jax.process_index() * size, min(num_queries, (jax.process_index() + 1) * size))
  local = np.zeros((2, size), np.int32)
  if len(rows):
    result = search(rows)
    local[0, : len(rows)], local[1, : len(rows)] = result.ranks, result.subset_ranks
  gathered = np.asarray(multihost_utils.process_allgather(local))  # [processes, 2, size]
  both = gathered.transpose(1, 0, 2).reshape(2, -1)[:, :num_queries]
  return both[0], both[1]
