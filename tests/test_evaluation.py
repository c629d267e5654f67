"""Ranks and metrics: exactness against brute force, one pessimistic tie rule for every rank
route, NaN safety, exact search backends that agree."""

import numpy as np
import pytest

from configs import default
from selfmea_jax.config_checks import validate
from selfmea_jax.data.kg import AlignmentTask
from selfmea_jax.errors import InputError
from selfmea_jax.matching import approximate, blocked, decoding, metrics
from selfmea_jax.matching.conventions import DecodingPlan, decode_conventions
from selfmea_jax.train import evaluate


def brute_force_ranks(q, c, targets, bias=None):
  s = q @ c.T - (0 if bias is None else bias[None])
  t = s[np.arange(len(q)), targets]
  beats = s >= t[:, None]
  beats[np.arange(len(q)), targets] = False
  return beats.sum(1) + 1


def unit(x):
  return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def embeddings():
  rng = np.random.default_rng(0)
  return unit(rng.normal(size=(300, 16))), unit(rng.normal(size=(517, 16)))


def test_blocked_search_matches_brute_force(embeddings):
  q, c = embeddings
  targets = np.random.default_rng(1).integers(0, len(c), len(q))
  ranks, top_ids, top_scores = blocked.search(q, c, targets, k=7, query_block=64, candidate_block=100)
  np.testing.assert_array_equal(ranks, brute_force_ranks(q, c, targets))
  expected = np.argsort(-(q @ c.T), axis=1)[:, :7]
  np.testing.assert_array_equal(top_ids, expected)
  np.testing.assert_allclose(top_scores, np.take_along_axis(q @ c.T, expected, 1), rtol=1e-5)


def test_bias_ranks_match_brute_force(embeddings):
  q, c = embeddings
  targets = np.arange(len(q))
  bias = np.random.default_rng(2).uniform(0, 0.2, len(c)).astype(np.float32)
  ranks, _, _ = blocked.search(q, c, targets, candidate_bias=bias, k=5)
  np.testing.assert_array_equal(ranks, brute_force_ranks(q, c, targets, bias))


def test_the_two_exact_searches_agree(embeddings):
  q, c = embeddings
  jax_top = approximate.search_topk(q, c, k=6, method="exact")
  faiss_top = approximate.search_topk(q, c, k=6, method="flat")
  np.testing.assert_array_equal(faiss_top.ids, jax_top.ids)
  np.testing.assert_allclose(faiss_top.scores, jax_top.scores, atol=1e-5)


def test_every_rank_route_follows_one_tie_rule():
  # Scores 1e-7 apart tie (within TIE_EPS) and count against the gold; 1e-3 apart do not.
  scores = np.array([[0.5, 0.5 + 1e-7, 0.2], [0.3, 0.3 - 1e-3, np.nan], [np.nan, 0.4, 0.1]], np.float32)
  links = np.array([[0, 0], [1, 0], [2, 0]])
  rows, cols = (a.ravel() for a in np.meshgrid(np.arange(3), np.arange(3), indexing="ij"))
  graph = metrics.graph_ranks(rows, cols, scores.ravel(), links, 3, 3)
  np.testing.assert_array_equal(graph, [2, 2, 3])  # tie loses; NaN rival counts; NaN gold is last
  finite = np.nan_to_num(scores, nan=0.3)  # the blocked search computes q . c: no NaN entries here
  blocked_ranks, _, _ = blocked.search(np.eye(3, dtype=np.float32), finite.T.copy(), links[:, 1])
  np.testing.assert_array_equal(blocked_ranks, metrics.graph_ranks(rows, cols, finite.ravel(), links, 3, 3))
  np.testing.assert_array_equal(blocked_ranks, [2, 2, 2])


def test_ties_never_favour_the_gold_answer():
  q = np.ones((3, 4), np.float32) / 2
  c = np.ones((5, 4), np.float32) / 2  # every candidate ties
  ranks, _, _ = blocked.search(q, c, np.array([0, 2, 4]))
  np.testing.assert_array_equal(ranks, [5, 5, 5])
  assert metrics.rank_metrics(ranks)["h1"] == 0.0


def test_nan_embeddings_score_zero():
  q = np.full((4, 8), np.nan, np.float32)
  c = np.random.default_rng(0).normal(size=(6, 8)).astype(np.float32)
  ranks, _, _ = blocked.search(q, c, np.arange(4))
  assert (ranks == 6).all()


def _report(emb1, emb2, links, scoring, **decoder):
  """Both conventions' rank metrics: one blocked pass (cosine, CSLS) or the decoded graph."""
  if scoring in metrics.ONE_PASS_SCORINGS:
    return metrics.one_pass_report(emb1, emb2, links, scoring=scoring)
  config = default.get_config()
  config.decoding.scoring = scoring
  config.decoding.update(decoder)
  return decode_conventions(emb1, emb2, links, links[:0], DecodingPlan.from_config(config.decoding))[0]


def test_conventions_and_perfect_alignment(embeddings):
  e1, _ = embeddings
  perm = np.random.default_rng(3).permutation(len(e1))
  e2 = e1[perm]
  links = np.stack([perm, np.arange(len(e1))], 1)  # e2[j] == e1[perm[j]]
  for scoring in decoding.SCORINGS:
    report = _report(e1, e2, links, scoring)
    assert report["test/h1"] == 1.0 and report["all/mrr"] == 1.0, scoring


def test_csls_and_sinkhorn_fix_hubness():
  # A "hub" candidate close to every query steals the plain-cosine nearest neighbours.
  rng = np.random.default_rng(4)
  base = unit(rng.normal(size=(200, 32)))
  hub = unit(rng.normal(size=(1, 32)))
  queries = unit(base + 1.1 * hub + 0.3 * unit(rng.normal(size=(200, 32))))
  candidates = np.concatenate([base, hub])
  links = np.stack([np.arange(200), np.arange(200)], 1)
  cosine, csls, sink = (_report(queries, candidates, links, s)["all/h1"] for s in decoding.SCORINGS)
  assert np.mean(np.argmax(queries @ candidates.T, axis=1) == 200) > 0.8  # the hub wins
  assert cosine < 0.2 and csls > 0.95 and sink > 0.95, (cosine, csls, sink)


def test_unknown_scorings_are_input_errors(embeddings):
  q, c = embeddings
  with pytest.raises(InputError, match="one-pass ranks support"):
    metrics.one_pass_report(q, c, np.array([[0, 0]]), scoring="sinkhorn")
  graph = decoding.decode(q, c, decoding.NEAREST, k=3).graph
  with pytest.raises(InputError, match="unknown scoring"):
    decoding.rescore(graph, decoding.Decoder(scoring="dot"))


@pytest.mark.parametrize("scoring", ["cosine", "csls"])
def test_one_pass_ranks_equal_brute_force(scoring):
  rng = np.random.default_rng(5)
  emb2 = unit(rng.normal(size=(400, 16)))
  order = rng.permutation(400)
  emb1 = unit(emb2[order[:300]] + 0.25 * rng.normal(size=(300, 16)))  # KG1 row i ~ KG2 row order[i]
  emb1[7] = emb1[3]  # an exact tie between two sources
  links = np.stack([np.arange(300), order[:300]], 1)
  test, valid = links[:200], links[200:260]
  test_ranks, all_ranks, valid_ranks = metrics.one_pass_ranks(emb1, emb2, test, valid, scoring, csls_k=5)
  bias = None
  if scoring == "csls":  # r(c): mean of c's 5 best cosines among the test sources
    bias = 0.5 * np.sort(emb2 @ emb1[test[:, 0]].T, axis=1)[:, -5:].mean(1)
  np.testing.assert_array_equal(all_ranks, brute_force_ranks(emb1[test[:, 0]], emb2, test[:, 1], bias))
  subset_bias = None if bias is None else bias[test[:, 1]]
  np.testing.assert_array_equal(
    test_ranks, brute_force_ranks(emb1[test[:, 0]], emb2[test[:, 1]], np.arange(200), subset_bias)
  )
  np.testing.assert_array_equal(valid_ranks, brute_force_ranks(emb1[valid[:, 0]], emb2, valid[:, 1]))
  report = metrics.one_pass_report(emb1, emb2, test, valid, scoring=scoring, csls_k=5)
  assert 0.2 < report["all/h1"] < report["test/h1"] < 1.0  # a case where the two differ


def test_bfloat16_search_ranks_stay_close_and_float32_is_exact():
  rng = np.random.default_rng(6)
  emb2 = unit(rng.normal(size=(500, 64)))
  emb1 = unit(emb2[:400] + 0.3 * rng.normal(size=(400, 64)))
  links = np.stack([np.arange(400), np.arange(400)], 1)
  wide = metrics.one_pass_report(emb1, emb2, links[:300], links[300:])
  narrow = metrics.one_pass_report(emb1, emb2, links[:300], links[300:], compute_dtype="bfloat16")
  assert wide == metrics.one_pass_report(emb1, emb2, links[:300], links[300:], compute_dtype="float32")
  for key, value in wide.items():
    assert abs(narrow[key] - value) < 0.03, (key, value, narrow[key])


def test_sampled_test_queries_keep_every_candidate_and_report_standard_errors():
  rng = np.random.default_rng(8)
  emb2 = unit(rng.normal(size=(400, 16)))
  order = rng.permutation(400)
  emb1 = unit(emb2[order[:300]] + 0.3 * rng.normal(size=(300, 16)))
  links = np.stack([np.arange(300), order[:300]], 1)
  sample = np.sort(rng.choice(300, 60, replace=False))
  report = metrics.one_pass_report(emb1, emb2, links[sample], standard_errors=True, test_targets=links[:, 1])
  # Each sampled query keeps its rank among all 300 test targets / all 400 KG2 entities.
  test_ranks = brute_force_ranks(emb1[sample], emb2[links[:, 1]], sample)
  all_ranks = brute_force_ranks(emb1[sample], emb2, links[sample, 1])
  for convention, ranks in (("test", test_ranks), ("all", all_ranks)):
    hits = (ranks <= 1).astype(float)
    assert report[f"{convention}/h1"] == pytest.approx(hits.mean())
    assert report[f"{convention}/h1_se"] == pytest.approx(hits.std(ddof=1) / np.sqrt(60))
    assert report[f"{convention}/mrr_se"] == pytest.approx((1 / ranks).std(ddof=1) / np.sqrt(60))
  # Without test_targets the sample's own targets would be the candidates: an easier test.
  easier = metrics.one_pass_report(emb1, emb2, links[sample])
  assert easier["test/mrr"] > report["test/mrr"]
  assert "test/h1_se" not in easier


def test_evaluation_samples_test_links_by_seed():
  links = np.stack([np.arange(100), np.arange(100) + 7], 1)
  task = AlignmentTask("t", None, None, valid_links=links[:0], test_links=links)
  config = default.get_config()
  assert evaluate.test_links(config, task) is links  # 0: every test link
  config.eval.test_queries = 30
  first = evaluate.test_links(config, task)
  assert len(first) == 30 and len(np.unique(first[:, 0])) == 30
  np.testing.assert_array_equal(first, evaluate.test_links(config, task))  # seeded
  config.seed += 1
  assert not np.array_equal(first, evaluate.test_links(config, task))
  config.decoding.scoring = "csls"
  with pytest.raises(InputError, match="test_queries"):
    validate(config)
