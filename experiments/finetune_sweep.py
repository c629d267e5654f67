"""Issue 17's hyper-parameter choice for the e5 fine-tuning, on one pair's validation pool.

Each setting runs the aligner with one self-training round whose only new view is the
fine-tuned e5 (it replaces e5's view; the SelfMEA trainer's view is left out so that only the
fine-tuning differs), resuming under --runs/<label>. The choice is read from the validation
pool's all-KG2 decoded accuracy; the test columns are printed for the record only.

  PYTHONPATH=. python -m experiments.finetune_sweep --pair=ja_en \
      --setting="all24:train_layers=0" --setting="top4:train_layers=4" ...
  PYTHONPATH=. python -m experiments.finetune_sweep --step_times   # seconds per step by layers
"""

from __future__ import annotations

import argparse
import ast
import os
import time

from absl import logging

from experiments.common import markdown_table, save_json
from selfmea_jax import config_files, run_config
from selfmea_jax.align import run

SELECTION = "valid/all/decoded_accuracy"
SHOWN = (SELECTION, "valid/all/h1", "test/decoded_accuracy", "all/decoded_accuracy")


def parse_setting(text: str) -> tuple[str, dict]:
  """'label:key=value,key=value' -> (label, {key: literal value}) for align.finetune."""
  label, _, body = text.partition(":")
  overrides = {}
  for item in filter(None, body.split(",")):
    key, _, value = item.partition("=")
    overrides[key.strip()] = ast.literal_eval(value.strip())
  return label, overrides


def configured(pair: str, overrides: dict, cache_dir: str):
  config = config_files.load("dbp15k", f"{pair},aligner")
  config.data.cache_dir = cache_dir
  config.align.self_training_rounds = 1
  config.align.trained_view_weight = 0.0
  config.align.finetune.enabled = True
  config.align.finetune.update(overrides)
  return config


def _earlier(path: str, pair: str) -> list[dict]:
  """The settings an earlier invocation measured on the same pair."""
  if not os.path.exists(path):
    return []
  saved = run_config.read_json(path)
  return saved["settings"] if saved.get("pair") == pair else []


def step_times(
  cache_dir: str, shapes: list[tuple[int, int]], batch_size: int = 64, repeats: int = 5
) -> list[dict]:
  """Seconds per contrastive step of the JAX e5 for (train_layers, max_length) shapes, on
  random token ids (after one compiling step)."""
  import numpy as np

  from selfmea_jax.features import bert_encoder
  from selfmea_jax.train import name_finetune

  encoder = bert_encoder.e5_jax_encoder(cache_dir)
  rng = np.random.default_rng(0)
  out = []
  for train_layers, length in shapes:
    settings = name_finetune.Settings(train_layers=train_layers, max_length=length, batch_size=batch_size)
    state, fixed, optimizer = name_finetune.initial_state(encoder, settings)
    first = name_finetune.trained_from(encoder, settings)
    step = name_finetune.make_step(encoder.module, optimizer, settings.temperature, encoder.pooling, first)
    ids = rng.integers(5, 1000, size=(batch_size, length))
    mask = np.ones_like(ids)
    x = encoder.layer_input(ids, mask, first)  # the frozen layers run once, before the steps
    batch = {"x1": x, "mask1": mask, "x2": x[::-1].copy(), "mask2": mask}
    state, loss = step(state, fixed, batch)
    loss.block_until_ready()
    started = time.time()
    for _ in range(repeats):
      state, loss = step(state, fixed, batch)
    loss.block_until_ready()
    seconds = (time.time() - started) / repeats
    out.append({"train_layers": train_layers, "max_length": length, "step_s": seconds})
    print(out[-1], flush=True)
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--pair", default="ja_en")
  parser.add_argument("--setting", action="append", default=[], help="label:key=value,...")
  parser.add_argument("--runs", default="runs/sweep")
  parser.add_argument("--cache_dir", default="cache")
  parser.add_argument("--out", default="experiments/results/finetune_sweep.json")
  parser.add_argument("--step_times", action="store_true", help="only time one step per layer choice")
  args = parser.parse_args()
  if args.step_times:
    shapes = [(0, 32), (0, 24), (6, 24), (4, 24), (2, 24)]
    save_json(args.out.replace(".json", "_steps.json"), step_times(args.cache_dir, shapes))
    return
  logging.set_verbosity(logging.WARNING)
  rows, payload = [], _earlier(args.out, args.pair)
  for label, overrides in map(parse_setting, args.setting):
    started = time.time()
    config = configured(args.pair, overrides, args.cache_dir)
    report = run.align(config, os.path.join(args.runs, label)).report
    final, timings = report["stages"][-1], report["timings"]
    entry = {
      "label": label,
      "overrides": overrides,
      "stage": final,
      "round0": {k: report["stages"][0].get(k) for k in SHOWN},
      "round1_train_s": timings.get("round1/train_s"),
      "wall_s": time.time() - started,
    }
    payload = [e for e in payload if e["label"] != label] + [entry]  # earlier settings kept
    rows.append(
      [label, overrides]
      + [f"{final.get(k, float('nan')):.4f}" for k in SHOWN]
      + [f"{entry['round1_train_s']:.0f}", f"{entry['wall_s']:.0f}"]
    )
    print(rows[-1], flush=True)
    save_json(args.out, {"pair": args.pair, "selection": SELECTION, "settings": payload})
  print(markdown_table(["setting", "overrides", *SHOWN, "fine-tune + encode s", "wall s"], rows))


if __name__ == "__main__":
  main()
