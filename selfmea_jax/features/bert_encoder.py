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
  if pooling == "pooler":
    vector = out.pooler_output.astype(jnp.float32)
  else:
    hidden = out.last_hidden_state.astype(jnp.float32)
    vector = (hidden * mask[..., None]).sum(1) / jnp.maximum(mask.sum(1, keepdims=True), 1)
  return vector / jnp.maximum(jnp.linalg.norm(vector, axis=-1, keepdims=True), 1e-12)


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


def padded_batches(ids: list[list[int]], batch_size: int, pad: int):
  """Yields (positions [b], ids [batch_size, L], mask) over the texts sorted by length; each
  batch padded to its bucket length, the last one with empty rows."""
  order = np.argsort([len(x) for x in ids], kind="stable")
  for start in range(0, len(order), batch_size):
    chosen = order[start : start + batch_size]
    length = bucket_length(max(len(ids[i]) for i in chosen))
    yield (chosen, *padded([ids[i] for i in chosen], length, pad, batch_size))


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

  @property
  def _encode(self):
    return _jitted_pooled(self.module, self.pooling)

  def __call__(self, names: Sequence[str]) -> np.ndarray:
    ids = self.token_ids(names)
    out = np.zeros((len(names), self.module.config.hidden_size), np.float32)
    total = -(-len(names) // self.batch_size)
    batches = padded_batches(ids, self.batch_size, self.pad_id)
    for chosen, tokens, mask in tqdm(batches, total=total, desc=self.label, unit="batch", disable=total < 4):
      out[chosen] = np.asarray(self._encode(self.params, tokens, mask))[: len(chosen)]
    return out


_JITTED: dict[tuple[int, str], tuple[object, Callable]] = {}


def _jitted_pooled(module, pooling: str) -> Callable:
  """One jitted `pooled` per module (Flax modules cannot be hashed): an encoder and its
  fine-tuned copy share the module, so the copy reuses the compiled length buckets."""
  key = (id(module), pooling)
  if key not in _JITTED:  # the module is kept beside its function: its id stays its own
    _JITTED[key] = (module, jax.jit(functools.partial(pooled, module, pooling=pooling)))
  return _JITTED[key][1]


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
