"""Config files from the command line: found from any working directory, and every key
listed with its default and its comment from configs/default.py (`--config_keys`)."""

from __future__ import annotations

import importlib.util
import os
import re
import sys

from selfmea_jax.errors import InputError

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_FILE = os.path.join(REPOSITORY, "configs", "default.py")
_KEY_LINE = re.compile(r"^\s*c\.([\w.]+)\s*=\s*(.*?)\s*(?:#\s?(.*))?$")
_MORE_COMMENT = re.compile(r"^\s*#\s{2,}(.*)$")  # an indented comment continues the line above


def resolve(argv: list[str]) -> list[str]:
  """argv with each --config=<file>[:<arg>] that is not found from the working directory
  pointed at the repository's copy (configs/...), and the folder above each config file put
  on sys.path, so that its `from configs import ...` works from anywhere."""
  out = []
  for arg in argv:
    if arg.startswith("--config="):
      path, colon, option = arg[len("--config=") :].partition(":")
      beside = os.path.join(REPOSITORY, path)
      if not os.path.exists(path) and not os.path.isabs(path) and os.path.exists(beside):
        path = beside
      root = os.path.dirname(os.path.dirname(os.path.abspath(path)))
      if root not in sys.path:
        sys.path.insert(0, root)
      arg = f"--config={path}{colon}{option}"
    out.append(arg)
  return out


def make_importable() -> None:
  """The repository's configs package importable from any working directory (the default
  config file and the `from configs import ...` of every config file); appended, so a
  configs/ folder of the working directory still wins."""
  if REPOSITORY not in sys.path:
    sys.path.append(REPOSITORY)


def load(name: str, arg: str | None = None):
  """The ConfigDict of configs/<name>.py[:arg] of the repository (as --config would load it)."""
  make_importable()
  path = os.path.join(REPOSITORY, "configs", f"{name}.py")
  spec = importlib.util.spec_from_file_location(f"configs.{name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config() if arg is None else module.get_config(arg)


def set_key(config, key: str, value) -> None:
  """config.<key> = value for a dotted key ('align.self_training_rounds'); an unknown key is
  one InputError line."""
  *sections, name = key.split(".")
  node = config
  for section in sections:
    node = node[section] if section in node and hasattr(node[section], "items") else {}
  if name not in node:
    raise InputError(f"unknown config key {key!r} (python -m selfmea_jax.main --config_keys lists them)")
  node[name] = value


def key_reference(path: str = DEFAULT_FILE) -> str:
  """'key = default  # comment' for every key that configs/default.py sets."""
  rows, last = [], None
  with open(path, encoding="utf-8") as f:
    for line in f:
      more = _MORE_COMMENT.match(line)
      if more and last is not None:
        rows[last] += " " + more.group(1).strip()
        continue
      match = _KEY_LINE.match(line)
      if match and "ConfigDict(" not in match.group(2):
        key, value, comment = match.groups()
        rows.append(f"{key} = {value}" + (f"  # {comment.strip()}" if comment else ""))
        last = len(rows) - 1
      elif not line.strip().startswith("#"):
        last = None
  return "\n".join(rows)
