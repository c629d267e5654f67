"""Issue 16's measures: the aligner, unchanged settings, on KG pairs that do not fully overlap.

For each benchmark folder (experiments/dangling_benchmark.py) or complete DBP15K pair, runs
the aligner (resuming under --runs/<name>) and prints one table: decoded accuracy on the
linked test sources (the relaxed H@1, all-KG2 and test conventions), end-to-end and
dangling-detection P/R/F1 of the `match` decisions, the ECE of the confidence, which stages
were kept, and, on the final candidate graph, the all-KG2 decoded accuracy of cosine and
CSLS + Hungarian beside the default decoding. Writes --out (JSON).

  python -m experiments.abstention runs/bench/zh_en_d30 runs/bench/ja_en_d30 runs/bench/fr_en_d30
  python -m experiments.abstention dbp15k:ja_en dbp15k:zh_en dbp15k:fr_en \
      --out=experiments/results/abstention_complete.json

--translated runs the translated setting (`dbp15k.py:<pair>,aligner,translated`, or
`own_kgs.py:<folder>,translated` on a benchmark's translated_names_1) under --runs/<name>_translated.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

from experiments.common import markdown_table, save_json
from selfmea_jax import config_files
from selfmea_jax.align import run
from selfmea_jax.matching import decoding, metrics


def config_for(spec: str, cache_dir: str, translated: bool = False):
  option = ",translated" if translated else ""
  if spec.startswith("dbp15k:"):
    config = config_files.load("dbp15k", f"{spec.split(':', 1)[1]},aligner{option}")
  else:
    config = config_files.load("own_kgs", spec + option)
  config.data.cache_dir = cache_dir
  return config


def run_name(spec: str, translated: bool = False) -> str:
  """The run's folder under --runs: the pair of dbp15k:<pair>, else the benchmark folder's name
  (+ `_translated`)."""
  name = spec.split(":", 1)[1] if ":" in spec else os.path.basename(os.path.normpath(spec))
  return name + ("_translated" if translated else "")


def simple_decoders(decoded: decoding.Decoded, links, base: decoding.Decoder) -> dict[str, float]:
  """All-KG2 decoded accuracy of other decoders on the same (final) candidate graph."""
  out = {}
  for scoring in ("cosine", "csls"):
    other = decoding.decode_graph(
      decoded.graph, dataclasses.replace(base, scoring=scoring, assignment="hungarian")
    )
    out[f"{scoring}+hungarian"] = metrics.decoded_accuracy(other.assignment, links)
  return out


def measure(spec: str, runs: str, cache_dir: str, translated: bool = False) -> dict:
  config = config_for(spec, cache_dir, translated)
  name = run_name(spec, translated)
  started = time.time()
  result = run.align(config, os.path.join(runs, name))
  report, task = result.report, result.task
  decoder = decoding.Decoder.from_config(config.decoding)
  return {
    "name": name,
    "seconds": time.time() - started,
    "final": report["final"],
    "decisions": report["decisions"],
    "kept": [s["kept"] for s in report["stages"]],
    "stages": [{k: v for k, v in s.items() if k != "trainer"} for s in report["stages"]],
    "simple_decoders": simple_decoders(result.decoded, task.test_links, decoder),
    "dangling": len(task.dangling1),
  }


def cell(values: dict, key: str) -> str:
  return f"{values[key]:.3f}" if key in values else "-"


def table(rows: list[dict]) -> str:
  lines = []
  for r in rows:
    d, f = r["decisions"], r["final"]
    lines.append(
      [
        r["name"],
        f"{f['all/decoded_accuracy']:.3f} / {f['test/decoded_accuracy']:.3f}",
        " / ".join(cell(d, f"end_to_end/{m}") for m in ("precision", "recall", "f1")),
        " / ".join(cell(d, f"detection/{m}") for m in ("precision", "recall", "f1")),
        cell(d, "detection/f1_ceiling"),
        cell(d, "calibration/ece"),
        "".join("k" if k else "-" for k in r["kept"]),
        " / ".join(f"{v:.3f}" for v in r["simple_decoders"].values()),
      ]
    )
  columns = [
    "pair",
    "decoded acc. all / test",
    "end-to-end P / R / F1",
    "detection P / R / F1",
    "detection F1 ceiling",
    "ECE",
    "stages kept",
    "cosine / CSLS + Hungarian (all)",
  ]
  return markdown_table(columns, lines)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("specs", nargs="+", help="benchmark folders or dbp15k:<pair>")
  parser.add_argument("--runs", default="runs/abstention")
  parser.add_argument("--cache_dir", default="cache")
  parser.add_argument("--out", default="experiments/results/abstention.json")
  parser.add_argument("--translated", action="store_true", help="the machine-translated name setting")
  args = parser.parse_args()
  rows = []
  for spec in args.specs:
    rows.append(measure(spec, args.runs, args.cache_dir, args.translated))
    print(table(rows[-1:]), flush=True)
  print(table(rows))
  save_json(args.out, rows)


if __name__ == "__main__":
  main()
