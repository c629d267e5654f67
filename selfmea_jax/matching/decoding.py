"""Decoding on a sparse candidate graph: scoring (cosine, CSLS, Sinkhorn), 1-to-1 assignment
(greedy, Hungarian), confident mutual pairs, and the metrics of a decoding.

Scores live on the graph's entries [e]. Assignments are [num_rows] int arrays of the chosen
column per row (-1 = unmatched). Nothing here builds a dense [n1, n2] matrix; a dense
matrix is the full graph's case (every entry a candidate). The trainer's evaluation and
pseudo-seed mining and the aligner all decode through `decode` / `decode_graph`.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import scipy.sparse
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

from selfmea_jax.errors import InputError
from selfmea_jax.matching import metrics
from selfmea_jax.matching.candidates import CandidateGraph, candidate_graph
from selfmea_jax.matching.scores import csls_density

SCORINGS = ("cosine", "csls", "sinkhorn")
ASSIGNMENTS = ("greedy", "hungarian")


@dataclasses.dataclass(frozen=True)
class Decoder:
  """How a candidate graph is decoded (the config's `decoding` section)."""

  scoring: str = "cosine"  # cosine | csls | sinkhorn: the entry scores (ranks, assignment)
  assignment: str = "greedy"  # greedy | hungarian: the 1-to-1 decoded alignment
  csls_k: int = 10
  sinkhorn_temperature: float = 0.02
  sinkhorn_iterations: int = 100
  sinkhorn_csls_weight: float = 0.0  # sinkhorn_kernel: share of the CSLS hub correction
  calibration: tuple[float, ...] = ()  # matching/confidence.py: () = the decoder probability

  @classmethod
  def from_config(cls, decoding: ml_collections.ConfigDict) -> Decoder:
    values = {f.name: decoding[f.name] for f in dataclasses.fields(cls)}
    values["calibration"] = tuple(float(v) for v in values["calibration"])
    return cls(**values)


NEAREST = Decoder()  # greedy cosine: each row's nearest column


@dataclasses.dataclass(frozen=True)
class Decoded:
  """One decoding of a candidate graph: the graph (its scores may include the neighbour
  support), the decoder's entry scores [e], the assignment [num_rows] and the plain
  cosines [e]."""

  graph: CandidateGraph
  scores: np.ndarray
  assignment: np.ndarray
  cosine: np.ndarray


def csls_scores(graph: CandidateGraph, k: int = 10) -> np.ndarray:
  """[e] 2 cos(i, j) - r1(i) - r2(j), r = mean of the k best scores on each side."""
  r1, r2 = csls_density(graph.row_top, k), csls_density(graph.col_top, k)
  return (2 * graph.scores - r1[graph.rows] - r2[graph.cols]).astype(np.float32)


def _segment_logsumexp(x, segments, num_segments):
  top = jax.ops.segment_max(x, segments, num_segments)
  top = jnp.where(jnp.isfinite(top), top, 0.0)
  total = jax.ops.segment_sum(jnp.exp(x - top[segments]), segments, num_segments)
  return jnp.log(total) + top


@functools.partial(jax.jit, static_argnames=("num_rows", "num_cols", "iterations"))
def _sinkhorn(log_kernel, rows, cols, num_rows, num_cols, iterations):
  # Dual coordinate ascent. The smaller side's entities send mass exactly 1; the larger side's
  # receive at most 1 (their potentials stay <= 0), so a larger KG's surplus entities are not
  # forced into the plan. The exact side is normalised first and last. Equal sizes: the plain
  # alternation, rows then columns.
  cap_rows, cap_cols = num_rows > num_cols, num_cols > num_rows

  def normalise(log_mass, capped):
    return jnp.minimum(-log_mass, 0.0) if capped else -log_mass

  def update_rows(v):
    return normalise(_segment_logsumexp(log_kernel + v[cols], rows, num_rows), cap_rows)

  def update_cols(u):
    return normalise(_segment_logsumexp(log_kernel + u[rows], cols, num_cols), cap_cols)

  def body(_, potentials):
    u = update_rows(potentials[1])
    return u, update_cols(u)

  u = jnp.zeros(num_rows, log_kernel.dtype)
  v = update_cols(u) if cap_rows else jnp.zeros(num_cols, log_kernel.dtype)
  u, v = jax.lax.fori_loop(0, iterations, body, (u, v))
  if cap_cols:
    u = update_rows(v)
  return log_kernel + u[rows] + v[cols]


def sinkhorn_scores(
  graph: CandidateGraph, scores: np.ndarray, temperature: float = 0.02, iterations: int = 100
) -> np.ndarray:
  """[e] log transport plan of exp(scores / temperature) restricted to the graph (log domain;
  entries off the graph are 0): rows and columns alternately normalised to mass 1, except
  that the entities of the larger side receive at most 1, so every entity of the smaller
  side keeps mass 1 (its row is a probability) and the larger side's surplus stays out."""
  plan = _sinkhorn(
    jnp.asarray(scores, jnp.float32) / temperature,
    jnp.asarray(graph.rows),
    jnp.asarray(graph.cols),
    graph.num_rows,
    graph.num_cols,
    iterations,
  )
  return np.asarray(plan)


def sinkhorn_kernel(graph: CandidateGraph, decoder: Decoder) -> np.ndarray:
  """[e] cos - w (r1 + r2) / 2, w = decoder.sinkhorn_csls_weight: 0 the cosine, 1 the CSLS
  score halved (the cosine's scale, so the temperature keeps its meaning). Part of the hub
  correction inside the plan keeps Sinkhorn within .005 of the best simple decoder when KG2 is
  2x or 4x larger than KG1 (BUILD_NOTES, issue 16)."""
  if decoder.sinkhorn_csls_weight == 0:
    return graph.scores
  r1, r2 = csls_density(graph.row_top, decoder.csls_k), csls_density(graph.col_top, decoder.csls_k)
  penalty = (r1[graph.rows] + r2[graph.cols]) / 2
  return (graph.scores - decoder.sinkhorn_csls_weight * penalty).astype(np.float32)


def rescore(graph: CandidateGraph, decoder: Decoder) -> np.ndarray:
  """[e] entry scores under decoder.scoring: cosine | csls | sinkhorn (the log transport plan
  of sinkhorn_kernel)."""
  if decoder.scoring == "cosine":
    return graph.scores
  if decoder.scoring == "csls":
    return csls_scores(graph, decoder.csls_k)
  if decoder.scoring == "sinkhorn":
    return sinkhorn_scores(
      graph, sinkhorn_kernel(graph, decoder), decoder.sinkhorn_temperature, decoder.sinkhorn_iterations
    )
  raise InputError(f"unknown scoring {decoder.scoring!r}; choose one of {SCORINGS}")


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


def decode_graph(graph: CandidateGraph, decoder: Decoder) -> Decoded:
  """Scores under decoder.scoring and the assignment of one candidate graph. Hungarian on a
  Sinkhorn plan maximises the transported mass (sum of plan probabilities): a row stays
  unmatched rather than take a pair of no mass."""
  scores = rescore(graph, decoder)
  if decoder.assignment == "hungarian" and decoder.scoring == "sinkhorn":
    assignment = hungarian(graph, np.exp(scores), min_score=0.0)
  else:
    assignment = assign(graph, scores, decoder.assignment)
  return Decoded(graph, scores, assignment, graph.scores)


def decode(
  emb1: np.ndarray,
  emb2: np.ndarray,
  decoder: Decoder,
  k: int = 50,
  search: str = "exact",
  target_recall: float = 0.99,
) -> Decoded:
  """[n1, E], [n2, E] unit rows -> candidate graph (top-k both ways) -> decoded."""
  return decode_graph(candidate_graph(emb1, emb2, k, search, target_recall), decoder)


def confident_pairs(decoded: Decoded, keep_fraction: float = 1.0) -> np.ndarray:
  """[p, 2] decoded pairs that are also mutual best under the candidate scores (the cosine,
  plus the neighbour support when refined), most confident first (largest gap between the
  row's best and second-best score); keep_fraction keeps the most confident share. Under
  the NEAREST decoder these are the mutual nearest neighbours."""
  graph = decoded.graph
  row_best, col_best = mutual_best(graph, graph.scores)
  left = np.flatnonzero(decoded.assignment >= 0)
  right = decoded.assignment[left]
  mutual = (row_best[left] == right) & (col_best[right] == left)
  left, right = left[mutual], right[mutual]
  order = np.argsort(-graph.row_margins[left], kind="stable")[: int(np.ceil(keep_fraction * len(left)))]
  return np.stack([left[order], right[order]], axis=1).astype(np.int32)


def entry_of(graph: CandidateGraph, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
  """[q] index of entry (rows[q], cols[q]) in the graph (-1 where it is not an entry)."""
  keys = graph.rows.astype(np.int64) * graph.num_cols + graph.cols
  wanted = np.asarray(rows, np.int64) * graph.num_cols + np.asarray(cols, np.int64)
  at = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
  return np.where((len(keys) > 0) & (keys[at] == wanted), at, -1)


def decoding_metrics(decoded: Decoded, links: np.ndarray, prefix: str = "") -> dict[str, float]:
  """{prefix}h1 / h10 / mrr (ranks under the decoder's scores, among the graph's entries)
  and {prefix}decoded_accuracy of links [q, 2] (row, gold column)."""
  graph = decoded.graph
  ranks = metrics.graph_ranks(graph.rows, graph.cols, decoded.scores, links, graph.num_rows, graph.num_cols)
  out = {
    **metrics.rank_metrics(ranks),
    "decoded_accuracy": metrics.decoded_accuracy(decoded.assignment, links),
  }
  return {f"{prefix}{k}": v for k, v in out.items()}
