"""Approximate candidate search: the recall it reports is the recall it has, it reaches the
target on a clustered case, `auto` stays exact on small inputs, and the candidate graph built
from it matches the exact one."""

import numpy as np
import pytest

from selfmea_jax.matching import approximate, blocked, candidates
from selfmea_jax.train import pseudo_seeds


def clustered_pair(n=4000, d=32, clusters=60, seed=0):
  """KG2: unit rows around cluster centres; KG1: a noisy copy of a permutation of KG2."""
  rng = np.random.default_rng(seed)
  centres = rng.normal(size=(clusters, d))
  emb2 = centres[rng.integers(0, clusters, n)] + 0.5 * rng.normal(size=(n, d))
  emb2 /= np.linalg.norm(emb2, axis=1, keepdims=True)
  emb1 = emb2[rng.permutation(n)] + 0.1 * rng.normal(size=(n, d))
  emb1 /= np.linalg.norm(emb1, axis=1, keepdims=True)
  return emb1.astype(np.float32), emb2.astype(np.float32)


@pytest.mark.parametrize("method", ["ivf", "hnsw"])
def test_approximate_search_reaches_and_reports_its_recall(method):
  emb1, emb2 = clustered_pair()
  top = approximate.search_topk(emb1, emb2, k=10, method=method, target_recall=0.99, sample_queries=300)
  _, exact_ids, exact_scores = blocked.search(emb1, emb2, k=10)
  overall = approximate.recall_against_exact(top.ids, top.scores, exact_ids, exact_scores)
  assert top.method == method and top.recall["recall@10"] >= 0.99
  assert overall["recall@10"] >= 0.98 and overall["recall@1"] >= 0.99  # beyond the sample too
  assert abs(overall["recall@10"] - top.recall["recall@10"]) < 0.02
  assert np.all(np.diff(top.scores, axis=1) <= 1e-6)  # descending


def test_smallest_knob_bisects_the_last_doubling():
  tried = []

  def measure(knob):  # recall grows with the knob and reaches .99 from 297 on
    tried.append(knob)
    return {"recall": min(1.0, knob / 300)}

  knob, result = approximate.smallest_knob(measure, 32, 4096, "recall", 0.99)
  assert tried[:5] == [32, 64, 128, 256, 512]  # doubled until it passes
  assert knob == 320 and result["recall"] >= 0.99  # then bisected: 384, 320 pass, 288 fails
  assert approximate.smallest_knob(measure, 512, 4096, "recall", 0.99)[0] == 512  # passes at once
  assert approximate.smallest_knob(measure, 32, 128, "recall", 0.99) == (128, {"recall": 128 / 300})


def test_recall_counts_misses_and_ties():
  exact_ids = np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
  exact_scores = np.array([[0.9, 0.8, 0.7], [0.9, 0.5, 0.4], [0.9, 0.8, 0.7]])
  approx_ids = np.array([[9, 1, 2], [3, 4, 10], [6, 11, -1]])
  # row 0: its best is a duplicate of the exact best (same score): found; row 1: id 10 scores
  # below the exact 3rd: a miss; row 2: a miss and a missing (-1) entry.
  approx_scores = np.array([[0.9, 0.8, 0.7], [0.9, 0.5, 0.3], [0.9, 0.6, -np.inf]])
  recall = approximate.recall_against_exact(approx_ids, approx_scores, exact_ids, exact_scores)
  assert recall["recall@1"] == 1.0 and recall["recall@3"] == pytest.approx((3 + 2 + 1) / 9)
  no_ties = approximate.recall_against_exact(exact_ids[1:], exact_scores[1:], exact_ids[1:], exact_scores[1:])
  assert no_ties["recall@3"] == 1.0
  tied_tenth = approximate.recall_against_exact(  # either of two tied k-th candidates is right
    np.array([[0, 1, 12]]), np.array([[0.9, 0.8, 0.7]]), exact_ids[:1], exact_scores[:1]
  )
  assert tied_tenth["recall@3"] == 1.0


def test_auto_is_exact_on_small_inputs():
  emb1, emb2 = clustered_pair(n=500)
  top = approximate.search_topk(emb1, emb2, k=5, method="auto")
  _, exact_ids, _ = blocked.search(emb1, emb2, k=5)
  assert top.method == "exact" and top.recall == {}
  np.testing.assert_array_equal(top.ids, exact_ids)


def test_auto_builds_the_candidate_graph_in_one_exact_pass_equal_to_two_searches(monkeypatch):
  emb1, emb2 = clustered_pair(n=500)
  two_searches = candidates.candidate_graph(emb1, emb2, k=10, search="flat")  # faiss, each direction

  def refused(*args, **kwargs):
    raise AssertionError("auto at this size is one exact pass, not a search per direction")

  monkeypatch.setattr(candidates, "approximate_two_way_topk", refused)
  one_pass = candidates.candidate_graph(emb1, emb2, k=10, search="auto")
  np.testing.assert_array_equal(one_pass.rows, two_searches.rows)
  np.testing.assert_array_equal(one_pass.cols, two_searches.cols)
  np.testing.assert_allclose(one_pass.scores, two_searches.scores, atol=1e-5)
  assert approximate.resolved("auto", 10**5, 10**5) == "hnsw" and approximate.resolved("ivf", 1, 1) == "ivf"


def test_candidate_graph_from_ivf_matches_the_exact_graph():
  emb1, emb2 = clustered_pair(n=3000)
  exact = candidates.candidate_graph(emb1, emb2, k=10)
  approx = candidates.candidate_graph(emb1, emb2, k=10, search="ivf", target_recall=0.99)
  key = lambda g: set(zip(g.rows.tolist(), g.cols.tolist()))  # noqa: E731
  assert len(key(exact) & key(approx)) >= 0.98 * exact.num_entries


def test_approximate_mutual_nearest_neighbours_match_the_exact_ones():
  emb1, emb2 = clustered_pair(n=3000)
  exact = {tuple(p) for p in pseudo_seeds.mutual_nearest_neighbours(emb1, emb2, 0.5).tolist()}
  approx = {tuple(p) for p in pseudo_seeds.mutual_nearest_neighbours(emb1, emb2, 0.5, "hnsw").tolist()}
  assert len(exact) > 1000 and len(exact & approx) >= 0.98 * len(exact)
