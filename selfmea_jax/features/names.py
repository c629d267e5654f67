"""Name embeddings for a task's two KGs, computed once and cached in source-file order."""

from __future__ import annotations

from absl import logging
import ml_collections
import numpy as np

from selfmea_jax.data.kg import TRANSLATED_SOURCES, AlignmentTask, KnowledgeGraph
from selfmea_jax.errors import InputError, warn
from selfmea_jax.features import bert_encoder, cache, gloss, romanise, text_encoders

NAME_SOURCES = ("uri", *TRANSLATED_SOURCES, "romanised", "glossed", "read_as_japanese")
CHINESE_ONLY_SOURCES = ("glossed", "read_as_japanese")  # other KGs' names stay as they are
MAX_NAME_CHARS = 512  # a name is cut here before encoding (a 1.2 MB "name" took e5 11.6 min)
FEATURE_DTYPES = ("float32", "float16")


def kg_names(kg: KnowledgeGraph, source: str) -> list[str]:
  """Names in local order from `uri` (original language), `translated` (machine-translated,
  DBP15K's lower-case tokens), `translated_cased` (machine-translated cased titles, DBP15K's
  `ent_ids_1_trans_goo`), `romanised` (the original names read in Latin letters,
  features/romanise.py), `glossed` (Chinese names read in English dictionary glosses,
  features/gloss.py) or `read_as_japanese` (Chinese names read as Japanese kanji,
  features/romanise.py); those last two leave other KGs' names unchanged. An entity without a
  translation keeps its original name."""
  if source == "uri":
    return kg.names
  if source == "romanised":
    return romanise.romanised(kg.names)
  if source == "glossed":
    return gloss.glossed(kg.names)
  if source == "read_as_japanese":
    return romanise.read_as_japanese(kg.names)
  if source in TRANSLATED_SOURCES:
    translations = kg.translations(source)
    if translations is None:
      raise InputError(
        f"name_source={source!r} but this dataset has no such translated names (DBP15K: the "
        "pair's names/ folder; your own KGs: translated_names_1 / translated_names_2 beside the triples)"
      )
    missing = kg.num_missing_translations(source)
    if 0 < missing < kg.num_entities:  # none at all: an English KG (views.py logs both KGs' counts)
      logging.info(
        "%d of %d entities have no %s name; their original name is used", missing, kg.num_entities, source
      )
    return [t or n for t, n in zip(translations, kg.names)]
  raise InputError(f"unknown name source {source!r}; choose one of {NAME_SOURCES}")


def name_encoder_kwargs(config: ml_collections.ConfigDict, encoder: str) -> dict:
  """Constructor arguments of a name encoder that come from the config (LaBSE's model path,
  the JAX e5's converted weights' directory)."""
  if encoder == "labse":
    return {"model_path": config.data.labse_path}
  return {"cache_dir": weights_dir(config)} if encoder == "e5jax" else {}


def weights_dir(config: ml_collections.ConfigDict) -> str:
  """Where converted model weights are kept: data.weights_dir, or the cache directory."""
  return config.data.get("weights_dir") or config.data.cache_dir


def to_file_order(values: list[str], source_rows: np.ndarray) -> list[str]:
  out = [""] * len(values)
  for local, row in enumerate(source_rows):
    out[row] = values[local]
  return out


def capped(names: list[str], what: str) -> list[str]:
  """names cut to MAX_NAME_CHARS characters, with a warning that counts the cut ones."""
  long = [i for i, name in enumerate(names) if len(name) > MAX_NAME_CHARS]
  if long:
    warn(
      f"{what}: {len(long)} names longer than {MAX_NAME_CHARS} characters are cut there before "
      f"encoding (the longest: {max(len(names[i]) for i in long):,} characters)"
    )
  return [name[:MAX_NAME_CHARS] for name in names] if long else names


def name_features(
  task: AlignmentTask,
  cache_dir: str,
  encoder: str,
  source: str = "uri",
  batch_size: int = 256,
  encoder_kwargs: dict | None = None,
  local_order: bool = True,
  dtype: str = "float32",
  tuned_layers: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
  """Unit-norm name embeddings of both KGs, computed once and cached on disk.

  local_order=True returns in-memory float32 [n_k, d] arrays in local-index order; False
  returns the memory-mapped caches in source-file order (index them with kg.source_rows),
  stored as `dtype` (float16 halves disk and page cache; readers up-cast to float32). A
  float16 cache is converted from an existing float32 one instead of re-encoding.
  tuned_layers > 0 (a BERT encoder whose top layers a fine-tuning trains later): the hidden
  states below those layers are computed first and cached (kg_layer_inputs), and the vectors
  are encoded from them, so that the frozen layers run once per name for both.
  """
  if dtype not in FEATURE_DTYPES:
    raise InputError(f"unknown feature dtype {dtype!r}; choose one of {FEATURE_DTYPES}")
  out, make = [], None
  for kg_number, kg in ((1, task.kg1), (2, task.kg2)):
    local_names = kg_names(kg, source)
    # A source that leaves a KG's names as they are (an English KG glossed or translated)
    # shares the `uri` cache instead of encoding the same names again.
    stored_as = "uri" if local_names == kg.names else source
    kind = f"name-{encoder}-{stored_as}"
    names = capped(to_file_order(local_names, kg.source_rows), f"KG{kg_number}")
    expected = {"encoder": encoder, "source": stored_as, "names_sha256": cache.names_digest(names)}
    stem = cache.cache_stem(cache_dir, task.name, kind, kg_number)
    narrow = stem + "-float16" if dtype == "float16" else None
    features = cache.load_features(narrow, expected) if narrow else None
    if features is None:
      features = cache.load_features(stem, expected)
      if features is None:
        make = make or text_encoders.make_encoder(encoder, **(encoder_kwargs or {}))
        bert = isinstance(make, bert_encoder.BertEncoder)
        below = make.first_trained_layer(tuned_layers) if bert else 0  # 0: not tuned
        if below:
          inputs = kg_layer_inputs(task.name, kg, kg_number, cache_dir, make, encoder, stored_as, below)
          features = np.empty((len(names), make.module.config.hidden_size), np.float32)
          features[kg.source_rows] = text_encoders.l2_normalise(make.encode(inputs))
        else:
          features = text_encoders.encode_in_batches(
            make, names, batch_size, desc=f"{encoder} names KG{kg_number}"
          )
        if narrow is None:
          cache.save_features(stem, features, expected)
      if narrow is not None:
        cache.save_features(narrow, np.asarray(features, np.float16), expected)
        features = cache.load_features(narrow, expected)
    out.append(np.asarray(features[kg.source_rows], np.float32) if local_order else features)
  return out[0], out[1]


def cached_layer_inputs(
  task: AlignmentTask,
  cache_dir: str,
  encoder: bert_encoder.BertEncoder,
  encoder_name: str,
  source: str,
  first_layer: int,
) -> list[bert_encoder.LayerInputs]:
  """Both KGs' kg_layer_inputs."""
  return [
    kg_layer_inputs(task.name, kg, kg_number, cache_dir, encoder, encoder_name, source, first_layer)
    for kg_number, kg in ((1, task.kg1), (2, task.kg2))
  ]


def kg_layer_inputs(
  dataset: str,
  kg: KnowledgeGraph,
  kg_number: int,
  cache_dir: str,
  encoder: bert_encoder.BertEncoder,
  encoder_name: str,
  source: str,
  first_layer: int,
) -> bert_encoder.LayerInputs:
  """One KG's names (local order) as encoder.inputs(names, first_layer)
  (bert_encoder.LayerInputs): with first_layer > 0 the hidden states below it, computed once
  and cached (float32, real positions only) beside the name vectors, so that a later
  fine-tuning of the layers above starts from them."""
  names = capped(kg_names(kg, source), f"KG{kg_number} names")
  if first_layer == 0:  # token ids: nothing to compute
    return encoder.inputs(names)
  expected = {"encoder": encoder_name, "source": source, "names_sha256": cache.names_digest(names)}
  expected["first_layer"] = first_layer
  kind = f"layers-below-{first_layer}-{encoder_name}-{source}"
  stem = cache.cache_stem(cache_dir, dataset, kind, kg_number)
  states, lengths = cache.load_features(stem, expected), cache.load_features(stem + "-lengths", expected)
  if states is None or lengths is None or len(lengths) != len(names) or int(lengths.sum()) != len(states):
    inputs = encoder.inputs(names, first_layer)
    states, lengths = inputs.flat()
    cache.save_features(stem, states, expected)
    cache.save_features(stem + "-lengths", lengths, expected)
    return inputs
  flat, lengths = np.asarray(states), np.asarray(lengths)
  return bert_encoder.LayerInputs.from_flat(first_layer, flat, lengths, encoder.batch_size)
