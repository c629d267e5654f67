"""A million-name KG pair with real name-embedding geometry, for the scale benchmarks.

KG2 names are new names built from DBP15K's real ones: a real name (an English DBpedia title,
or a Google-translated KG1 title, of any of the three pairs) with each word swapped, with
probability 1/2, for a word drawn by frequency from all of those names ("Battle of Quebec
River"). Each KG1 name is its KG2 counterpart with one surface edit (a word dropped, a typo,
the last word moved to the front, or lower case). Both sides are encoded by the offline USE
encoder (512-d unit rows, about 4,000 names/s on 2 cores), so neighbourhoods and near-ties
are those of real name vectors, not of a generator's clusters.

  python experiments/name_corpus.py --n=1000000   # writes <dir>/names_<n>_kg{1,2}.npy (+ .txt)

Row i of KG1 is the counterpart of row i of KG2; `load_pair` shuffles KG1's rows (seeded).
"""

from __future__ import annotations

import argparse
import collections
import os
import tempfile
import time
import urllib.parse

import numpy as np
from tqdm.auto import tqdm

from experiments import common
from selfmea_jax.data.dbp15k import pair_dir
from selfmea_jax.features import text_encoders

PAIRS = ("zh_en", "ja_en", "fr_en")
DIM = 512


def real_names(data_dir: str) -> list[str]:
  """The distinct English and machine-translated names of every DBP15K pair (sorted)."""
  names = set()
  for pair in PAIRS:
    directory = pair_dir(data_dir, pair)
    with open(os.path.join(directory, "ent_ids_2"), encoding="utf-8") as f:
      for line in f:
        uri = line.rstrip("\n").split("\t")[1]
        names.add(urllib.parse.unquote(uri.rsplit("/", 1)[-1]).replace("_", " ").strip())
    with open(os.path.join(directory, "names", "ent_ids_1_trans_goo"), encoding="utf-8") as f:
      for line in f:
        parts = line.rstrip("\n").split("\t")
        if len(parts) > 1 and parts[1].strip():
          names.add(parts[1].strip())
  return sorted(names)


def recombined_names(templates: list[str], n: int, rng: np.random.Generator) -> list[str]:
  """n distinct names: templates with each word swapped (p = 1/2) for a frequency-drawn word."""
  counts = collections.Counter(word for name in templates for word in name.split())
  words = list(counts)
  p = np.array([counts[w] for w in words], np.float64)
  p /= p.sum()
  seen, out = set(), []
  while len(out) < n:
    picks = rng.integers(0, len(templates), n)
    swaps = iter(rng.choice(len(words), 8 * n, p=p))
    for pick in picks:
      name = " ".join(words[next(swaps)] if rng.random() < 0.5 else word for word in templates[pick].split())
      if name and name not in seen:
        seen.add(name)
        out.append(name)
        if len(out) == n:
          break
  return out


def surface_edit(name: str, rng: np.random.Generator) -> str:
  """One of: drop a word, a typo (adjacent letters swapped), last word first, lower case."""
  words = name.split()
  op = rng.integers(4)
  if op == 0 and len(words) > 1:
    del words[rng.integers(len(words))]
  elif op <= 1:
    i = rng.integers(len(words))
    w = words[i]
    if len(w) > 2:
      j = rng.integers(len(w) - 1)
      words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
  elif op == 2 and len(words) > 1:
    words = words[-1:] + words[:-1]
  else:
    words = [w.lower() for w in words]
  return " ".join(words)


def paths(directory: str, n: int) -> list[str]:
  return [os.path.join(directory, f"names_{n}_kg{number}.npy") for number in (1, 2)]


def write_corpus(data_dir: str, directory: str, n: int, seed: int = 0, batch: int = 2048) -> None:
  """Builds and encodes n name pairs into memory-mapped float32 .npy files (and .txt names)."""
  rng = np.random.default_rng(seed)
  kg2 = recombined_names(real_names(data_dir), n, rng)
  kg1 = [surface_edit(name, rng) for name in kg2]
  encode = text_encoders.use_encoder()
  os.makedirs(directory, exist_ok=True)
  for names, path in zip((kg1, kg2), paths(directory, n)):
    with open(path[:-4] + ".txt", "w", encoding="utf-8") as f:
      f.write("\n".join(names) + "\n")
    out = np.lib.format.open_memmap(path + ".partial", mode="w+", dtype=np.float32, shape=(n, DIM))
    for start in tqdm(range(0, n, batch), desc=os.path.basename(path), unit="batch"):
      out[start : start + batch] = text_encoders.l2_normalise(
        np.asarray(encode(names[start : start + batch]))
      )
    out.flush()
    del out
    os.replace(path + ".partial", path)


def load_pair(directory: str, n: int, seed: int = 0):
  """(emb1 [n, 512], emb2 [n, 512], gold [n] KG2 row of each KG1 row), in memory: the first n
  rows of the largest corpus written under directory, KG1's rows shuffled."""
  sizes = sorted(
    int(f.split("_")[1]) for f in os.listdir(directory) if f.startswith("names_") and f.endswith("_kg2.npy")
  )
  size = next((s for s in sizes if s >= n), None)
  if size is None:
    raise FileNotFoundError(f"no name corpus of >= {n} rows in {directory}; run experiments/name_corpus.py")
  kg1, kg2 = (np.load(p, mmap_mode="r")[:n] for p in paths(directory, size))
  gold = np.random.default_rng(seed).permutation(n)  # KG1 row i is KG2 row gold[i]
  return np.ascontiguousarray(kg1[gold]), np.ascontiguousarray(kg2), gold


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--n", type=int, default=1_000_000)
  parser.add_argument("--data_dir", default="../shared/data")
  parser.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "selfmea_names"))
  args = parser.parse_args()
  if not all(common.require_dbp15k(args.data_dir, pair) for pair in PAIRS):
    raise SystemExit(1)
  start = time.perf_counter()
  write_corpus(args.data_dir, args.dir, args.n)
  print(f"{args.n:,} name pairs encoded in {time.perf_counter() - start:.0f} s under {args.dir}")


if __name__ == "__main__":
  main()
