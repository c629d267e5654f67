"""Names only vs trained SelfKG on DBP15K (zh_en, ja_en, fr_en), same name features.

  python experiments/dbp15k_selfkg.py --encoders=use,e5 --epochs=3

Prints a markdown table (test = candidates are the 10,500 test targets; all = every KG2
entity) and writes experiments/results/dbp15k_selfkg.json. Reported SelfKG numbers are
those of the epoch chosen on the validation pool (sup_ent_ids), never on test.
"""

from __future__ import annotations

import argparse
import os

from configs import dbp15k
from experiments import common


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--pairs", default="zh_en,ja_en,fr_en")
  parser.add_argument("--encoders", default="use")
  parser.add_argument("--epochs", type=int, default=None, help="override train.num_epochs")
  parser.add_argument("--data_dir", default="../shared/data")
  parser.add_argument("--out", default="experiments/results/dbp15k_selfkg.json")
  args = parser.parse_args()
  rows, payload = [], []
  for encoder in args.encoders.split(","):
    for pair in args.pairs.split(","):
      if not common.require_dbp15k(args.data_dir, pair):
        continue
      config = dbp15k.selfkg(pair)
      config.data.data_dir = args.data_dir
      config.data.name_encoder = encoder
      if args.epochs:
        config.train.num_epochs = args.epochs
      results, seconds = common.run_fresh(config, os.path.join("runs", "exp", f"selfkg_{pair}_{encoder}"))
      payload.append(
        {"pair": pair, "encoder": encoder, "seconds": seconds, **results, "config": config.to_dict()}
      )
      rows.append(common.row(f"{pair} {encoder} names only", results["names_only"]))
      rows.append(
        common.row(f"{pair} {encoder} SelfKG (epoch {results['best_epoch']})", results["best"], seconds)
      )
      print("\n".join(rows[-2:]), flush=True)
  print(common.header("pair / encoder / model"))
  print("\n".join(rows))
  common.save_json(args.out, payload)


if __name__ == "__main__":
  main()
