"""A workdir's guards: the resolved config a resumed run must match, and a lock file.

`<workdir>/config.json` is written when a run starts; a later run into the same workdir with
a different config (or data, or seed) stops with one line naming the differing keys, rather
than silently mixing checkpoints of one config with another. `--fresh` starts over.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil

import ml_collections

from selfmea_jax import files
from selfmea_jax.errors import InputError

IGNORED_KEYS = ("workdir",)  # where the run lives, not what it computes
EVALUATION_SECTIONS = ("eval.", "decoding.")  # change what is reported, never what is trained
RUN_FILES = (
  "checkpoints",
  "config.json",
  "data.json",
  "fingerprint.json",
  "metrics.jsonl",
  "results.json",
  "curves.png",
  "alignment.tsv",
  "tensorboard",
)


def flatten(tree: dict, prefix: str = "") -> dict:
  """{'a': {'b': 1}} -> {'a.b': 1}; values normalised through JSON (tuples -> lists)."""
  out = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      out.update(flatten(value, f"{prefix}{key}."))
    else:
      out[f"{prefix}{key}"] = json.loads(json.dumps(value))
  return out


def differing_keys(saved: dict, current: dict, ignored_prefixes: tuple[str, ...] = ()) -> list[str]:
  a, b = flatten(saved), flatten(current)
  keys = sorted((set(a) | set(b)) - set(IGNORED_KEYS))
  keys = [k for k in keys if not k.startswith(ignored_prefixes)]
  return [k for k in keys if a.get(k, "<absent>") != b.get(k, "<absent>")]


def read_json(path: str) -> dict:
  """A workdir's JSON state file; a truncated or corrupt one is one line saying what to do."""
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise InputError(
      f"unreadable ({e}; a full disk or a crash can truncate it): delete this file, or rerun with "
      "--fresh to start over",
      path,
    ) from None


def check_or_save_json(
  path: str, current: dict, mismatch: str, save: bool = True, ignored_prefixes: tuple[str, ...] = ()
) -> None:
  """Saves `current` as JSON at path (when `save`), or, if a saved one differs (outside the
  ignored key prefixes), raises one line: `mismatch`, the differing keys with both values,
  and how to start over."""
  if os.path.exists(path):
    saved = read_json(path)
    diff = differing_keys(saved, current, ignored_prefixes)
    if diff:
      before, after = flatten(saved), flatten(current)
      shown = ", ".join(
        f"{k} ({before.get(k, '<absent>')!r} -> {after.get(k, '<absent>')!r})" for k in diff[:5]
      )
      more = f" and {len(diff) - 5} more" if len(diff) > 5 else ""
      raise InputError(
        f"{mismatch}: {shown}{more}; rerun with --fresh to start over, or choose another --workdir",
        os.path.dirname(path),
      )
    return
  if save:
    files.write_json(path, current)


def check_or_save(config: ml_collections.ConfigDict, workdir: str, save: bool = True) -> None:
  """Saves config.json in workdir (when `save`), or refuses when the saved one differs.
  Evaluating (save False) ignores the eval.* and decoding.* keys: they change what is
  reported, not what was trained."""
  check_or_save_json(
    os.path.join(workdir, "config.json"),
    json.loads(config.to_json()),
    "this workdir holds a run of another config",
    save,
    () if save else EVALUATION_SECTIONS,
  )


def check_or_save_data(paths: list[str], workdir: str, save: bool = True) -> None:
  """Saves data.json (the SHA-256 of every input file) in workdir, or refuses when a file
  changed since the run started there (a resume would mix models of two datasets)."""
  path = os.path.join(workdir, "data.json")
  current = files.digests(paths)
  if not os.path.exists(path):
    if save:
      files.write_json(path, {"sha256": current})
    return
  saved = read_json(path).get("sha256", {})
  changes = [
    f"{p} ({'changed' if p in current else 'gone'})" for p in sorted(saved) if saved[p] != current.get(p)
  ]
  changes += [f"{p} (new)" for p in sorted(set(current) - set(saved))]
  if changes:
    more = f" and {len(changes) - 3} more" if len(changes) > 3 else ""
    raise InputError(
      f"the input data changed since this workdir's run started: {', '.join(changes[:3])}{more}; "
      "rerun with --fresh to start over, or choose another --workdir",
      workdir,
    )


def unstarted(workdir: str) -> bool:
  """Whether workdir holds no trained state yet (no checkpoints, no self-training round)."""
  if not os.path.isdir(workdir):
    return True
  names = os.listdir(workdir)
  return "checkpoints" not in names and not any(n.startswith("self_training_") for n in names)


def clear_run(workdir: str) -> None:
  """Removes a previous run's files from workdir (checkpoints, logs, results, self-training)."""
  if not os.path.isdir(workdir):
    return
  for name in os.listdir(workdir):
    path = os.path.join(workdir, name)
    if name in RUN_FILES or name.startswith("self_training_"):
      shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


@contextlib.contextmanager
def training_workdir(
  config: ml_collections.ConfigDict, workdir: str, data_paths: list[str], fresh: bool = False
):
  """Holds workdir for a run that trains: its lock; --fresh clears it; config.json and
  data.json are checked (or saved); a run that fails before it keeps anything (no checkpoint,
  no round) takes its guard files with it, so the corrected command is not refused."""
  with workdir_lock(workdir):
    if fresh:
      clear_run(workdir)
    new = unstarted(workdir)
    check_or_save(config, workdir)
    check_or_save_data(data_paths, workdir)
    try:
      yield
    except Exception:
      if new and unstarted(workdir):
        clear_run(workdir)
      raise


@contextlib.contextmanager
def workdir_lock(workdir: str):
  """Holds <workdir>/.lock while a run writes there; a second run into the same workdir
  stops at once with the first one's pid (the lock dies with its process, even on kill -9)."""
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, ".lock")
  with open(path, "a+", encoding="utf-8") as f:
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      f.seek(0)
      holder = f.read().strip() or "unknown"
      raise InputError(
        f"another run (pid {holder}) is using this workdir; wait for it or choose another --workdir", workdir
      ) from None
    f.seek(0)
    f.truncate()
    f.write(str(os.getpid()))
    f.flush()
    try:
      yield
    finally:
      fcntl.flock(f, fcntl.LOCK_UN)
