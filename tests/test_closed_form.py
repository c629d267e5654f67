"""Closed-form values of the training and decision maths: InfoNCE, NCA, the queue ring
buffer, the EMA, the masked graph attention, and the abstention, calibration and confidence
measures, each against a hand computation."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse

from selfmea_jax.matching import confidence, decoding, metrics
from selfmea_jax.matching.candidates import CandidateGraph
from selfmea_jax.models.graph_attention import CentreGraphAttention
from selfmea_jax.train import losses
from selfmea_jax.train.state import ema, enqueue


def test_queue_infonce_on_a_two_negative_case():
  q = jnp.array([[1.0, 0.0]])
  k = jnp.array([[1.0, 0.0]])  # positive logit 1 / T
  queue = jnp.array([[0.0, 1.0], [-1.0, 0.0]])  # negative logits 0 and -1 / T
  loss = losses.queue_infonce(q, k, queue, temperature=0.5)
  expected = -math.log(math.exp(2.0) / (math.exp(2.0) + math.exp(0.0) + math.exp(-2.0)))
  np.testing.assert_allclose(float(loss), expected, rtol=1e-6)


def naive_nca(left, right, weights, alpha, beta, margin):
  """The NCA / multi-similarity loss written out term by term."""
  sim = left @ right.T
  total = 0.0
  real = [i for i in range(len(weights)) if weights[i] > 0]
  for i in real:
    rows = sum(math.exp(alpha * (sim[i, j] - margin)) for j in real if j != i)
    cols = sum(math.exp(alpha * (sim[j, i] - margin)) for j in real if j != i)
    pos = math.log(1.0 + math.exp(-beta * (sim[i, i] - margin))) / beta
    total += math.log(1.0 + rows) / alpha + math.log(1.0 + cols) / alpha + 2.0 * pos
  return total / max(len(real), 1)


def test_nca_matches_the_written_out_formula_with_padding():
  rng = np.random.default_rng(0)
  left = rng.normal(size=(6, 4))
  left /= np.linalg.norm(left, axis=1, keepdims=True)
  right = left + 0.3 * rng.normal(size=(6, 4))
  right /= np.linalg.norm(right, axis=1, keepdims=True)
  weights = np.array([1, 1, 1, 1, 0, 0], np.float32)  # two padding rows
  for alpha, beta, margin in ((5.0, 10.0, 0.5), (15.0, 10.0, 0.2)):
    got = losses.nca_loss(
      jnp.asarray(left, jnp.float32),
      jnp.asarray(right, jnp.float32),
      jnp.asarray(weights),
      alpha,
      beta,
      margin,
    )
    np.testing.assert_allclose(float(got), naive_nca(left, right, weights, alpha, beta, margin), rtol=1e-5)


def test_queue_ring_buffer_wraps_around():
  queue = jnp.zeros((4, 1))
  queue, pos = enqueue(queue, jnp.int32(2), jnp.array([[1.0], [2.0]]))
  assert int(pos) == 0  # 2 + 2 wraps to row 0
  queue, pos = enqueue(queue, pos, jnp.array([[3.0], [4.0]]))
  np.testing.assert_array_equal(np.asarray(queue)[:, 0], [3.0, 4.0, 1.0, 2.0])
  assert int(pos) == 2


def test_ema_moves_the_momentum_encoder_a_fraction_towards_the_online_one():
  momentum_params = {"w": jnp.array([1.0, -2.0])}
  params = {"w": jnp.array([3.0, 2.0])}
  out = ema(momentum_params, params, momentum=0.75)
  np.testing.assert_allclose(np.asarray(out["w"]), [1.5, -1.0], rtol=1e-7)  # .75 k + .25 q
  np.testing.assert_array_equal(np.asarray(ema(momentum_params, params, 1.0)["w"]), [1.0, -2.0])


def test_attention_is_a_masked_softmax_over_the_neighbourhood():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(2, 4, 3)).astype(np.float32)
  mask = np.array([[True, True, False, True], [True, False, False, False]])
  module = CentreGraphAttention(features=3)  # identity init: h = x
  params = module.init(jax.random.PRNGKey(0), x, mask)
  a_src = np.asarray(params["params"]["a_src"]["kernel"])[:, 0]
  a_dst = np.asarray(params["params"]["a_dst"]["kernel"])[:, 0]
  out = np.asarray(module.apply(params, x, mask))
  for b in range(2):
    e = np.tanh(x[b, 0]) @ a_src + np.tanh(x[b]) @ a_dst
    e = np.where(e > 0, e, 0.2 * e)
    w = np.where(mask[b], np.exp(e - e[mask[b]].max()), 0.0)
    np.testing.assert_allclose(out[b], (w / w.sum()) @ x[b], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(out[1], x[1, 0], rtol=1e-6)  # only the centre: itself
  changed = x.copy()
  changed[0, 2] = 100.0  # a masked-out slot has no influence
  np.testing.assert_array_equal(np.asarray(module.apply(params, changed, mask)), out)


def test_abstention_metrics_count_pairs_and_abstentions_by_hand():
  # Sources 0-3 have gold partners 10-13; sources 4 and 5 have none (dangling).
  links = np.array([[0, 10], [1, 11], [2, 12], [3, 13]])
  assignment = np.array([10, 11, 99, 13, 14, -1])
  match = np.array([True, True, True, False, True, False])
  out = metrics.abstention_metrics(assignment, match, links, np.array([4, 5]))
  # decided pairs: 0, 1, 2 (wrong), 4 (dangling, wrong) -> 2 correct of 4; recall 2 of 4 gold
  assert out["end_to_end/precision"] == 0.5 and out["end_to_end/recall"] == 0.5
  # no_match: sources 3 and 5; truly dangling among them: 5 -> precision 1/2, recall 1/2
  assert out["detection/precision"] == 0.5 and out["detection/recall"] == 0.5
  assert out["detection/f1"] == 0.5
  assert "detection/f1" not in metrics.abstention_metrics(assignment, match, links, np.array([], int))


def test_detection_ceiling_is_the_f1_of_perfect_decisions():
  links = np.array([[0, 10], [1, 11], [2, 12], [3, 13]])
  assignment = np.array([10, 11, 99, 13, 14, -1])  # source 2 wrong; 4 and 5 dangling
  perfect = np.array([True, True, False, True, False, False])  # `match` exactly where right
  out = metrics.abstention_metrics(assignment, perfect, links, np.array([4, 5]))
  # no_match: 2 (linked, wrong), 4, 5 -> precision 2/3, recall 1 -> F1 .8 = 2d / (2d + w), d=2, w=1
  assert out["detection/f1"] == pytest.approx(0.8) and out["detection/f1_ceiling"] == pytest.approx(0.8)
  everything = metrics.abstention_metrics(assignment, np.ones(6, bool), links, np.array([4, 5]))
  assert everything["detection/f1_ceiling"] == pytest.approx(0.8)  # the decisions do not move it


def test_expected_calibration_error_and_precision_at_coverage_by_hand():
  confidence = np.array([0.95, 0.95, 0.55, 0.55])
  correct = np.array([1, 1, 1, 0])
  # bin [0.9, 1): confidence .95, accuracy 1 -> .05; bin [0.5, 0.6): .55 vs .5 -> .05; both half
  assert metrics.expected_calibration_error(confidence, correct) == pytest.approx(0.05)
  coverage = metrics.precision_at_coverage(confidence, correct, coverages=(0.5, 1.0))
  assert coverage == {"coverage/0.5": 1.0, "coverage/1.0": 0.75}


def _no_edges(n1: int, n2: int):
  """Both KGs' adjacency without any edge (every neighbour support is 0)."""
  return scipy.sparse.csr_matrix((n1, n1), dtype=np.float32), scipy.sparse.csr_matrix(
    (n2, n2), dtype=np.float32
  )


def test_confidence_is_the_transport_mass_or_the_row_softmax():
  scores = np.array([[0.9, 0.1], [0.2, 0.8]], np.float32)
  rows, cols = (a.ravel().astype(np.int32) for a in np.meshgrid([0, 1], [0, 1], indexing="ij"))
  graph = CandidateGraph(rows, cols, scores.ravel(), 2, 2, -np.sort(-scores, 1), -np.sort(-scores.T, 1))
  cosine = decoding.Decoder(scoring="cosine", sinkhorn_temperature=0.1)
  decoded = decoding.decode_graph(graph, cosine)
  softmax = [np.exp(9) / (np.exp(9) + np.exp(1)), np.exp(8) / (np.exp(8) + np.exp(2))]  # scores / 0.1
  np.testing.assert_allclose(confidence.confidences(decoded, cosine, _no_edges(2, 2)), softmax, rtol=1e-6)
  sinkhorn = decoding.Decoder(scoring="sinkhorn", assignment="hungarian", sinkhorn_temperature=0.1)
  planned = decoding.decode_graph(graph, sinkhorn)
  np.testing.assert_allclose(
    confidence.confidences(planned, sinkhorn, _no_edges(2, 2)), np.exp(planned.scores[[0, 3]]), rtol=1e-6
  )
  unmatched = dataclasses.replace(decoded, assignment=np.array([0, -1]))
  assert confidence.confidences(unmatched, cosine, _no_edges(2, 2))[1] == 0.0


def _full_graph(scores: np.ndarray) -> CandidateGraph:
  n1, n2 = scores.shape
  rows, cols = (a.ravel().astype(np.int32) for a in np.meshgrid(np.arange(n1), np.arange(n2), indexing="ij"))
  return CandidateGraph(
    rows, cols, scores.ravel().astype(np.float32), n1, n2, -np.sort(-scores, 1), -np.sort(-scores.T, 1)
  )


def test_sinkhorn_keeps_each_entity_of_the_smaller_side_at_mass_one():
  # One KG1 entity, two KG2 entities: its row is the softmax; the spare column is not pulled
  # up to mass 1 (uniform marginals would give the row mass 2).
  graph = _full_graph(np.array([[0.9, 0.1]]))
  plan = np.exp(decoding.sinkhorn_scores(graph, graph.scores, temperature=0.1, iterations=50))
  np.testing.assert_allclose(
    plan, [np.exp(9) / (np.exp(9) + np.exp(1)), np.exp(1) / (np.exp(9) + np.exp(1))], rtol=1e-5
  )
  transposed = _full_graph(np.array([[0.9], [0.1]]))  # the same with the sides swapped
  np.testing.assert_allclose(
    np.exp(decoding.sinkhorn_scores(transposed, transposed.scores, 0.1, 50)), plan, rtol=1e-5
  )


def test_pair_features_are_the_probability_logit_and_both_margins():
  graph = _full_graph(np.array([[0.9, 0.1], [0.2, 0.8]]))
  cosine = decoding.Decoder(scoring="cosine", sinkhorn_temperature=0.1)
  decoded = decoding.decode_graph(graph, cosine)
  features, rows = confidence.pair_features(decoded, cosine, _no_edges(2, 2))
  assert rows.tolist() == [0, 1]
  np.testing.assert_allclose(features[:, 0], [9 - 1, 8 - 2], rtol=1e-5)  # logit of a 2-way softmax
  np.testing.assert_allclose(features[:, 1], [0.9 - 0.1, 0.8 - 0.2], rtol=1e-5)  # row margins
  np.testing.assert_allclose(features[:, 2], [0.9 - 0.2, 0.8 - 0.1], rtol=1e-5)  # column margins
  # the identity calibration on the logit gives back the decoder probability
  identity = dataclasses.replace(cosine, calibration=(1.0, 0.0, 0.0, 0.0))
  np.testing.assert_allclose(
    confidence.confidences(decoded, identity, _no_edges(2, 2)),
    confidence.confidences(decoded, cosine, _no_edges(2, 2)),
  )
  shifted = dataclasses.replace(cosine, calibration=(0.0, 10.0, 0.0, -7.0))  # sigmoid(10 * row margin - 7)
  np.testing.assert_allclose(
    confidence.confidences(decoded, shifted, _no_edges(2, 2)),
    1 / (1 + np.exp(-np.array([1.0, -1.0]))),
    rtol=1e-5,
  )


def test_neighbour_support_of_the_decoded_pairs_is_the_fourth_feature():
  # KG1: 0-1, 0-2; KG2: 0-1 (2 is isolated); decoded identity. (0, 0): of 0's neighbours
  # {1, 2}, the partner 1 is a neighbour of 0 in KG2 -> 1 / sqrt(2 * 1); (1, 1): 1 / sqrt(1 * 1);
  # (2, 2): KG2's 2 has no neighbour -> 0.
  def adjacency(n, edges):
    a = scipy.sparse.lil_matrix((n, n), dtype=np.float32)
    for u, v in edges:
      a[u, v] = a[v, u] = 1.0
    return a.tocsr()

  adjacencies = adjacency(3, [(0, 1), (0, 2)]), adjacency(3, [(0, 1)])
  graph = _full_graph(np.array([[0.9, 0.1, 0.2], [0.1, 0.8, 0.3], [0.2, 0.1, 0.7]]))
  cosine = decoding.Decoder(scoring="cosine", sinkhorn_temperature=0.1)
  decoded = decoding.decode_graph(graph, cosine)
  features, rows = confidence.pair_features(decoded, cosine, adjacencies)
  assert rows.tolist() == [0, 1, 2] and confidence.FEATURES[3] == "neighbour_support"
  np.testing.assert_allclose(features[:, 3], [1 / math.sqrt(2), 1.0, 0.0], rtol=1e-6)
  with_support = dataclasses.replace(cosine, calibration=(0.0, 0.0, 0.0, 4.0, -2.0))
  np.testing.assert_allclose(
    confidence.confidences(decoded, with_support, adjacencies),
    1 / (1 + np.exp(-(4.0 * features[:, 3] - 2.0))),
    rtol=1e-6,
  )
  # the three-feature form (three weights and the bias) leaves the support out
  three = dataclasses.replace(cosine, calibration=(0.0, 0.0, 0.0, -2.0))
  np.testing.assert_allclose(
    confidence.confidences(decoded, three, adjacencies), 1 / (1 + np.exp(2.0)), rtol=1e-6
  )


def test_the_calibration_fit_recovers_a_known_logistic_model():
  rng = np.random.default_rng(0)
  features = rng.normal(size=(20000, 3))
  truth = np.array([1.5, -2.0, 0.5, 0.3])
  correct = rng.random(20000) < 1 / (1 + np.exp(-(features @ truth[:3] + truth[3])))
  np.testing.assert_allclose(confidence.fit(features, correct, l2=0.0), truth, atol=0.08)


def test_the_sinkhorn_kernel_runs_from_the_cosine_to_half_the_csls_score():
  graph = _full_graph(np.array([[0.9, 0.1, 0.3], [0.2, 0.8, 0.4]]))
  for weight in (0.0, 0.5, 1.0):
    decoder = decoding.Decoder(scoring="sinkhorn", csls_k=2, sinkhorn_csls_weight=weight)
    expected = graph.scores - weight * (graph.scores - decoding.csls_scores(graph, 2) / 2)
    np.testing.assert_allclose(decoding.sinkhorn_kernel(graph, decoder), expected, rtol=1e-6)
