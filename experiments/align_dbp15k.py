"""The label-free aligner on DBP15K: every stage under both conventions for two name settings,
an ablation on one pair, and where the final alignment still fails (plot by degree and by
name similarity).

  PYTHONPATH=. python experiments/align_dbp15k.py                       # everything
  PYTHONPATH=. python experiments/align_dbp15k.py --pairs=ja_en --settings=original \
      --ablation= --finetune_ablation=
  PYTHONPATH=. python experiments/align_dbp15k.py --pairs= --ablation=ja_en --finetune_ablation=
  PYTHONPATH=. python experiments/align_dbp15k.py --pairs= --ablation= --finetune_ablation=ja_en
  PYTHONPATH=. python experiments/align_dbp15k.py --pairs= --ablation= --finetune_ablation= \
      --failures_baseline=zh_en   # the failure plot's frozen-e5 bars
  PYTHONPATH=. python experiments/align_dbp15k.py --report                    # tables from the JSON
  PYTHONPATH=. python experiments/align_dbp15k.py --resume ...  # finish / decode again the runs
      # in runs/exp/align_<pair>_<setting> instead of fresh runs (their seconds are then the resume's)

Configs: configs/dbp15k.py:<pair>,aligner (original-language names) and
configs/dbp15k.py:<pair>,aligner,translated. Columns: "decoded" is the 1-to-1 decoded
alignment's accuracy (decoded_accuracy); H@1 / H@10 / MRR rank the gold partner under the
decoder's scores; "(all)" ranks / decodes against every KG2 entity.
Hyper-parameters were chosen on the ja_en validation pool only (BUILD_NOTES.md). Prints
markdown tables and writes experiments/results/align_dbp15k.json (+ align_ablation.json,
align_failures_<pair>.{json,png}).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os

from absl import logging
import numpy as np

from configs import dbp15k
from experiments import common
from selfmea_jax import run_config
from selfmea_jax.align import run, views

HEADER = (
  "| pair / setting / stage | decoded | H@1 | H@10 | MRR | decoded (all) | H@1 (all) | H@10 (all) "
  "| MRR (all) | s |\n|---|---|---|---|---|---|---|---|---|---|"
)
STAGE_METRICS = (
  "test/decoded_accuracy",
  "test/h1",
  "test/h10",
  "test/mrr",
  "all/decoded_accuracy",
  "all/h1",
  "all/h10",
  "all/mrr",
)
DECODING_KEYS = ("scoring", "assignment", "consistency_rounds", "consistency_weight")
ABLATION = (  # (label, align overrides); every row: no self-training unless it says so
  (
    "names only: use:uri, 0 hops, greedy cosine",
    dict(
      views=("use:uri",),
      hop_weights=(1.0,),
      scoring="cosine",
      assignment="greedy",
      consistency_rounds=0,
      center_views=False,
    ),
  ),
  ("views: e5:uri only", dict(views=("e5:uri",))),
  ("views: use:uri only", dict(views=("use:uri",))),
  ("views: use + e5jax, no romanised or glossed names", dict(views=("use:uri", "e5jax:uri"))),
  (
    "views: use + e5jax + literal:romanised, no glossed names",
    dict(views=("use:uri", "e5jax:uri", "literal:romanised")),
  ),
  ("views: + e5jax:glossed (default; left out where no KG is Chinese)", {}),
  ("views: use + e5, not centred", dict(center_views=False)),
  ("views: + literal:uri", dict(views=("use:uri", "e5:uri", "literal:uri"))),
  ("hops: 0", dict(hop_weights=(1.0,))),
  ("hops: 1", dict(hop_weights=(1.0, 1.0))),
  ("hops: 3", dict(hop_weights=(1.0, 1.0, 1.0, 1.0))),
  ("decoding: greedy cosine", dict(scoring="cosine", assignment="greedy", consistency_rounds=0)),
  ("decoding: greedy CSLS", dict(scoring="csls", assignment="greedy", consistency_rounds=0)),
  ("decoding: Hungarian cosine", dict(scoring="cosine", assignment="hungarian", consistency_rounds=0)),
  ("decoding: greedy Sinkhorn", dict(assignment="greedy", consistency_rounds=0)),
  ("decoding: Hungarian Sinkhorn", dict(consistency_rounds=0)),
  ("decoding: + neighbour consistency (default)", {}),
)

FINETUNE_ABLATION = (  # (label, align overrides, workdir): issue 17's self-training rows
  ("1 round: frozen e5 + trainer view", dict(finetune_enabled=False), "align_ft_ablation_{pair}_frozen"),
  (
    "1 round: fine-tuned e5, no trainer view",
    dict(trained_view_weight=0.0),
    "align_ft_ablation_{pair}_ft_only",
  ),
  ("1 round: fine-tuned e5 + trainer view (default)", {}, "align_{pair}_original"),  # the main run's
  ("3 rounds: fine-tuned e5 + trainer view", dict(self_training_rounds=3), "align_{pair}_original"),
)


def configure(pair: str, setting: str, data_dir: str, workdir: str, cache_dir: str = "cache", **overrides):
  """The aligner's config for a pair; overrides of decoding.* (DECODING_KEYS), align.finetune.*
  (finetune_<key>) or align.*."""
  config = dbp15k.aligner(pair, translated=setting == "translated")
  config.data.data_dir, config.workdir, config.data.cache_dir = data_dir, workdir, cache_dir
  for key, value in overrides.items():
    if key.startswith("finetune_"):
      setattr(config.align.finetune, key.removeprefix("finetune_"), value)
    else:
      setattr(config.decoding if key in DECODING_KEYS else config.align, key, value)
  return config


def run_fresh(config) -> run.AlignerResult:
  result, seconds = common.run_fresh(config, config.workdir, run.align)
  result.report["wall_s"] = seconds
  return result


def stage_row(label: str, stage: dict) -> str:
  cells = [f"{stage.get(k, float('nan')):.3f}" for k in STAGE_METRICS]
  return f"| {label} | " + " | ".join(cells) + f" | {stage['seconds']:.0f} |"


def failure_buckets(result: run.AlignerResult, config) -> dict:
  """Decoded accuracy of the final all-entity decoding on the test links by KG1 degree and
  by the gold pair's name similarity (cosine of the first name view)."""
  task, decoded = result.task, result.decoded
  links = task.test_links
  correct = decoded.assignment[links[:, 0]] == links[:, 1]
  degree = np.bincount(
    np.concatenate([task.kg1.triples[:, 0], task.kg1.triples[:, 2]]), minlength=task.kg1.num_entities
  )[links[:, 0]]
  first = views.parse_view(config.align.views[0])
  names1, names2 = views.view_matrices(task, first, config.data.cache_dir)
  similarity = np.einsum("ij,ij->i", names1[links[:, 0]], names2[links[:, 1]])
  out = {"name_view": first.name}
  for key, values, edges in (
    ("degree", degree, [1, 2, 4, 8, 16, 32, np.inf]),
    ("name_similarity", similarity, [-1, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01]),
  ):
    buckets = []
    for low, high in itertools.pairwise(edges):
      inside = (values >= low) & (values < high)
      if inside.any():
        buckets.append(
          {
            "from": float(low),
            "to": float(high),
            "count": int(inside.sum()),
            "decoded_accuracy": float(correct[inside].mean()),
          }
        )
    out[key] = buckets
  return out


def bucket_label(key: str, bucket: dict) -> str:
  low, high = bucket["from"], bucket["to"]
  if key == "degree":  # integer buckets [low, high)
    if not np.isfinite(high):
      return f">={low:g}"
    return f"{low:g}" if high - low == 1 else f"{low:g}-{high - 1:g}"
  return f"<{high:g}" if low <= -1 else (f">={low:g}" if high > 1 else f"{low:g}-{high:g}")


def plot_failures(buckets: dict, path: str, title: str, before: dict | None = None) -> None:
  """Decoded accuracy by bucket; with `before` (an earlier run's buckets, same edges), its bars
  stand in grey beside this run's."""
  import matplotlib  # lazy: heavy dependency: only for the failure plot

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # lazy: heavy dependency: only for the failure plot

  fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
  for ax, key, xlabel in (
    (axes[0], "degree", "KG1 entity degree"),
    (axes[1], "name_similarity", f"gold pair's name cosine ({buckets['name_view']})"),
  ):
    rows = buckets[key]
    labels = [bucket_label(key, r) for r in rows]
    positions = np.arange(len(rows))
    width = 0.8 if before is None else 0.4
    if before is not None:
      earlier = {bucket_label(key, r): r["decoded_accuracy"] for r in before[key]}
      ax.bar(
        positions - width / 2,
        [earlier.get(label, np.nan) for label in labels],
        width,
        color="tab:gray",
        label=before.get("label", "before"),
      )
    bars = ax.bar(
      positions + (0 if before is None else width / 2),
      [r["decoded_accuracy"] for r in rows],
      width,
      color="tab:blue",
      label=buckets.get("label", "this run"),
    )
    ax.set_xticks(positions, labels)
    if before is not None:
      ax.legend(fontsize=7, loc="lower right")
    for bar, r in zip(bars, rows):
      ax.text(
        bar.get_x() + bar.get_width() / 2, bar.get_height() + 0.01, f"n={r['count']}", ha="center", fontsize=7
      )
    ax.set(xlabel=xlabel, ylabel="decoded accuracy (all KG2)", ylim=(0, 1.08))
    ax.tick_params(axis="x", labelsize=7)
  fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  print(f"wrote {path}")


def plot_failures_before_after(pair: str, results: str) -> None:
  """align_failures_<pair>.png from the saved buckets: the default run's, beside the frozen-e5
  run's when saved (--failures_baseline)."""
  after = os.path.join(results, f"align_failures_{pair}.json")
  before = os.path.join(results, f"align_failures_{pair}_frozen.json")
  if not os.path.exists(after):
    return
  plot_failures(
    run_config.read_json(after),
    os.path.join(results, f"align_failures_{pair}.png"),
    f"{pair}, original-language names: where the final alignment fails",
    run_config.read_json(before) if os.path.exists(before) else None,
  )


def failures_baseline(pair: str, data_dir: str, cache_dir: str, results: str) -> None:
  """The failure buckets of the same run with the name encoder frozen (no fine-tuning)."""
  workdir = os.path.join("runs", "exp", f"align_{pair}_original_frozen")
  config = configure(pair, "original", data_dir, workdir, cache_dir, finetune_enabled=False)
  result = run_fresh(config)
  print(stage_row(f"{pair} original, frozen e5: final", result.report["final"]), flush=True)
  buckets = {"label": "frozen e5", **failure_buckets(result, config)}
  common.save_json(os.path.join(results, f"align_failures_{pair}_frozen.json"), buckets)
  plot_failures_before_after(pair, results)


def print_saved(results: str) -> None:
  """Markdown tables (accuracy by stage, wall time by stage) from the saved JSON."""
  with open(os.path.join(results, "align_dbp15k.json"), encoding="utf-8") as f:
    payload = json.load(f)
  print(HEADER)
  for entry in payload:
    for stage in entry["stages"]:
      print(stage_row(f"{entry['pair']} {entry['setting']} {stage['stage']}", stage))
  print(
    "\n| pair / setting | load | views | fuse | decode (test) | decode (all) | self-training | "
    "decode again (test / all) | total s |\n|---|---|---|---|---|---|---|---|---|"
  )
  for entry in payload:
    t = entry["timings"]
    again = (
      f"{t.get('round1/decode_test_s', 0):.0f} / {t.get('round1/decode_all_s', 0):.0f}"
      if "round1/train_s" in t
      else ""
    )
    print(
      f"| {entry['pair']} {entry['setting']} | {t['load_s']:.0f} | {t['views_s']:.0f} | "
      f"{t['fuse_s']:.0f} | {t.get('round0/decode_test_s', 0):.0f} | {t['round0/decode_all_s']:.0f} | "
      f"{t.get('round1/train_s', 0):.0f} | {again} | {t['total_s']:.0f} |"
    )


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--pairs", default="zh_en,ja_en,fr_en")
  parser.add_argument("--settings", default="original,translated")
  parser.add_argument("--ablation", default="ja_en", help="pair for the ablation ('' = none)")
  parser.add_argument("--finetune_ablation", default="ja_en", help="pair for issue 17's ablation ('' = none)")
  parser.add_argument("--failures", default="zh_en", help="pair/setting 'original' for the failure plot")
  parser.add_argument("--failures_baseline", default="", help="pair: its failure buckets with e5 frozen")
  parser.add_argument("--data_dir", default="../shared/data")
  parser.add_argument("--cache_dir", default="cache", help="name vectors, weights (empty: a first run)")
  parser.add_argument("--results", default="experiments/results")
  parser.add_argument("--report", action="store_true", help="only print the saved results' tables")
  parser.add_argument(
    "--resume", action="store_true", help="resume each pair's run in its workdir instead of a fresh run"
  )
  args = parser.parse_args()
  if args.report:
    print_saved(args.results)
    return
  logging.set_verbosity(logging.WARNING)
  header = HEADER
  rows, payload = [], []
  for pair in filter(None, args.pairs.split(",")):
    if not common.require_dbp15k(args.data_dir, pair):
      continue
    for setting in filter(None, args.settings.split(",")):
      config = configure(
        pair, setting, args.data_dir, os.path.join("runs", "exp", f"align_{pair}_{setting}"), args.cache_dir
      )
      result = run.align(config, config.workdir) if args.resume else run_fresh(config)
      for stage in result.report["stages"]:
        rows.append(stage_row(f"{pair} {setting} {stage['stage']}", stage))
      print(rows[-1], flush=True)
      entry = {"pair": pair, "setting": setting, **result.report}
      if pair == args.failures and setting == "original":
        entry["failures"] = {
          "label": "default (fine-tuned e5; romanised, glossed, Japanese-read names)",
          **failure_buckets(result, config),
        }
        common.save_json(os.path.join(args.results, f"align_failures_{pair}.json"), entry["failures"])
        plot_failures_before_after(pair, args.results)
      payload.append(entry)
  if payload:
    print(header + "\n" + "\n".join(rows))
    path = os.path.join(args.results, "align_dbp15k.json")
    done = {(e["pair"], e["setting"]) for e in payload}
    if os.path.exists(path):  # keep the other pairs / settings of earlier invocations
      with open(path, encoding="utf-8") as f:
        payload = [e for e in json.load(f) if (e["pair"], e["setting"]) not in done] + payload
    common.save_json(path, payload)
  if args.ablation and common.require_dbp15k(args.data_dir, args.ablation):
    ablation_rows, ablation = [], []
    for label, overrides in ABLATION:
      config = configure(
        args.ablation,
        "original",
        args.data_dir,
        os.path.join("runs", "exp", "align_ablation"),
        self_training_rounds=0,
        **overrides,
      )
      report = run_fresh(config).report
      ablation_rows.append(stage_row(label, report["final"]))
      print(ablation_rows[-1], flush=True)
      ablation.append(
        {
          "variant": label,
          "overrides": {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()},
          **report,
        }
      )
    print(
      f"ablation on {args.ablation} (original names, no self-training):\n"
      + header.replace("pair / setting / stage", "variant")
      + "\n"
      + "\n".join(ablation_rows)
    )
    common.save_json(os.path.join(args.results, "align_ablation.json"), ablation)
  if args.failures_baseline and common.require_dbp15k(args.data_dir, args.failures_baseline):
    failures_baseline(args.failures_baseline, args.data_dir, args.cache_dir, args.results)
  if args.finetune_ablation and common.require_dbp15k(args.data_dir, args.finetune_ablation):
    finetune_ablation(args.finetune_ablation, args.data_dir, args.results)


def finetune_ablation(pair: str, data_dir: str, results: str) -> None:
  """Issue 17's rows: every stage of each self-training variant, resuming in its workdir (the
  default row reuses the main run's, and the 3-round row continues it)."""
  rows, payload = [], []
  for label, overrides, name in FINETUNE_ABLATION:
    workdir = os.path.join("runs", "exp", name.format(pair=pair))
    report = run.align(configure(pair, "original", data_dir, workdir, **overrides), workdir).report
    for stage in report["stages"]:
      rows.append(stage_row(f"{label}: {stage['stage']} (kept {stage['kept']})", stage))
      print(rows[-1], flush=True)
    payload.append({"variant": label, "overrides": overrides, **report})
  print(f"self-training ablation on {pair} (original names):\n" + HEADER + "\n" + "\n".join(rows))
  common.save_json(os.path.join(results, "align_finetune_ablation.json"), payload)


if __name__ == "__main__":
  main()
