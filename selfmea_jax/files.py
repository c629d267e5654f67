"""Output files written whole or not at all: a temporary file beside the target, then a
rename (a reader, or a rerun after a crash, never sees half a file)."""

from __future__ import annotations

import json
import os


def write_text(path: str, text: str) -> str:
  """Writes `text` to path atomically; returns path."""
  directory = os.path.dirname(path) or "."
  os.makedirs(directory, exist_ok=True)
  temporary = os.path.join(directory, f".{os.path.basename(path)}.tmp")
  with open(temporary, "w", encoding="utf-8") as f:
    f.write(text)
  os.replace(temporary, path)
  return path


def write_json(path: str, payload) -> str:
  """payload as indented JSON at path, atomically; returns path."""
  return write_text(path, json.dumps(payload, indent=1))
