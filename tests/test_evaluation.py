"""Ranks and metrics: exactness against brute force, pessimistic ties, NaN safety, backends."""

import numpy as np
import pytest

from selfmea_jax.evaluation import blocked, faiss_search, metrics


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


def test_bias_and_faiss_agree(embeddings):
  q, c = embeddings
  targets = np.arange(len(q))
  bias = np.random.default_rng(2).uniform(0, 0.2, len(c)).astype(np.float32)
  jax_ranks, jax_ids, _ = blocked.search(q, c, targets, candidate_bias=bias, k=5)
  faiss_ranks, faiss_ids, _ = faiss_search.search(q, c, targets, candidate_bias=bias, k=5, rank_depth=600)
  np.testing.assert_array_equal(jax_ranks, brute_force_ranks(q, c, targets, bias))
  np.testing.assert_array_equal(faiss_ranks, jax_ranks)
  np.testing.assert_array_equal(faiss_ids, jax_ids)


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


def test_conventions_and_perfect_alignment(embeddings):
  e1, _ = embeddings
  perm = np.random.default_rng(3).permutation(len(e1))
  e2 = e1[perm]
  links = np.stack([perm, np.arange(len(e1))], 1)  # e2[j] == e1[perm[j]]
  for scoring in metrics.SCORINGS:
    report = metrics.report(e1, e2, links, scoring=scoring)
    assert report["test/h1"] == 1.0 and report["all/mrr"] == 1.0, scoring


def test_csls_and_sinkhorn_fix_hubness():
  # A "hub" candidate close to every query steals the plain-cosine nearest neighbours.
  rng = np.random.default_rng(4)
  base = unit(rng.normal(size=(200, 32)))
  hub = unit(rng.normal(size=(1, 32)))
  queries = unit(base + 1.1 * hub + 0.3 * unit(rng.normal(size=(200, 32))))
  candidates = np.concatenate([base, hub])
  links = np.stack([np.arange(200), np.arange(200)], 1)
  cosine = metrics.evaluate(queries, candidates, links, "all")["h1"]
  csls = metrics.evaluate(queries, candidates, links, "all", scoring="csls")["h1"]
  sink = metrics.evaluate(queries, candidates, links, "all", scoring="sinkhorn")["h1"]
  assert np.mean(np.argmax(queries @ candidates.T, axis=1) == 200) > 0.8  # the hub wins
  assert cosine < 0.2 and csls > 0.95 and sink > 0.95, (cosine, csls, sink)


def test_unknown_options_are_input_errors(embeddings):
  from selfmea_jax.errors import InputError

  q, c = embeddings
  with pytest.raises(InputError, match="unknown scoring"):
    metrics.evaluate(q, c, np.array([[0, 0]]), scoring="dot")
  with pytest.raises(InputError, match="unknown convention"):
    metrics.evaluate(q, c, np.array([[0, 0]]), convention="train")


def test_dense_sinkhorn_ranks_count_ties_and_nan_against_the_target():
  from selfmea_jax.evaluation import sinkhorn  # pylint: disable=import-outside-toplevel

  scores = np.array([[0.5, 0.5, 0.1], [np.nan, 0.2, 0.3], [0.9, 0.1, 0.2]])
  ranks, _, _ = sinkhorn.dense_ranks(scores, np.array([0, 0, 0]))
  np.testing.assert_array_equal(ranks, [2, 3, 1])  # a tie is a loss; a NaN target ranks last


@pytest.mark.parametrize("scoring", ["cosine", "csls"])
def test_one_pass_report_equals_the_separate_passes(scoring):
  rng = np.random.default_rng(5)
  emb2 = unit(rng.normal(size=(400, 16)))
  order = rng.permutation(400)
  emb1 = unit(emb2[order[:300]] + 0.25 * rng.normal(size=(300, 16)))  # KG1 row i ~ KG2 row order[i]
  emb1[7] = emb1[3]  # an exact tie between two sources
  links = np.stack([np.arange(300), order[:300]], 1)
  test, valid = links[:200], links[200:260]
  one_pass = metrics.report_one_pass(emb1, emb2, test, valid, scoring=scoring, csls_k=5)
  separate = metrics.report(emb1, emb2, test, scoring=scoring, csls_k=5)
  separate.update(metrics.report(emb1, emb2, valid, conventions=("all",), prefix="valid/"))
  assert one_pass == separate
  assert 0.2 < one_pass["all/h1"] < one_pass["test/h1"] < 1.0  # a case where the two differ


def test_bfloat16_search_ranks_stay_close_and_float32_is_exact():
  rng = np.random.default_rng(6)
  emb2 = unit(rng.normal(size=(500, 64)))
  emb1 = unit(emb2[:400] + 0.3 * rng.normal(size=(400, 64)))
  links = np.stack([np.arange(400), np.arange(400)], 1)
  wide = metrics.report_one_pass(emb1, emb2, links[:300], links[300:])
  narrow = metrics.report_one_pass(emb1, emb2, links[:300], links[300:], compute_dtype="bfloat16")
  assert wide == metrics.report_one_pass(emb1, emb2, links[:300], links[300:], compute_dtype="float32")
  for key, value in wide.items():
    assert abs(narrow[key] - value) < 0.03, (key, value, narrow[key])


def test_accelerator_topk_equals_exact_top_k_on_cpu():
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel

  from selfmea_jax.evaluation import approximate  # pylint: disable=import-outside-toplevel

  rng = np.random.default_rng(7)
  q, c = unit(rng.normal(size=(50, 16))), unit(rng.normal(size=(300, 16)))
  scores, ids = approximate.accelerator_topk(jnp.asarray(q), jnp.asarray(c), 5)
  _, exact_ids, exact_scores = blocked.search(q, c, k=5)
  np.testing.assert_array_equal(np.asarray(ids), exact_ids)
  np.testing.assert_allclose(np.asarray(scores), exact_scores, rtol=1e-6)


def test_sampled_test_queries_keep_every_candidate_and_report_standard_errors():
  rng = np.random.default_rng(8)
  emb2 = unit(rng.normal(size=(400, 16)))
  order = rng.permutation(400)
  emb1 = unit(emb2[order[:300]] + 0.3 * rng.normal(size=(300, 16)))
  links = np.stack([np.arange(300), order[:300]], 1)
  sample = np.sort(rng.choice(300, 60, replace=False))
  report = metrics.report_one_pass(emb1, emb2, links[sample], standard_errors=True, test_targets=links[:, 1])
  # Each sampled query keeps its rank among all 300 test targets / all 400 KG2 entities.
  test_ranks = brute_force_ranks(emb1[sample], emb2[links[:, 1]], sample)
  all_ranks = brute_force_ranks(emb1[sample], emb2, links[sample, 1])
  for convention, ranks in (("test", test_ranks), ("all", all_ranks)):
    hits = (ranks <= 1).astype(float)
    assert report[f"{convention}/h1"] == pytest.approx(hits.mean())
    assert report[f"{convention}/h1_se"] == pytest.approx(hits.std(ddof=1) / np.sqrt(60))
    assert report[f"{convention}/mrr_se"] == pytest.approx((1 / ranks).std(ddof=1) / np.sqrt(60))
  # Without test_targets the sample's own targets would be the candidates: an easier test.
  easier = metrics.report_one_pass(emb1, emb2, links[sample])
  assert easier["test/mrr"] > report["test/mrr"]
  assert "test/h1_se" not in easier


def test_evaluation_samples_test_links_by_seed():
  from configs import default  # pylint: disable=import-outside-toplevel
  from selfmea_jax.config_checks import validate  # pylint: disable=import-outside-toplevel
  from selfmea_jax.data.kg import AlignmentTask  # pylint: disable=import-outside-toplevel
  from selfmea_jax.errors import InputError  # pylint: disable=import-outside-toplevel
  from selfmea_jax.evaluation import evaluate  # pylint: disable=import-outside-toplevel

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
  config.eval.scoring = "csls"
  with pytest.raises(InputError, match="test_queries"):
    validate(config)
