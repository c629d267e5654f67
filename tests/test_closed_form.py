"""Closed-form values of the training maths: InfoNCE, NCA, the queue ring buffer, the EMA
and the masked graph attention, each against a hand computation."""

import math

import jax
import jax.numpy as jnp
import numpy as np

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
