"""SelfMEA ablation on DBP15K: names only; + GAT (SelfKG); + relations; + NCA on
pseudo-seeds; + iterative learning. Same name features (USE by default) everywhere.

  python experiments/ablation.py [--pairs=zh_en,ja_en,fr_en] [--reuse=experiments/results/dbp15k_selfkg.json]

--reuse takes the 'names only' and '+ GAT (SelfKG)' rows from dbp15k_selfkg.py's JSON
(same config) instead of training SelfKG again. Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os

from configs import dbp15k
from experiments import common

VARIANTS = (
  ("+ relations (fusion, no NCA)", dict(nca_weight=0.0, iterative=False)),
  ("+ NCA on pseudo-seeds", dict(nca_weight=1.0, iterative=False)),
  ("+ iterative learning", dict(nca_weight=1.0, iterative=True)),
)


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--pairs", default="zh_en,ja_en,fr_en")
  parser.add_argument("--encoder", default="use")
  parser.add_argument("--epochs", type=int, default=None)
  parser.add_argument("--data_dir", default="../shared/data")
  parser.add_argument("--reuse", default="")
  parser.add_argument("--out", default="experiments/results/ablation.json")
  args = parser.parse_args()
  reused = []
  if args.reuse and os.path.exists(args.reuse):
    with open(args.reuse, encoding="utf-8") as f:
      reused = json.load(f)
  rows, payload = [], []
  for pair in args.pairs.split(","):
    if not common.require_dbp15k(args.data_dir, pair):
      continue
    base = [r for r in reused if r["pair"] == pair and r["encoder"] == args.encoder]
    if base:
      selfkg, seconds = base[0], base[0]["seconds"]
    else:
      config = dbp15k.selfkg(pair)
      config.data.data_dir, config.data.name_encoder = args.data_dir, args.encoder
      if args.epochs:
        config.train.num_epochs = args.epochs
      selfkg, seconds = common.run_fresh(config, os.path.join("runs", "exp", f"ablation_{pair}_selfkg"))
    rows.append(common.row(f"{pair} names only", selfkg["names_only"]))
    rows.append(common.row(f"{pair} + GAT (SelfKG)", selfkg["best"], seconds))
    payload.append(
      {
        "pair": pair,
        "variant": "selfkg",
        "seconds": seconds,
        **{k: selfkg[k] for k in ("names_only", "untrained", "best", "best_epoch")},
      }
    )
    for label, changes in VARIANTS:
      config = dbp15k.mea(pair)
      config.data.data_dir, config.data.name_encoder = args.data_dir, args.encoder
      config.data.modalities = ("relation",)
      config.train.nca_weight, config.train.iterative = changes["nca_weight"], changes["iterative"]
      if args.epochs:
        config.train.num_epochs = args.epochs
      tag = label.split()[1]
      results, seconds = common.run_fresh(config, os.path.join("runs", "exp", f"ablation_{pair}_{tag}"))
      seeds = results["last"].get("seeds/count")
      extra = f" [seeds {int(seeds)}, precision {results['last']['seeds/precision']:.2f}]" if seeds else ""
      rows.append(common.row(f"{pair} {label}{extra}", results["best"], seconds))
      payload.append(
        {"pair": pair, "variant": label, "seconds": seconds, **results, "config": config.to_dict()}
      )
      print(rows[-1], flush=True)
  print(common.header("pair / variant"))
  print("\n".join(rows))
  common.save_json(args.out, payload)


if __name__ == "__main__":
  main()
