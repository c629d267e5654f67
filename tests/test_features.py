"""Name encoders (hash, USE, e5, LaBSE code path with a tiny random BERT), cache, modality bags."""

import os

import numpy as np
import pytest

from selfmea_jax.data.kg import KnowledgeGraph
from selfmea_jax.errors import InputError
from selfmea_jax.features import attributes, cache, images, relations, text_encoders


def tiny_bert_dir(path):
  """A random-init 2-layer BERT + WordPiece tokenizer saved like a hub checkpoint."""
  from transformers import BertConfig, BertTokenizerFast, FlaxBertModel

  vocab = (
    ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    + list("abcdefghijklmnopqrstuvwxyz")
    + ["##" + c for c in "abcdefghijklmnopqrstuvwxyz"]
  )
  os.makedirs(path, exist_ok=True)
  with open(os.path.join(path, "vocab.txt"), "w", encoding="utf-8") as f:
    f.write("\n".join(vocab) + "\n")
  BertTokenizerFast(vocab_file=os.path.join(path, "vocab.txt")).save_pretrained(path)
  config = BertConfig(
    vocab_size=len(vocab),
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    max_position_embeddings=64,
  )
  FlaxBertModel(config, seed=0).save_pretrained(path)
  return path


@pytest.mark.slow
def test_labse_code_path_with_tiny_random_bert(tmp_path):
  encoder = text_encoders.make_encoder("labse", model_path=tiny_bert_dir(str(tmp_path / "bert")))
  out = text_encoders.encode_in_batches(encoder, ["alpha", "beta", "alpha"], batch_size=2)
  assert out.shape == (3, 32)
  np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
  np.testing.assert_allclose(out[0], out[2], atol=1e-5)


def test_an_encoder_that_sorts_by_length_gets_every_name_at_once(tmp_path):
  encoder = text_encoders.make_encoder("labse", model_path=tiny_bert_dir(str(tmp_path / "bert")))
  names = ["a", "a much longer name than the others", "b", "c d", "e"]
  calls = []

  def spy(batch):
    calls.append(len(batch))
    return encoder(batch)

  chunked = text_encoders.encode_in_batches(spy, names, batch_size=2)  # a plain function: chunks
  spy.sorts_by_length = True
  whole = text_encoders.encode_in_batches(spy, names, batch_size=2)
  assert calls == [2, 2, 1, 5] and encoder.sorts_by_length
  np.testing.assert_allclose(whole, chunked, atol=1e-5)  # padding never changes a vector


def test_labse_missing_model_is_a_clear_error(tmp_path):
  with pytest.raises(InputError, match="cannot load a BERT/LaBSE model"):
    text_encoders.make_encoder("labse", model_path=str(tmp_path / "nowhere"))


def test_hash_encoder_is_lexical():
  out = text_encoders.encode_in_batches(
    text_encoders.make_encoder("hash"), ["Allianz Riviera", "allianz riviera", "Tokyo Tower"], 8
  )
  assert out[0] @ out[1] > 0.99 and out[0] @ out[2] < 0.5


@pytest.mark.parametrize("name, dim", [("use", 512), ("e5", 384)])
def test_offline_multilingual_encoders(name, dim):
  encoder = text_encoders.make_encoder(name)
  out = text_encoders.encode_in_batches(encoder, ["東京タワー", "Tokyo Tower", "Banana"], 8)
  assert out.shape == (3, dim)
  assert out[0] @ out[1] > out[0] @ out[2]


def test_unknown_encoder():
  with pytest.raises(InputError, match="unknown name encoder"):
    text_encoders.make_encoder("glove")


def test_cache_round_trip_and_staleness(tmp_path, capsys):
  stem = cache.cache_stem(str(tmp_path), "pair", "name-x-uri", 1)
  x = np.arange(6, dtype=np.float32).reshape(3, 2)
  cache.save_features(stem, x, {"encoder": "x", "names_sha256": "abc"})
  np.testing.assert_array_equal(cache.load_features(stem, {"encoder": "x"}), x)
  assert cache.load_features(stem, {"names_sha256": "def"}) is None  # other names: computed again
  assert "cached from other inputs (names_sha256 differ)" in capsys.readouterr().err
  assert cache.load_features(stem + "missing") is None


def kg(uris, triples, rels):
  n = len(uris)
  return KnowledgeGraph(
    names=uris,
    uris=uris,
    triples=np.array(triples, np.int32).reshape(-1, 3),
    relation_names=rels,
    source_rows=np.arange(n),
    source_ids=np.arange(n) + 100,
  )


def test_relation_bags_share_local_names():
  kg1 = kg(["a", "b"], [[0, 0, 1], [0, 1, 1]], ["http://ja.dbpedia.org/property/birthPlace", "x/p"])
  kg2 = kg(["c", "d"], [[1, 0, 0]], ["http://dbpedia.org/property/birthPlace"])
  vocab = relations.relation_vocabulary([kg1, kg2], top_k=1)
  assert vocab == ["birthplace"]
  bags1, bags2 = (relations.relation_bags(g, vocab) for g in (kg1, kg2))
  np.testing.assert_allclose(bags1[:, 0], np.log1p([1, 1]))
  np.testing.assert_allclose(bags2[:, 0], np.log1p([1, 1]))


def test_image_table_fill_and_mask(tmp_path):
  import pickle

  graph = kg(["a", "b", "c"], [[0, 0, 1]], ["r"])
  path = str(tmp_path / "img.pkl")
  with open(path, "wb") as f:
    pickle.dump({100: np.ones(4), 102: np.zeros(4)}, f)
  feats, mask = images.image_features(graph, images.read_image_table(path))
  np.testing.assert_array_equal(mask, [True, False, True])
  np.testing.assert_array_equal(feats[0], 1.0)
  assert np.isfinite(feats[1]).all() and feats.shape == (3, 4)
  with pytest.raises(InputError, match="image feature file not found"):
    images.read_image_table(str(tmp_path / "none.pkl"))


def test_attribute_file(tmp_path):
  graph = kg(["http://x/a", "http://x/b"], [[0, 0, 1]], ["r"])
  path = tmp_path / "attrs"
  path.write_text("http://x/a\thttp://x/p/Height\thttp://x/p/name\nhttp://x/b\thttp://x/p/name\n")
  per = attributes.read_attribute_file(str(path), graph)
  vocab = attributes.attribute_vocabulary([per], 1)
  assert vocab == ["name"]
  np.testing.assert_array_equal(attributes.attribute_bags(per, vocab), [[1], [1]])
  path.write_text("http://x/zz\tp\n")
  with pytest.raises(InputError, match="attrs:1: unknown entity"):
    attributes.read_attribute_file(str(path), graph)


def test_default_logs_drop_third_party_info_but_keep_warnings():
  import logging as std_logging  # pylint: disable=import-outside-toplevel

  from selfmea_jax.log_filters import DropThirdPartyInfo  # pylint: disable=import-outside-toplevel

  def record(path, level):
    return std_logging.LogRecord("absl", level, path, 1, "msg", None, None)

  quiet = DropThirdPartyInfo()
  assert not quiet.filter(record("/site-packages/orbax/checkpoint/checkpoint_manager.py", std_logging.INFO))
  assert quiet.filter(record("/site-packages/orbax/checkpoint/checkpoint_manager.py", std_logging.WARNING))
  assert quiet.filter(record("/work/selfmea_jax/align/run.py", std_logging.INFO))


def test_non_finite_features_are_reported_with_file_and_row(tmp_path):
  import pickle  # pylint: disable=import-outside-toplevel

  from selfmea_jax.errors import InputError  # pylint: disable=import-outside-toplevel
  from selfmea_jax.features import cache, images  # pylint: disable=import-outside-toplevel

  features = np.ones((5, 3), np.float32)
  features[3, 1] = np.nan
  stem = str(tmp_path / "names_kg1")
  cache.save_features(stem, features, {"encoder": "x"})
  with pytest.raises(InputError, match=r"names_kg1.npy: non-finite value .* in row 3"):
    cache.load_features(stem, {"encoder": "x"})
  path = tmp_path / "images.pkl"
  with open(path, "wb") as f:
    pickle.dump({7: np.ones(4), 9: np.array([1.0, np.inf, 0.0, 0.0])}, f)
  with pytest.raises(InputError, match="entity id 9"):
    images.read_image_table(str(path))


def test_labse_without_a_local_copy_or_hub_is_a_clear_error(monkeypatch):
  from selfmea_jax.errors import InputError  # pylint: disable=import-outside-toplevel

  monkeypatch.setattr(text_encoders, "hub_reachable", lambda *a, **k: False)
  with pytest.raises(InputError, match="cannot load a BERT/LaBSE model"):
    text_encoders.labse_encoder("nobody/no-such-labse-model")


def test_float16_name_caches_halve_the_file_and_reuse_the_float32_encoding(tmp_path, monkeypatch):
  from selfmea_jax.data.synthetic import SyntheticSpec, make_synthetic_pair  # pylint: disable=import-outside-toplevel
  from selfmea_jax.features import names, text_encoders  # pylint: disable=import-outside-toplevel

  task = make_synthetic_pair(SyntheticSpec(num_entities=300), seed=0).task
  wide = names.name_features(task, str(tmp_path), "hash", local_order=False)
  monkeypatch.setattr(text_encoders, "make_encoder", lambda *a, **k: pytest.fail("re-encoded"))
  narrow = names.name_features(task, str(tmp_path), "hash", local_order=False, dtype="float16")
  assert narrow[0].dtype == np.float16 and isinstance(narrow[0], np.memmap)
  np.testing.assert_allclose(np.asarray(narrow[0], np.float32), wide[0], atol=1e-3)
  stem = cache.cache_stem(str(tmp_path), task.name, "name-hash-uri", 1)
  assert os.path.getsize(stem + "-float16.npy") < 0.6 * os.path.getsize(stem + ".npy")
  in_memory = names.name_features(task, str(tmp_path), "hash", dtype="float16")  # local order
  assert in_memory[0].dtype == np.float32


def test_a_source_that_leaves_the_names_as_they_are_shares_the_uri_cache(tmp_path, monkeypatch):
  from selfmea_jax.data.synthetic import SyntheticSpec, make_synthetic_pair  # pylint: disable=import-outside-toplevel
  from selfmea_jax.features import names  # pylint: disable=import-outside-toplevel

  task = make_synthetic_pair(SyntheticSpec(num_entities=200), seed=0).task  # Latin names: none glossed
  plain = names.name_features(task, str(tmp_path), "hash")
  monkeypatch.setattr(text_encoders, "make_encoder", lambda *a, **k: pytest.fail("re-encoded"))
  glossed = names.name_features(task, str(tmp_path), "hash", source="glossed")
  for a, b in zip(plain, glossed):
    np.testing.assert_array_equal(a, b)
  assert not os.path.exists(cache.cache_stem(str(tmp_path), task.name, "name-hash-glossed", 1) + ".npy")
