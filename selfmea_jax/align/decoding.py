"""Decoding on a sparse candidate graph: re-scoring (CSLS, Sinkhorn) and assignment.

Scores live on the graph's entries [e]. Assignments are [num_rows] int arrays of the chosen
column per row (-1 = unmatched). Nothing here builds a dense [n1, n2] matrix.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

from selfmea_jax.align.candidates import CandidateGraph
from selfmea_jax.errors import InputError

SCORINGS = ("cosine", "csls", "sinkhorn")
ASSIGNMENTS = ("greedy", "hungarian")
TIE_EPS = 1e-6


def csls_scores(graph: CandidateGraph, k: int = 10) -> np.ndarray:
  """[e] 2 cos(i, j) - r1(i) - r2(j), r = mean of the k best scores on each side."""
  r1 = graph.row_top[:, :k].mean(axis=1)
  r2 = graph.col_top[:, :k].mean(axis=1)
  return (2 * graph.scores - r1[graph.rows] - r2[graph.cols]).astype(np.float32)


def _segment_logsumexp(x, segments, num_segments):
  top = jax.ops.segment_max(x, segments, num_segments)
  top = jnp.where(jnp.isfinite(top), top, 0.0)
  total = jax.ops.segment_sum(jnp.exp(x - top[segments]), segments, num_segments)
  return jnp.log(total) + top


@functools.partial(jax.jit, static_argnames=("num_rows", "num_cols", "iterations"))
def _sinkhorn(log_kernel, rows, cols, num_rows, num_cols, iterations):
  def body(_, potentials):
    u, v = potentials
    u = -_segment_logsumexp(log_kernel + v[cols], rows, num_rows)
    v = -_segment_logsumexp(log_kernel + u[rows], cols, num_cols)
    return u, v

  zeros = (jnp.zeros(num_rows, log_kernel.dtype), jnp.zeros(num_cols, log_kernel.dtype))
  u, v = jax.lax.fori_loop(0, iterations, body, zeros)
  return log_kernel + u[rows] + v[cols]


def sinkhorn_scores(
  graph: CandidateGraph, scores: np.ndarray, temperature: float = 0.02, iterations: int = 100
) -> np.ndarray:
  """[e] log transport plan of exp(scores / temperature) restricted to the graph, with every
  row and column alternately normalised to mass 1 (log domain; entries off the graph are 0)."""
  plan = _sinkhorn(
    jnp.asarray(scores, jnp.float32) / temperature,
    jnp.asarray(graph.rows),
    jnp.asarray(graph.cols),
    graph.num_rows,
    graph.num_cols,
    iterations,
  )
  return np.asarray(plan)


def rescore(
  graph: CandidateGraph, scoring: str, csls_k: int = 10, temperature: float = 0.02, iterations: int = 100
) -> np.ndarray:
  """[e] entry scores under `scoring` (cosine | csls | sinkhorn on the CSLS-free cosines)."""
  if scoring == "cosine":
    return graph.scores
  if scoring == "csls":
    return csls_scores(graph, csls_k)
  if scoring == "sinkhorn":
    return sinkhorn_scores(graph, graph.scores, temperature, iterations)
  raise InputError(f"unknown scoring {scoring!r}; choose one of {SCORINGS}")


def greedy(graph: CandidateGraph, scores: np.ndarray) -> np.ndarray:
  """[num_rows] each row's best column (lowest column index among exact ties; -1 if none)."""
  order = np.lexsort((graph.cols, -scores, graph.rows))
  rows = graph.rows[order]
  first = np.ones(len(rows), bool)
  first[1:] = rows[1:] != rows[:-1]
  out = np.full(graph.num_rows, -1, np.int64)
  out[rows[first]] = graph.cols[order][first]
  return out


def mutual_best(graph: CandidateGraph, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(each row's best column [num_rows], each column's best row [num_cols]) under `scores`,
  with greedy's tie rule; (i, j) is mutual best when both point at each other."""
  return greedy(graph, scores), greedy(graph.transposed(), scores)


def hungarian(graph: CandidateGraph, scores: np.ndarray, min_score: float = -np.inf) -> np.ndarray:
  """[num_rows] 1-to-1 assignment of the largest total score (scipy's LAPJVsp on a sparse
  augmented graph). With min_score = -inf it first maximises the number of pairs; otherwise a
  pair scoring below min_score is never chosen, and rows whose candidates are all taken or
  too weak stay unmatched (-1): entities without a counterpart are not forced into a pair."""
  n1, n2, e = graph.num_rows, graph.num_cols, graph.num_entries
  finite = np.isfinite(scores)
  if e == 0 or not finite.any():
    return np.full(n1, -1, np.int64)
  low, high = float(scores[finite].min()), float(scores[finite].max())
  cost = np.where(finite, high - scores, high - low + 1.0) + 1.0  # all costs >= 1
  if np.isfinite(min_score):  # a pair (cost + 1) beats two unmatched ends iff score > min_score
    unmatched = max((high - min_score + 2.0) / 2.0, 1.0)
  else:  # any extra pair beats any difference in weight
    unmatched = 2.0 * float(cost.max()) * max(n1, n2) + 1.0
  # Rows: n1 real + n2 dummies; columns: n2 real + n1 dummies. Real row i may stay unmatched
  # (its own dummy column); real column j likewise (its own dummy row); dummy row j meets
  # dummy column i wherever (i, j) is an edge, so a full matching always exists.
  r = np.concatenate([graph.rows, np.arange(n1), n1 + np.arange(n2), n1 + graph.cols])
  c = np.concatenate([graph.cols, n2 + np.arange(n1), np.arange(n2), n2 + graph.rows])
  w = np.concatenate([cost, np.full(n1, unmatched), np.full(n2, unmatched), np.ones(e)])
  matrix = scipy.sparse.csr_matrix((w, (r, c)), shape=(n1 + n2, n1 + n2))
  matched_rows, matched_cols = min_weight_full_bipartite_matching(matrix)
  out = np.full(n1, -1, np.int64)
  real = (matched_rows < n1) & (matched_cols < n2)
  out[matched_rows[real]] = matched_cols[real]
  return out


def assign(
  graph: CandidateGraph, scores: np.ndarray, assignment: str, min_score: float = -np.inf
) -> np.ndarray:
  if assignment == "greedy":
    return greedy(graph, scores)
  if assignment == "hungarian":
    return hungarian(graph, scores, min_score)
  raise InputError(f"unknown assignment {assignment!r}; choose one of {ASSIGNMENTS}")


def link_ranks(graph: CandidateGraph, scores: np.ndarray, links: np.ndarray) -> np.ndarray:
  """[q] pessimistic 1-based rank of each gold column among its row's entries.

  Ties within TIE_EPS count against the gold column; a gold column that is not on the graph,
  or whose score is NaN, ranks last (num_cols). links: [q, 2] (row, gold column), rows unique.
  """
  query_of_row = np.full(graph.num_rows, -1, np.int64)
  query_of_row[links[:, 0]] = np.arange(len(links))
  q = query_of_row[graph.rows]
  on_query = q >= 0
  gold_entry = on_query.copy()
  gold_entry[on_query] = graph.cols[on_query] == links[q[on_query], 1]
  gold_score = np.full(len(links), np.nan, np.float64)
  gold_score[q[gold_entry]] = scores[gold_entry]
  rivals = on_query & ~gold_entry
  beats = np.zeros(len(rivals), bool)
  beats[rivals] = ~(scores[rivals] < gold_score[q[rivals]] - TIE_EPS)  # NaN gold -> all beat
  ranks = np.bincount(q[beats], minlength=len(links)) + 1
  return np.where(np.isnan(gold_score), graph.num_cols, ranks)


def alignment_metrics(ranks: np.ndarray, assignment: np.ndarray, links: np.ndarray) -> dict:
  """H@1 of the decoded assignment; H@10 and MRR of the ranks."""
  ranks = np.asarray(ranks, np.float64)
  return {
    "h1": float(np.mean(assignment[links[:, 0]] == links[:, 1])),
    "h10": float(np.mean(ranks <= 10)),
    "mrr": float(np.mean(1.0 / ranks)),
  }
