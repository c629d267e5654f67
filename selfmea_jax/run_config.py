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

from selfmea_jax.errors import InputError

IGNORED_KEYS = ("workdir",)  # where the run lives, not what it computes
RUN_FILES = (
  "checkpoints",
  "config.json",
  "fingerprint.json",
  "metrics.jsonl",
  "results.json",
  "curves.png",
  "alignment.tsv",
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


def differing_keys(saved: dict, current: dict) -> list[str]:
  a, b = flatten(saved), flatten(current)
  keys = sorted((set(a) | set(b)) - set(IGNORED_KEYS))
  return [k for k in keys if a.get(k, "<absent>") != b.get(k, "<absent>")]


def check_or_save_json(path: str, current: dict, mismatch: str, save: bool = True) -> None:
  """Saves `current` as JSON at path (when `save`), or, if a saved one differs, raises one
  line: `mismatch`, the differing keys with both values, and how to start over."""
  if os.path.exists(path):
    with open(path, encoding="utf-8") as f:
      saved = json.load(f)
    diff = differing_keys(saved, current)
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
  if not save:
    return
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", encoding="utf-8") as f:
    json.dump(current, f, indent=1)


def check_or_save(config: ml_collections.ConfigDict, workdir: str, save: bool = True) -> None:
  """Saves config.json in workdir (when `save`), or refuses when the saved one differs."""
  check_or_save_json(
    os.path.join(workdir, "config.json"),
    json.loads(config.to_json()),
    "this workdir holds a run of another config",
    save,
  )


def clear_run(workdir: str) -> None:
  """Removes a previous run's files from workdir (checkpoints, logs, results, self-training)."""
  if not os.path.isdir(workdir):
    return
  for name in os.listdir(workdir):
    path = os.path.join(workdir, name)
    if name in RUN_FILES or name.startswith("self_training_"):
      shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


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
