"""Helpers shared by the experiment scripts: run a config fresh, tabulate, save JSON."""

from __future__ import annotations

import json
import os
import shutil
import time

from selfmea_jax import compile_cache
from selfmea_jax.data.dbp15k import pair_dir
from selfmea_jax.errors import InputError
from selfmea_jax.train import loop

METRICS = ("test/h1", "test/h10", "test/mrr", "all/h1", "all/h10", "all/mrr")


def require_dbp15k(data_dir: str, pair: str) -> bool:
  try:
    pair_dir(data_dir, pair)
    return True
  except InputError as e:
    print(f"skipping {pair}: {e}")
    return False


def train_results(config, workdir: str) -> dict:
  """The trainer's results (train + evaluate, resuming in workdir)."""
  return loop.train(config, workdir).results


def run_fresh(config, workdir: str, run=train_results) -> tuple:
  """Runs `run(config, workdir)` (default: train + evaluate) from scratch in workdir
  (deleted first); returns (its result, wall seconds)."""
  shutil.rmtree(workdir, ignore_errors=True)
  compile_cache.enable(config.data.cache_dir)  # as the command line does
  start = time.time()
  results = run(config, workdir)
  return results, time.time() - start


def row(label: str, metrics: dict, seconds: float | None = None) -> str:
  cells = [f"{metrics.get(k, float('nan')):.3f}" for k in METRICS]
  return f"| {label} | " + " | ".join(cells) + f" | {'' if seconds is None else f'{seconds:.0f}'} |"


def header(first: str) -> str:
  names = ["H@1", "H@10", "MRR", "H@1 (all)", "H@10 (all)", "MRR (all)"]
  return f"| {first} | " + " | ".join(names) + " | wall s |\n|" + "---|" * (len(names) + 2)


def markdown_table(columns: list[str], rows: list[list[str]]) -> str:
  lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
  return "\n".join(lines + ["| " + " | ".join(map(str, r)) + " |" for r in rows])


def save_json(path: str, payload) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", encoding="utf-8") as f:
    json.dump(payload, f, indent=1)
  print(f"wrote {path}")
