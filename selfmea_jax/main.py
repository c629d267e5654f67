"""Command line: one of two pipelines (config key `pipeline`), in one of three modes.

pipeline trainer: SelfKG / SelfMEA training (train/); aligner: the label-free aligner (align/).
mode train: run (resuming from the workdir), evaluate, export; eval: evaluate what the
workdir stores, without training; export: write alignment.tsv from it, without training.

python -m selfmea_jax.main --config=configs/synthetic.py
python -m selfmea_jax.main --config=configs/dbp15k.py:ja_en,aligner
python -m selfmea_jax.main --config=configs/ja_en.py --mode=eval
"""

from __future__ import annotations

import json
import os
import sys

from absl import app, flags, logging
import ml_collections
from ml_collections import config_flags

from selfmea_jax import cli_startup, compile_cache, config_checks, config_files, log_filters, run_config
from selfmea_jax.align import run as aligner
from selfmea_jax.data.load import input_files
from selfmea_jax.errors import InputError, exit_on_input_error
from selfmea_jax.train import distributed
from selfmea_jax.train import pipeline as trainer

config_files.make_importable()  # before the default config file is loaded
_CONFIG = config_flags.DEFINE_config_file(
  "config",
  os.path.join(config_files.REPOSITORY, "configs", "synthetic.py"),
  "Experiment config file, e.g. configs/dbp15k.py:ja_en,aligner (found from any directory); "
  "override any key with --config.<key>=<value>; --config_keys lists every key.",
)
_CONFIG_KEYS = flags.DEFINE_bool(
  "config_keys", False, "Print every config key with its default and comment (configs/default.py), then exit."
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory (default: config.workdir).")
_MODE = flags.DEFINE_enum(
  "mode",
  "train",
  ["train", "eval", "export"],
  "train: run the config's pipeline (resumes), evaluate and export; eval: evaluate what the "
  "workdir stores, without training; export: write alignment.tsv from it, without training.",
)
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step for eval/export (default: latest).")
_FRESH = flags.DEFINE_bool(
  "fresh",
  False,
  "Start over: remove the workdir's previous run (checkpoints, logs, results) instead of resuming it.",
)


@exit_on_input_error
def run(
  config: ml_collections.ConfigDict, workdir: str, mode: str, step: int | None = None, fresh: bool = False
) -> dict:
  """Runs one mode; training holds the workdir's lock and checks its config.json and data.json
  (evaluating checks them too, ignoring evaluation-only keys)."""
  distributed.initialize(config)  # multi-host: before any other JAX work (validate counts devices)
  config_checks.validate(config)
  logging.info("pipeline %s, mode %s, workdir %s", config.pipeline, mode, workdir)
  if not distributed.is_main_process():  # process 0 guards the workdir for all of them
    return _run_mode(config, workdir, mode, step)
  if mode != "train":
    run_config.check_or_save(config, workdir, save=False)
    run_config.check_or_save_data(input_files(config), workdir, save=False)
    return _run_mode(config, workdir, mode, step)
  with run_config.training_workdir(config, workdir, input_files(config), fresh):
    return _run_mode(config, workdir, mode, step)


def _run_mode(config: ml_collections.ConfigDict, workdir: str, mode: str, step: int | None) -> dict:
  if config.pipeline == "aligner":
    if step is not None:
      raise InputError("--step names a trainer checkpoint; the aligner restores each round's best")
    results = aligner.align(config, workdir, mode).report
  else:
    results = trainer.run(config, workdir, mode, step)
  print(json.dumps(results, indent=1))
  return results


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  cli_startup.started()
  if _CONFIG_KEYS.value:
    print(config_files.key_reference())
    return
  config = _CONFIG.value
  if config is None:
    raise app.UsageError("--config is required")
  workdir = _WORKDIR.value or config.workdir
  verbosity = flags.FLAGS.verbosity
  log_filters.configure(verbosity)
  if verbosity >= 1:
    logging.info("config:\n%s", config)
  if not config.distributed.enabled:  # processes of a multi-host run would share one cache
    compile_cache.enable(config.data.cache_dir)
  try:
    run(config, workdir, _MODE.value, _STEP.value, _FRESH.value)
  except KeyboardInterrupt as interrupt:
    print(f"interrupted: {str(interrupt) or 'rerun the same command to resume'}", file=sys.stderr)
    _exit_now(130)
  except SystemExit as stop:  # the `error:` line is out and every writer of the run is closed
    _exit_now(stop.code if isinstance(stop.code, int) else 1)


def _exit_now(code: int) -> None:
  """Exits without the interpreter's shutdown, where background writers that lost their disk
  (orbax's, TensorBoard's) would print tracebacks after the one line that says it all."""
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(code)


def _chain(error: BaseException) -> list[str]:
  texts = []
  while error is not None:
    texts.append(str(error).replace("\\n", "\n").replace("\\'", "'"))
    error = error.__cause__ or error.__context__
  return texts


def flag_error_line(error: BaseException, argv: list[str]) -> str:
  """One line for a bad --config file or override (keeps ml_collections' 'Did you mean')."""
  texts = _chain(error)
  overrides = " ".join(a for a in argv[1:] if a.startswith("--config"))
  for text in texts:
    if "Did you mean" in text:
      hint = text[text.index("Did you mean") :].split("\n")[0].strip("'\" ")
      return f"error: unknown config key in {overrides}: {hint}"
  for text in texts:
    if "No such file or directory" in text:
      path = text.rsplit("No such file or directory:", 1)[1].strip().strip("'").split("'")[0]
      return f"error: {path}: config file not found"
  lines = [line.strip() for line in texts[-1].splitlines() if line.strip()]
  return f"error: {lines[0] if lines else type(error).__name__} (in: {overrides})"


def parse_flags(argv: list[str]) -> list[str]:
  """absl flag parsing; a bad --config file, key or value is one `error:` line (exit 2)."""
  argv = config_files.resolve(argv)
  try:
    remaining = flags.FLAGS(argv)
    _ = _CONFIG.value.workdir  # config_flags reports a failed file load only on first use
    return remaining
  except Exception as e:  # pylint: disable=broad-except  (config_flags wraps many kinds)
    print(flag_error_line(e, argv), file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags)
