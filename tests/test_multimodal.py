"""SelfMEA parts: fusion, NCA loss, pseudo-seeds, and that each modality's signal is used."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from selfmea_jax.models.fusion import EntityEncoder, modality_weights
from selfmea_jax.train import loop, losses, pseudo_seeds


def test_fusion_outputs_are_unit_and_weights_sum_to_one():
  rng = np.random.default_rng(0)
  inputs = {
    "neighbours": rng.normal(size=(4, 3, 8)).astype(np.float32),
    "mask": np.ones((4, 3), bool),
    "relation": rng.normal(size=(4, 5)).astype(np.float32),
    "image": rng.normal(size=(4, 6)).astype(np.float32),
  }
  model = EntityEncoder(extra_modalities=("relation", "image"), projection_dim=7)
  params = model.init(jax.random.PRNGKey(0), inputs)
  out = model.apply(params, inputs)
  assert out["graph"].shape == (4, 8) and out["relation"].shape == (4, 7) and out["joint"].shape == (4, 22)
  for value in out.values():
    np.testing.assert_allclose(np.linalg.norm(value, axis=1), 1.0, rtol=1e-5)
  weights = modality_weights(params, ("relation", "image"))
  assert set(weights) == {"graph", "relation", "image"} and sum(weights.values()) == pytest.approx(1.0)


def test_nca_prefers_aligned_pairs_and_ignores_padding():
  rng = np.random.default_rng(1)
  left = rng.normal(size=(16, 8))
  left /= np.linalg.norm(left, axis=1, keepdims=True)
  ones = jnp.ones(16)
  aligned = losses.nca_loss(jnp.asarray(left), jnp.asarray(left), ones, 5.0, 10.0)
  shuffled = losses.nca_loss(jnp.asarray(left), jnp.asarray(left[rng.permutation(16)]), ones, 5.0, 10.0)
  assert aligned < shuffled
  weights = jnp.concatenate([jnp.ones(8), jnp.zeros(8)])
  garbage = np.concatenate([left[:8], rng.normal(size=(8, 8))])
  np.testing.assert_allclose(
    losses.nca_loss(jnp.asarray(left[:8]), jnp.asarray(left[:8]), jnp.ones(8), 5.0, 10.0),
    losses.nca_loss(jnp.asarray(left), jnp.asarray(garbage), weights, 5.0, 10.0),
    rtol=1e-5,
  )
  assert np.isfinite(losses.nca_loss(jnp.asarray(left), jnp.asarray(left), jnp.zeros(16), 5.0, 10.0))


def test_mutual_nearest_neighbours_window_and_one_to_one():
  rng = np.random.default_rng(2)
  emb = rng.normal(size=(50, 16)).astype(np.float32)
  perm = rng.permutation(50)
  pairs = pseudo_seeds.mutual_nearest_neighbours(emb, emb[np.argsort(perm)])
  assert len(pairs) == 50 and (np.argsort(perm)[pairs[:, 1]] == pairs[:, 0]).all()
  streaks, confirmed = pseudo_seeds.confirm(np.zeros((0, 3), np.int32), pairs[:10], window=2)
  assert len(confirmed) == 0
  streaks, confirmed = pseudo_seeds.confirm(streaks, pairs[5:15], window=2)
  np.testing.assert_array_equal(confirmed, pairs[5:10])
  merged = pseudo_seeds.merge_one_to_one(np.array([[pairs[5, 0], 99]], np.int32), confirmed)
  assert len(merged) == 5 and len(set(merged[:, 0])) == 5
  gold = np.array([[0, 10], [1, 11], [2, 12], [3, 13]])
  judged = np.array([[0, 10], [1, 11], [2, 99], [3, 13], [7, 17]])  # 3 of 4 right; 7 unknown
  assert pseudo_seeds.precision(judged, gold) == 0.75
  assert pseudo_seeds.precision(judged[4:], gold) == 0.0  # nothing judgeable


def run(config, tmp_path, name, **changes):
  config = config.copy_and_resolve_references()
  config.data.synthetic.num_entities = 2000
  config.train.num_epochs = 4
  config.train.checkpoint_every_steps = 1000
  for key, value in changes.items():
    section, field = key.split("__")
    config[section][field] = value
  return loop.train(config, str(tmp_path / name)).results["best"]["all/h1"]


@pytest.fixture(scope="module")
def graph_only(small_config_factory, tmp_path_factory):
  """All-KG2 H@1 of the graph/name channel alone (the baseline of the modality tests)."""
  return run(small_config_factory(), tmp_path_factory.mktemp("graph_only"), "graph")


@pytest.mark.slow
@pytest.mark.parametrize("modality", ["relation", "image", "attribute"])
def test_fusion_uses_each_modality(small_config, tmp_path, graph_only, modality):
  fused = run(small_config, tmp_path, modality, data__modalities=(modality,))
  assert fused > graph_only + 0.02, (modality, graph_only, fused)


@pytest.mark.slow
def test_nca_with_iterative_pseudo_seeds_helps(small_config, tmp_path, graph_only):
  iterative = run(small_config, tmp_path, "iterative", train__nca_weight=1.0, train__iterative=True)
  assert iterative > graph_only


def test_bfloat16_compute_keeps_float32_params_and_unit_outputs_close_to_float32():
  rng = np.random.default_rng(3)
  batch = {
    "neighbours": rng.normal(size=(8, 5, 16)).astype(np.float32),
    "mask": np.ones((8, 5), bool),
    "relation": rng.random((8, 11)).astype(np.float32),
  }
  wide = EntityEncoder(extra_modalities=("relation",), projection_dim=7)
  narrow = EntityEncoder(extra_modalities=("relation",), projection_dim=7, dtype=jnp.bfloat16)
  params = wide.init(jax.random.PRNGKey(0), batch)
  assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(narrow.init(jax.random.PRNGKey(0), batch)))
  out32, out16 = wide.apply(params, batch), narrow.apply(params, batch)
  for key in out32:
    assert out16[key].dtype == jnp.float32
    np.testing.assert_allclose(np.linalg.norm(out16[key], axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out16[key], out32[key], atol=3e-2)
    assert not np.array_equal(out16[key], out32[key])  # the bfloat16 path really ran
