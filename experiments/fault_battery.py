"""The second fault battery, run as a user would: each case is a command on a toy pair in
the OpenEA layout (experiments/tiny_kgs, copied and damaged) or on the synthetic pair, and the
table shows what the command printed last and its exit code.

  python -m experiments.fault_battery                   # every case (about 5 minutes on 2 cores)
  python -m experiments.fault_battery --full_disk       # + full-disk cases on small tmpfs mounts (root)

Prints a markdown table and writes experiments/results/fault_battery.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from experiments import common

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOY = os.path.join(ROOT, "experiments", "tiny_kgs")
FR, EN = "http://fr.dbpedia.org/resource/", "http://dbpedia.org/resource/"
QUICK = ["--config.train.num_epochs=1", "--config.train.batch_size=8", "--config.train.queue_batches=2"]


def toy_copy(scratch: str, name: str) -> str:
  """A fresh copy of the worked example, to damage."""
  directory = os.path.join(scratch, name)
  shutil.copytree(TOY, directory)
  return directory


def trainer_args(directory: str, workdir: str, cache: str) -> list[str]:
  return [
    f"--config=configs/own_kgs.py:{directory}",
    "--config.pipeline=trainer",
    "--config.data.name_encoder=hash",
    f"--config.data.cache_dir={cache}",
    f"--workdir={workdir}",
    *QUICK,
  ]


def cli(args: list[str], cwd: str = ROOT, interrupts: tuple[float, ...] = (), after: str = "") -> dict:
  """Runs the command line. interrupts: seconds at which to send SIGINT, counted from the
  first stderr line containing `after` (from the start when empty)."""
  start = time.time()
  process = subprocess.Popen(
    [sys.executable, "-m", "selfmea_jax.main", *args],
    cwd=cwd,
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    text=True,
    env={**os.environ, "PYTHONPATH": ROOT},
  )
  lines, seen = [], threading.Event()

  def read_stderr():
    for line in process.stderr:
      lines.append(line.rstrip("\n"))
      if after and after in line:
        seen.set()

  reader = threading.Thread(target=read_stderr, daemon=True)
  reader.start()
  if interrupts:
    if after and not seen.wait(timeout=300):
      raise RuntimeError(f"{after!r} never appeared in the log")
    origin = time.time()
    for delay in interrupts:
      time.sleep(max(0.0, origin + delay - time.time()))
      process.send_signal(signal.SIGINT)
  out = process.stdout.read()
  process.wait(timeout=600)
  reader.join(timeout=10)
  err = "\n".join(lines)
  shown = [line for line in err.splitlines() if line.strip() and not line.startswith(("I1", "W1"))]
  return {
    "exit": process.returncode,
    "stderr_lines": len(shown),
    "last": shown[-1] if shown else "",
    "traceback": "Traceback" in err,
    "stdout": out,
    "seconds": round(time.time() - start, 1),
  }


def edit_links(directory: str, edit) -> None:
  path = os.path.join(directory, "ent_links")
  with open(path, encoding="utf-8") as f:
    lines = f.read().splitlines()
  lines = edit(lines)
  with open(path, "w", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")


def results_of(workdir: str) -> dict:
  with open(os.path.join(workdir, "results.json"), encoding="utf-8") as f:
    return json.load(f)


def truncate(path: str) -> None:
  with open(path, "r+b") as f:
    f.truncate(os.path.getsize(path) // 2)


def cases(scratch: str, full_disk: bool):
  """Yields (class, case, command summary, result dict) one by one."""
  cache = os.path.join(scratch, "cache")

  def run_toy(name, damage=None, extra=(), workdir=None):
    directory = toy_copy(scratch, name)
    if damage:
      damage(directory)
    workdir = workdir or os.path.join(scratch, f"run_{name}")
    return directory, workdir, cli([*trainer_args(directory, workdir, cache), *extra])

  third = lambda f: lambda lines: lines[:2] + [f(*lines[2].split("\t"))] + lines[3:]  # noqa: E731
  link_cases = {
    "typo (Berlin -> Berlinn)": third(lambda a, b: f"{a.replace('Berlin', 'Berlinn')}\t{b}"),
    "byte-order mark": lambda lines: ["\ufeff" + lines[0], *lines[1:]],
    "trailing space": third(lambda a, b: f"{a}\t{b} "),
    "columns swapped": lambda lines: ["\t".join(reversed(line.split("\t"))) for line in lines],
    "entity only in the links": lambda lines: [*lines, f"{FR}Atlantide\t{EN}Atlantis"],
  }
  for case, edit in link_cases.items():
    _, _, result = run_toy(case.split()[0], lambda d, e=edit: edit_links(d, e))
    yield "link file", case, "own_kgs.py:<toy> (ent_links edited)", result

  directory, workdir, _ = run_toy("edited")
  with open(os.path.join(directory, "rel_triples_1"), "a", encoding="utf-8") as f:
    f.write(f"{FR}Paris\thttp://fr.dbpedia.org/property/pays\t{FR}Allemagne\n")
  yield (
    "edited data",
    "triples edited, same command",
    "rerun after editing rel_triples_1",
    cli(trainer_args(directory, workdir, cache)),
  )

  def tab_uri(directory):
    with open(os.path.join(directory, "rel_triples_1"), "a", encoding="utf-8") as f:
      f.write(f"{FR}Paris%09centre%0Aville\thttp://fr.dbpedia.org/property/pays\t{FR}France\n")

  _, workdir, result = run_toy("tab", tab_uri)
  with open(os.path.join(workdir, "alignment.tsv"), encoding="utf-8", newline="") as f:
    rows = f.read().split("\n")[:-1]
  result["last"] = f"{len(rows)} rows, fields per row {sorted({len(r.split(chr(9))) for r in rows})}"
  yield "names", "URI with %09 and %0A", "own_kgs.py:<toy> + such a URI", result

  def named_twice(directory):
    with open(os.path.join(directory, "names_1"), "w", encoding="utf-8") as f:
      f.write(f"{FR}Paris\tParis\n{FR}Paris\tLutèce\n")

  yield "names", "a URI named twice", "names_1 with two names", run_toy("twice", named_twice)[2]
  for key, value in (
    ("data.valid_fraction", "1.5"),
    ("data.valid_fraction", "-0.5"),
    ("align.trained_view_weight", "-1.0"),
    ("train.temperature", "inf"),
    ("train.learning_rate", "nan"),
    ("train.momentum", "nan"),
  ):
    args = ["--config=configs/synthetic.py:aligner", f"--config.{key}={value}", f"--workdir={scratch}/v"]
    yield "config values", f"{key}={value}", f"synthetic.py:aligner --config.{key}={value}", cli(args)

  for fraction in ("0.0", "0.05"):  # no validation link / a single one (of 14)
    _, workdir, result = run_toy(f"valid{fraction}", extra=[f"--config.data.valid_fraction={fraction}"])
    extra = [f"--config.data.valid_fraction={fraction}"]
    again = cli([*trainer_args(os.path.join(scratch, f"valid{fraction}"), workdir, cache), *extra])
    result["last"] = f"first run exit {result['exit']}, rerun exit {again['exit']}, results.json " + (
      "written" if os.path.exists(os.path.join(workdir, "results.json")) else "missing"
    )
    yield "runs that must finish", f"valid_fraction={fraction}", "own_kgs.py:<toy> trainer", result

  reference = os.path.join(scratch, "reference")
  synthetic = ["--config=configs/synthetic.py", "--config.train.num_epochs=20"]
  cli([*synthetic, f"--workdir={reference}"])
  marker = "untrained encoder"  # logged just before the training loop compiles its step
  for label, interrupts, after in (
    ("Ctrl-C while loading", (1.0,), ""),
    ("Ctrl-C just before the first step", (0.0,), marker),
    ("Ctrl-C during the first compile", (0.5,), marker),
    ("Ctrl-C mid-training", (3.0,), marker),
    ("Ctrl-C twice, 0.05 s apart", (3.0, 3.05), marker),
    ("Ctrl-C twice, 0.5 s apart", (3.0, 3.5), marker),
  ):
    workdir = os.path.join(scratch, "ctrl_c_" + "_".join(label.split()[1:]).replace(",", ""))
    result = cli([*synthetic, f"--workdir={workdir}"], interrupts=interrupts, after=after)
    resumed = cli([*synthetic, f"--workdir={workdir}"])
    same = resumed["exit"] == 0 and results_of(workdir)["best"] == results_of(reference)["best"]
    result["last"] += f" | rerun: exit {resumed['exit']}, results equal to an uninterrupted run: {same}"
    when = ", ".join(f"{t} s" for t in interrupts) + (f" after '{after}'" if after else " after the start")
    yield "Ctrl-C", label, f"synthetic.py, 20 epochs, SIGINT at {when}", result

  workdir = os.path.join(scratch, "state")
  base = [*synthetic[:1], "--config.train.num_epochs=2", f"--workdir={workdir}"]
  cli(base)
  for name in ("config.json", "data.json"):
    shutil.copy(os.path.join(workdir, name), os.path.join(scratch, name))
    truncate(os.path.join(workdir, name))
    yield "state files", f"truncated {name}", "rerun", cli(base)
    shutil.copy(os.path.join(scratch, name), os.path.join(workdir, name))
  with open(os.path.join(workdir, "metrics.jsonl"), "a", encoding="utf-8") as f:
    f.write('{"step": 99, "loss": 0.')
  yield (
    "state files",
    "partial last line of metrics.jsonl",
    "rerun",
    cli(base),
  )
  directory, workdir, _ = run_toy("cachetoy")
  stems = [os.path.join(cache, "cachetoy", f"name-hash-uri_kg{k}") for k in (1, 2)]
  truncate(stems[0] + ".npy")
  truncate(stems[1] + ".json")
  yield (
    "state files",
    "truncated .npy cache and manifest",
    "rerun",
    cli([*trainer_args(directory, os.path.join(scratch, "cache_run2"), cache)]),
  )

  workdir = os.path.join(scratch, "typo_start")
  bad = cli(["--config=configs/ja_en.py", "--config.data.data_dir=/nonexistent", f"--workdir={workdir}"])
  fixed = cli(["--config=configs/synthetic.py", "--config.train.num_epochs=1", f"--workdir={workdir}"])
  bad["last"] += f" | then another config into the same workdir: exit {fixed['exit']}"
  yield "friction", "a run that fails at the start", "ja_en.py with a wrong data_dir, then a valid run", bad
  workdir = os.path.join(scratch, "eval_only")
  cli(["--config=configs/synthetic.py", "--config.train.num_epochs=1", f"--workdir={workdir}"])
  yield (
    "friction",
    "eval with another decoding.scoring",
    "--mode=eval --config.decoding.scoring=csls",
    cli(
      [
        "--config=configs/synthetic.py",
        "--config.train.num_epochs=1",
        "--config.decoding.scoring=csls",
        "--mode=eval",
        f"--workdir={workdir}",
      ]
    ),
  )
  for label, config in (("relative", "configs/synthetic.py"), ("absolute", f"{ROOT}/configs/synthetic.py")):
    yield (
      "friction",
      f"run from another directory, {label} --config",
      f"cd /tmp && ... --config={config}",
      cli(
        [f"--config={config}", "--config.train.num_epochs=0", f"--workdir={scratch}/elsewhere_{label}"],
        cwd=tempfile.gettempdir(),
      ),
    )
  a_file = os.path.join(scratch, "a_file")
  open(a_file, "w", encoding="utf-8").close()
  yield (
    "friction",
    "--workdir that is a file",
    "--workdir=<a file>",
    cli(["--config=configs/synthetic.py", f"--workdir={a_file}"]),
  )
  workdir = os.path.join(scratch, "fresh")
  cli(["--config=configs/synthetic.py", "--config.train.num_epochs=1", f"--workdir={workdir}"])
  old = set(os.listdir(os.path.join(workdir, "tensorboard")))
  result = cli(
    ["--config=configs/synthetic.py", "--config.train.num_epochs=1", "--fresh", f"--workdir={workdir}"]
  )
  result["last"] = f"old event files left: {len(old & set(os.listdir(os.path.join(workdir, 'tensorboard'))))}"
  yield "friction", "--fresh", "--fresh after a run", result

  def long_name(directory):
    with open(os.path.join(directory, "names_1"), "w", encoding="utf-8") as f:
      f.write(f"{FR}Paris\t{'Paris ' * 200_000}\n")

  result = run_toy("long", long_name, extra=["--config.data.name_encoder=e5"])[2]
  yield "friction", "a 1.2 MB name (e5)", "names_1 with a 1.2 MB name", result
  listed = cli(["--config_keys"])
  listed["last"] = (
    f"{len(listed['stdout'].splitlines())} keys listed, e.g. {listed['stdout'].splitlines()[2]}"
  )
  yield "friction", "--help lists no config keys", "--config_keys", listed
  if full_disk:
    yield from full_disk_cases(scratch)


def full_disk_cases(scratch: str):
  """Training into tmpfs mounts with little room (root only)."""
  for size_k in (400, 1800):
    mount = os.path.join(scratch, f"disk_{size_k}k")
    os.makedirs(mount)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_k}k", "tmpfs", mount], check=True)
    try:
      workdir = os.path.join(mount, "w")
      result = cli(["--config=configs/synthetic.py", f"--workdir={workdir}"])
      kept = sorted(os.listdir(os.path.join(workdir, "checkpoints"))) if os.path.isdir(workdir) else []
      result["last"] += f" | checkpoints kept: {kept}"
      yield "full disk", f"tmpfs of {size_k} KiB", "synthetic.py into it", result
    finally:
      subprocess.run(["umount", mount], check=False)


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--full_disk", action="store_true", help="also fill small tmpfs mounts (root)")
  parser.add_argument("--out", default="experiments/results/fault_battery.json")
  args = parser.parse_args()
  rows, payload = [], []
  with tempfile.TemporaryDirectory() as scratch:
    for group, case, command, result in cases(scratch, args.full_disk):
      result.pop("stdout", None)
      payload.append({"class": group, "case": case, "command": command, **result})
      traceback = "yes" if result["traceback"] else "no"
      rows.append(f"| {group} | {case} | {result['exit']} | {traceback} | {result['last'][:220]} |")
      print(rows[-1], flush=True)
  print(
    "| class | case | exit | traceback | last line of stderr (or what was checked) |\n|---|---|---|---|---|"
  )
  print("\n".join(rows))
  common.save_json(args.out, payload)


if __name__ == "__main__":
  main()
