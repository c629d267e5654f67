"""Output files written whole or not at all: a temporary file beside the target, then a
rename (a reader, or a rerun after a crash, never sees half a file)."""

from __future__ import annotations

from collections.abc import Callable
import hashlib
import json
import os


def write_atomically(path: str, write: Callable, binary: bool = False) -> str:
  """Calls write(file) on a temporary file beside path, then renames it; returns path."""
  directory = os.path.dirname(path) or "."
  os.makedirs(directory, exist_ok=True)
  temporary = os.path.join(directory, f".{os.path.basename(path)}.tmp")
  try:
    with open(temporary, "wb") if binary else open(temporary, "w", encoding="utf-8") as f:
      write(f)
    os.replace(temporary, path)
  except OSError as e:  # the target keeps its old content; name it (a failed write() has no path)
    if os.path.exists(temporary):
      os.remove(temporary)
    raise OSError(e.errno, e.strerror, path) from None
  return path


def write_text(path: str, text: str) -> str:
  """Writes `text` to path atomically; returns path."""
  return write_atomically(path, lambda f: f.write(text))


def write_json(path: str, payload) -> str:
  """payload as indented JSON at path, atomically; returns path."""
  return write_text(path, json.dumps(payload, indent=1))


def digests(paths: list[str]) -> dict[str, str]:
  """{absolute path: SHA-256 of its bytes} of the existing files among paths."""
  out = {}
  for path in sorted(set(paths)):
    if os.path.isfile(path):
      h = hashlib.sha256()
      with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
          h.update(block)
      out[os.path.abspath(path)] = h.hexdigest()
  return out
