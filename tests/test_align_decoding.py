"""Candidate graph and decoders on small hand-made cases with known answers."""

import itertools

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from selfmea_jax.matching import candidates, decoding
from selfmea_jax.matching.candidates import CandidateGraph


def dense_graph(scores: np.ndarray) -> CandidateGraph:
  """Every entry of a small dense [n1, n2] matrix as a candidate graph."""
  n1, n2 = scores.shape
  rows, cols = (a.ravel().astype(np.int32) for a in np.meshgrid(np.arange(n1), np.arange(n2), indexing="ij"))
  return CandidateGraph(
    rows,
    cols,
    scores.ravel().astype(np.float32),
    n1,
    n2,
    -np.sort(-scores, axis=1),
    -np.sort(-scores.T, axis=1),
  )


def unit(x):
  return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("n1,n2,k", [(60, 45, 5), (45, 60, 7), (3, 10, 20)])
def test_candidate_graph_is_the_union_of_both_directions_top_k(n1, n2, k):
  rng = np.random.default_rng(n1)
  a, b = unit(rng.normal(size=(n1, 8))), unit(rng.normal(size=(n2, 8)))
  graph = candidates.candidate_graph(a, b, k)
  s = a @ b.T
  kr, kc = min(k, n2), min(k, n1)
  expected = (s >= np.sort(s, 1)[:, -kr][:, None]) | (s >= np.sort(s, 0)[-kc][None, :])
  got = np.zeros_like(expected)
  got[graph.rows, graph.cols] = True
  np.testing.assert_array_equal(got, expected)
  np.testing.assert_allclose(graph.scores, s[graph.rows, graph.cols], atol=1e-5)
  np.testing.assert_allclose(graph.row_top, -np.sort(-s, 1)[:, :kr], atol=1e-5)


def test_hungarian_beats_greedy_on_the_classic_trap():
  # Greedy takes (0, 0) = 0.9 and leaves row 1 with 0.1; the optimum is 0.8 + 0.8.
  scores = np.array([[0.9, 0.8], [0.8, 0.1]])
  graph = dense_graph(scores)
  np.testing.assert_array_equal(decoding.greedy(graph, graph.scores), [0, 0])
  np.testing.assert_array_equal(decoding.hungarian(graph, graph.scores), [1, 0])


@pytest.mark.parametrize("shape", [(6, 6), (5, 8), (8, 5)])
def test_hungarian_is_optimal_on_dense_rectangles(shape):
  scores = np.random.default_rng(sum(shape)).random(shape)
  graph = dense_graph(scores)
  got = decoding.hungarian(graph, graph.scores)
  rows, cols = linear_sum_assignment(-scores)
  assert (got >= 0).sum() == min(shape)
  assert len(set(got[got >= 0].tolist())) == min(shape)  # one-to-one
  assert scores[np.flatnonzero(got >= 0), got[got >= 0]].sum() == pytest.approx(scores[rows, cols].sum())


def test_hungarian_matches_brute_force_with_ties_and_missing_edges():
  # 3 x 3 with equal scores and two absent entries; every optimum has total 2.0 and 3 pairs.
  scores = np.array([[1.0, 1.0, np.nan], [1.0, 0.0, 0.0], [np.nan, 0.0, 0.0]])
  keep = ~np.isnan(scores)
  rows, cols = np.nonzero(keep)
  graph = CandidateGraph(
    rows.astype(np.int32),
    cols.astype(np.int32),
    scores[keep].astype(np.float32),
    3,
    3,
    np.zeros((3, 1)),
    np.zeros((3, 1)),
  )
  got = decoding.hungarian(graph, graph.scores)
  best = max(
    sum(scores[i, p[i]] for i in range(3))
    for p in itertools.permutations(range(3))
    if all(keep[i, p[i]] for i in range(3))
  )
  assert sorted(got.tolist()) == [0, 1, 2]
  assert sum(scores[i, j] for i, j in enumerate(got)) == pytest.approx(best)


def test_hungarian_leaves_rows_without_free_candidates_unmatched():
  # Rows 0 and 1 both only know column 0: one of them must stay unmatched (-1).
  graph = CandidateGraph(
    np.array([0, 1, 2], np.int32),
    np.array([0, 0, 1], np.int32),
    np.array([0.9, 0.5, 0.7], np.float32),
    3,
    2,
    np.zeros((3, 1)),
    np.zeros((2, 1)),
  )
  np.testing.assert_array_equal(decoding.hungarian(graph, graph.scores), [0, -1, 1])


def test_sinkhorn_plan_is_doubly_stochastic_and_fixes_the_trap():
  scores = np.array([[0.9, 0.8], [0.8, 0.1]])
  graph = dense_graph(scores)
  plan = np.exp(decoding.sinkhorn_scores(graph, graph.scores, temperature=0.1, iterations=200))
  dense = np.zeros((2, 2))
  dense[graph.rows, graph.cols] = plan
  np.testing.assert_allclose(dense.sum(0), 1.0, atol=1e-4)
  np.testing.assert_allclose(dense.sum(1), 1.0, atol=1e-4)
  np.testing.assert_array_equal(decoding.greedy(graph, np.log(plan)), [1, 0])


def test_csls_penalises_a_hub():
  # Column 0 is everyone's near neighbour (a hub); CSLS hands row 1 its own column.
  scores = np.array([[0.9, 0.1, 0.1], [0.85, 0.8, 0.1], [0.85, 0.1, 0.8]])
  graph = dense_graph(scores)
  assert decoding.greedy(graph, graph.scores).tolist() == [0, 0, 0]
  assert decoding.greedy(graph, decoding.csls_scores(graph, k=2)).tolist() == [0, 1, 2]


def test_decoding_metrics_rank_pessimistically_and_name_the_decoded_accuracy():
  graph = CandidateGraph(
    np.array([0, 0, 0, 1, 1, 2], np.int32),
    np.array([0, 1, 2, 0, 1, 0], np.int32),
    np.array([0.5, 0.5, 0.1, 0.2, 0.9, np.nan], np.float32),
    3,
    4,
    np.zeros((3, 1)),
    np.zeros((4, 1)),
  )
  links = np.array([[0, 0], [1, 0], [2, 0]])
  # ranks [2, 2, 4]: a tie counts against the gold; a NaN gold ranks last
  decoded = decoding.Decoded(graph, graph.scores, np.array([0, 0, -1]), graph.scores)
  metrics = decoding.decoding_metrics(decoded, links, "all/")
  assert metrics["all/h1"] == 0.0 and metrics["all/mrr"] == pytest.approx((0.5 + 0.5 + 0.25) / 3)
  assert metrics["all/decoded_accuracy"] == pytest.approx(2 / 3)  # rank 2, yet decoded to the gold
  absent = decoding.decoding_metrics(decoded, np.array([[1, 3]]))
  assert absent["mrr"] == pytest.approx(1 / 4) and absent["decoded_accuracy"] == 0.0


def test_hungarian_with_a_floor_leaves_weak_pairs_unmatched():
  # Row 1's only candidate is weak: forced (-inf floor) it is matched, above a floor it is not.
  scores = np.array([[0.9, 0.2], [0.3, 0.05]])
  graph = dense_graph(scores)
  np.testing.assert_array_equal(decoding.hungarian(graph, graph.scores), [0, 1])
  np.testing.assert_array_equal(decoding.hungarian(graph, graph.scores, min_score=0.1), [0, -1])
  np.testing.assert_array_equal(decoding.hungarian(graph, graph.scores, min_score=0.0), [0, 1])


def dense_sinkhorn(scores: np.ndarray, temperature: float, iterations: int) -> np.ndarray:
  """The textbook log-domain Sinkhorn on a dense matrix (rows, then columns, normalised)."""
  log_p = scores / temperature
  for _ in range(iterations):
    log_p = log_p - np.log(np.exp(log_p).sum(1, keepdims=True))
    log_p = log_p - np.log(np.exp(log_p).sum(0, keepdims=True))
  return log_p


def test_sinkhorn_on_a_full_graph_is_the_dense_sinkhorn():
  rng = np.random.default_rng(5)
  q, c = unit(rng.normal(size=(30, 8))), unit(rng.normal(size=(30, 8)))
  scores = (q @ c.T).astype(np.float64)
  graph = dense_graph(scores)
  sparse = decoding.sinkhorn_scores(graph, graph.scores, temperature=0.1, iterations=20)
  np.testing.assert_allclose(sparse, dense_sinkhorn(scores, 0.1, 20)[graph.rows, graph.cols], atol=1e-4)


def test_confident_pairs_of_the_nearest_decoding_are_the_mutual_nearest_neighbours():
  rng = np.random.default_rng(6)
  a, b = unit(rng.normal(size=(80, 8))), unit(rng.normal(size=(70, 8)))
  s = a @ b.T
  forward, backward = s.argmax(1), s.argmax(0)
  expected = {(i, int(forward[i])) for i in range(80) if backward[forward[i]] == i}
  pairs = decoding.confident_pairs(decoding.decode(a, b, decoding.NEAREST, k=2))
  assert {tuple(p) for p in pairs.tolist()} == expected
  top2 = -np.sort(-s, axis=1)[:, :2]
  margins = (top2[:, 0] - top2[:, 1])[pairs[:, 0]]
  assert (np.diff(margins) <= 1e-6).all()  # most confident first
