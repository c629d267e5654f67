"""BERT-shaped sentence encoders in JAX on transformers' FlaxBertModule, one code path:

- e5 (multilingual-e5-small): the XLM-R unigram tokenizer (`tokenizers`) and the weights of
  features/e5_weights.py; `query: ` prefix, mean pooling;
- LaBSE (the papers' encoder, when its weights are present): its own WordPiece tokenizer and
  weights through transformers, the pooler output.

Encoding is jitted over length buckets: names are sorted by token count and batched, each
batch padded to the next bucket length (a few compiled shapes in all), computed in
`compute_dtype` (bfloat16 on accelerators, float32 on the CPU by default).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import copy
import dataclasses
import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from selfmea_jax.features import e5_weights

BUCKETS = (8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)
PREFIX = "query: "


class UnigramTokenizer:
  """The e5 / XLM-R tokenizer: per-codepoint normalisation, runs of spaces collapsed, `▁`
  metaspace prepended, then the unigram Viterbi of `tokenizers` over the pieces' scores."""

  def __init__(self, vocab: e5_weights.Vocabulary):
    from tokenizers import (
      Regex,
      Tokenizer,
      models,
      normalizers,
      pre_tokenizers,
    )  # lazy: optional heavy dependency

    pieces = list(zip(vocab.pieces, map(float, vocab.scores)))
    self.tokenizer = Tokenizer(models.Unigram(pieces, unk_id=vocab.unk, byte_fallback=False))
    self.tokenizer.normalizer = normalizers.Replace(Regex(" {2,}"), " ")
    self.tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    self.table = str.maketrans(vocab.normalisation)
    self.bos, self.eos, self.pad = vocab.bos, vocab.eos, vocab.pad

  def __call__(self, texts: Sequence[str], max_length: int = 512) -> list[list[int]]:
    """[n] texts -> [n] id lists: <s> content </s>, the content cut to max_length - 2."""
    encoded = self.tokenizer.encode_batch([t.translate(self.table) for t in texts], add_special_tokens=False)
    return [[self.bos, *e.ids[: max_length - 2], self.eos] for e in encoded]


def bert_module(shape: e5_weights.BertShape, compute_dtype=jnp.float32):
  """transformers' FlaxBertModule (no pooler) of this shape."""
  from transformers import BertConfig, FlaxBertModel  # lazy: optional heavy dependency

  config = BertConfig(
    vocab_size=shape.vocabulary,
    hidden_size=shape.hidden,
    num_hidden_layers=shape.layers,
    num_attention_heads=shape.heads,
    intermediate_size=shape.intermediate,
    max_position_embeddings=shape.positions,
    type_vocab_size=shape.token_types,
    layer_norm_eps=shape.layer_norm_eps,
    hidden_act="gelu",
  )
  return FlaxBertModel(config, add_pooling_layer=False, dtype=compute_dtype, _do_init=False).module


def pooled(module, params, ids: jnp.ndarray, mask: jnp.ndarray, pooling: str = "mean") -> jnp.ndarray:
  """[b, L] ids and 0/1 mask -> [b, H] unit rows: the mean of the last hidden states over the
  mask (e5), or the pooler output (LaBSE)."""
  positions = jnp.broadcast_to(jnp.arange(ids.shape[1]), ids.shape)
  out = module.apply({"params": params}, ids, mask, jnp.zeros_like(ids), positions, None, deterministic=True)
  return _unit_pooled(out.last_hidden_state, out.pooler_output, mask, pooling)


def _unit_pooled(hidden, pooler_output, mask: jnp.ndarray, pooling: str) -> jnp.ndarray:
  if pooling == "pooler":
    vector = pooler_output.astype(jnp.float32)
  else:
    hidden = hidden.astype(jnp.float32)
    vector = (hidden * mask[..., None]).sum(1) / jnp.maximum(mask.sum(1, keepdims=True), 1)
  return vector / jnp.maximum(jnp.linalg.norm(vector, axis=-1, keepdims=True), 1e-12)


def _with_layers(config, layers: int):
  config = copy.deepcopy(config)
  config.num_hidden_layers = layers
  return config


def lower_states(module, params, ids: jnp.ndarray, mask: jnp.ndarray, first_layer: int) -> jnp.ndarray:
  """[b, L] ids and mask -> [b, L, H]: the hidden states that enter layer first_layer >= 1
  (the embeddings and the layers below it), zero where the mask is 0."""
  below = type(module)(_with_layers(module.config, first_layer), dtype=module.dtype, add_pooling_layer=False)
  kept = {
    "embeddings": params["embeddings"],
    "encoder": {"layer": {str(i): params["encoder"]["layer"][str(i)] for i in range(first_layer)}},
  }
  positions = jnp.broadcast_to(jnp.arange(ids.shape[1]), ids.shape)
  out = below.apply({"params": kept}, ids, mask, jnp.zeros_like(ids), positions, None, deterministic=True)
  return jnp.where(mask[..., None] > 0, out.last_hidden_state, 0)  # padded positions: 0, as cached


def upper_pooled(module, params, x: jnp.ndarray, mask: jnp.ndarray, first_layer: int, pooling: str = "mean"):
  """`pooled` from layer first_layer on: x is [b, L] ids when first_layer is 0, else the
  [b, L, H] `lower_states` below it. Equals `pooled` of the ids (tested)."""
  if first_layer == 0:
    return pooled(module, params, x, mask, pooling)
  from transformers.models.bert.modeling_flax_bert import (  # lazy: optional heavy dependency
    FlaxBertLayerCollection,
    FlaxBertPooler,
  )

  layers = module.config.num_hidden_layers
  above = FlaxBertLayerCollection(_with_layers(module.config, layers - first_layer), dtype=module.dtype)
  renamed = {str(i - first_layer): params["encoder"]["layer"][str(i)] for i in range(first_layer, layers)}
  hidden = above.apply({"params": renamed}, x, mask, None, deterministic=True).last_hidden_state
  pooler_output = None
  if pooling == "pooler":
    pooler = FlaxBertPooler(module.config, dtype=module.dtype)
    pooler_output = pooler.apply({"params": params["pooler"]}, hidden)
  return _unit_pooled(hidden, pooler_output, mask, pooling)


def bucket_length(length: int) -> int:
  return next((b for b in BUCKETS if b >= length), BUCKETS[-1])


def padded(
  ids: list[list[int]], length: int, pad: int, rows: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
  """[n] id lists -> ([rows, length] ids, 0/1 mask), rows >= n (default n; the rest empty);
  a list longer than length is cut, keeping its final token (</s>, [SEP])."""
  tokens = np.full((rows or len(ids), length), pad, np.int32)
  mask = np.zeros((rows or len(ids), length), np.int32)
  for row, x in enumerate(ids):
    x = x if len(x) <= length else [*x[: length - 1], x[-1]]
    tokens[row, : len(x)], mask[row, : len(x)] = x, 1
  return tokens, mask


def length_batches(lengths: Sequence[int], batch_size: int):
  """Yields (positions [b'], bucket length) over the rows sorted by length, b' <= batch_size:
  the one batching rule of token ids and of hidden states."""
  order = np.argsort(np.asarray(lengths), kind="stable")
  for start in range(0, len(order), batch_size):
    chosen = order[start : start + batch_size]
    yield chosen, bucket_length(int(max(lengths[i] for i in chosen)))


def padded_batches(ids: list[list[int]], batch_size: int, pad: int):
  """Yields (positions [b], ids [batch_size, L], mask) over the texts sorted by length; each
  batch padded to its bucket length, the last one with empty rows."""
  for chosen, length in length_batches([len(x) for x in ids], batch_size):
    yield (chosen, *padded([ids[i] for i in chosen], length, pad, batch_size))


@dataclasses.dataclass
class LayerInputs:
  """Every name's input to the encoder layers from `first_layer` on, in length-sorted
  batches: token ids [b, L] when first_layer is 0, else the hidden states [b, L, H] that the
  layers below produced (frozen in a fine-tuning run, so computed once).
  batches: (name indices [b'], x, 0/1 mask [b, L]) with b >= b' (the rest empty rows)."""

  first_layer: int
  batches: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
  count: int
  _index: np.ndarray | None = dataclasses.field(default=None, init=False, repr=False)

  def rows(self, names: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """(x [len(names), length(, H)], mask [len(names), length]) of these name indices, each
    padded or cut to length; a cut keeps the final position (</s>, [SEP]), as `padded`."""
    where = self._where()
    sample = self.batches[0][1]
    x = np.zeros((len(names), length, *sample.shape[2:]), sample.dtype)
    mask = np.zeros((len(names), length), np.int32)
    for out, name in enumerate(names):
      batch, row = where[name]
      _, bx, bmask = self.batches[batch]
      real = int(bmask[row].sum())
      keep = np.arange(real) if real <= length else np.r_[0 : length - 1, real - 1]
      x[out, : len(keep)], mask[out, : len(keep)] = bx[row, keep], 1
    return x, mask

  def flat(self) -> tuple[np.ndarray, np.ndarray]:
    """(every name's real positions, in name order, concatenated [sum(lengths)(, H)],
    lengths [count]): the compact form that `from_flat` batches again."""
    lengths = np.zeros(self.count, np.int64)
    for chosen, _, mask in self.batches:
      lengths[chosen] = mask[: len(chosen)].sum(1)
    where, starts = self._where(), np.concatenate([[0], np.cumsum(lengths)])
    sample = self.batches[0][1]
    out = np.zeros((int(starts[-1]), *sample.shape[2:]), sample.dtype)
    for name in range(self.count):
      batch, row = where[name]
      out[starts[name] : starts[name + 1]] = self.batches[batch][1][row, : lengths[name]]
    return out, lengths

  @classmethod
  def from_flat(cls, first_layer: int, flat: np.ndarray, lengths: np.ndarray, batch_size: int) -> LayerInputs:
    """The inverse of `flat`, batched by length as the encoder batches (length_batches)."""
    starts = np.concatenate([[0], np.cumsum(lengths)])
    batches = []
    for chosen, length in length_batches(lengths, batch_size):
      x = np.zeros((batch_size, length, *flat.shape[1:]), flat.dtype)
      mask = np.zeros((batch_size, length), np.int32)
      for row, name in enumerate(chosen):
        x[row, : lengths[name]], mask[row, : lengths[name]] = flat[starts[name] : starts[name + 1]], 1
      batches.append((chosen, x, mask))
    return cls(first_layer, batches, len(lengths))

  def _where(self) -> np.ndarray:
    """[count, 2]: each name's (batch, row)."""
    if self._index is None:
      self._index = np.zeros((self.count, 2), np.int64)
      for batch, (chosen, _, _) in enumerate(self.batches):
        self._index[chosen] = np.stack([np.full(len(chosen), batch), np.arange(len(chosen))], 1)
    return self._index


@dataclasses.dataclass
class BertEncoder:
  """Callable [n] names -> [n, H] float32 unit rows. tokenize: [n] texts -> [n] id lists
  (special tokens included); prefix: put before every name (e5's `query: `)."""

  module: object
  params: dict
  tokenize: Callable[[Sequence[str]], list[list[int]]]
  pad_id: int
  pooling: str = "mean"
  prefix: str = ""
  batch_size: int = 128
  label: str = "names"
  sorts_by_length: bool = dataclasses.field(default=True, init=False)  # batches every name itself

  def token_ids(self, names: Sequence[str]) -> list[list[int]]:
    return self.tokenize([self.prefix + n for n in names])

  def layer_input(self, tokens: np.ndarray, mask: np.ndarray, first_layer: int) -> np.ndarray:
    """[b, L] ids -> the input of layer first_layer: the ids themselves at 0, else [b, L, H]."""
    if first_layer == 0:
      return tokens
    return np.asarray(_jitted(lower_states, self.module, first_layer=first_layer)(self.params, tokens, mask))

  def inputs(self, names: Sequence[str], first_layer: int = 0) -> LayerInputs:
    """[n] names -> their LayerInputs for the layers from first_layer on."""
    batches = padded_batches(self.token_ids(names), self.batch_size, self.pad_id)
    total = -(-len(names) // self.batch_size)
    label, out = f"{self.label}, layers below {first_layer}", []
    shown = tqdm(batches, total=total, desc=label, unit="batch", disable=first_layer == 0)
    for chosen, tokens, mask in shown:
      out.append((chosen, self.layer_input(tokens, mask, first_layer), mask))
    return LayerInputs(first_layer, out, len(names))

  def encode(self, inputs: LayerInputs) -> np.ndarray:
    """LayerInputs of n names -> [n, H] float32 unit rows."""
    upper = _jitted(upper_pooled, self.module, first_layer=inputs.first_layer, pooling=self.pooling)
    out = np.zeros((inputs.count, self.module.config.hidden_size), np.float32)
    total = len(inputs.batches)
    for chosen, x, mask in tqdm(inputs.batches, desc=self.label, unit="batch", disable=total < 4):
      out[chosen] = np.asarray(upper(self.params, x, mask))[: len(chosen)]
    return out

  def __call__(self, names: Sequence[str]) -> np.ndarray:
    return self.encode(self.inputs(names))

  def first_trained_layer(self, train_layers: int) -> int:
    """This encoder's lowest layer that trains when its top train_layers do (0: all do)."""
    return first_trained_layer(self.module.config.num_hidden_layers, train_layers)


_JITTED: dict[tuple, tuple[object, Callable]] = {}


def _jitted(function: Callable, module, **static) -> Callable:
  """One jitted function(module, params, x, mask, **static) per module and static arguments
  (Flax modules cannot be hashed): an encoder and its fine-tuned copy share the module, so
  the copy reuses the compiled length buckets."""
  key = (function.__name__, id(module), *sorted(static.items()))
  if key not in _JITTED:  # the module is kept beside its function: its id stays its own
    _JITTED[key] = (module, jax.jit(functools.partial(function, module, **static)))
  return _JITTED[key][1]


def first_trained_layer(num_layers: int, train_layers: int) -> int:
  """The lowest layer that trains when the top train_layers do: 0 when every layer does
  (train_layers 0 or >= num_layers)."""
  return num_layers - train_layers if 0 < train_layers < num_layers else 0


def _dtype(compute_dtype: str) -> str:
  return compute_dtype or ("float32" if jax.default_backend() == "cpu" else "bfloat16")


def e5_jax_encoder(cache_dir: str = "cache", batch_size: int = 128, compute_dtype: str = "") -> BertEncoder:
  """The JAX e5 encoder (weights converted once into cache_dir). compute_dtype: float32 or
  bfloat16 ('' = bfloat16 on GPU / TPU, float32 on the CPU)."""
  dtype = _dtype(compute_dtype)
  shape, vocab, params = e5_weights.load(cache_dir)
  params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype), params)
  tokenizer = UnigramTokenizer(vocab)
  module = bert_module(shape, jnp.dtype(dtype))
  return BertEncoder(module, params, tokenizer, tokenizer.pad, "mean", PREFIX, batch_size, "e5 (JAX) names")


def labse_encoder(
  model_path: str, max_length: int = 64, batch_size: int = 128, compute_dtype: str = ""
) -> BertEncoder:
  """LaBSE (or any BERT checkpoint) from a local directory or the hub: its tokenizer and
  weights through transformers, the pooler output. Raises OSError / ValueError when absent."""
  from transformers import AutoTokenizer, FlaxBertModel  # lazy: optional heavy dependency

  local_only = os.path.isdir(model_path)
  tokenizer = AutoTokenizer.from_pretrained(model_path, local_files_only=local_only)
  dtype = jnp.dtype(_dtype(compute_dtype))
  model = FlaxBertModel.from_pretrained(model_path, local_files_only=local_only, dtype=dtype)

  def tokenize(texts: Sequence[str]) -> list[list[int]]:
    return tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]

  params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype), model.params)
  return BertEncoder(
    model.module, params, tokenize, tokenizer.pad_token_id, "pooler", "", batch_size, "LaBSE names"
  )
