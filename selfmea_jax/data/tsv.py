"""Strict readers for tab-separated id files, with file:line errors."""

from __future__ import annotations

import os

import numpy as np

from selfmea_jax.errors import InputError


def require_file(path: str) -> str:
  if not os.path.isfile(path):
    raise InputError("file not found", path)
  return path


def read_rows(path: str, num_fields: int) -> list[tuple[int, list[str]]]:
  """Returns (line_number, fields) for each non-empty line; exactly num_fields per line."""
  rows = []
  with open(require_file(path), "rb") as f:
    for line_number, raw in enumerate(f, start=1):
      try:
        line = raw.decode("utf-8").rstrip("\n").rstrip("\r")
        if line_number == 1:
          line = line.removeprefix("\ufeff")  # a byte-order mark is the encoding's, not the data's
      except UnicodeDecodeError as e:
        raise InputError(
          f"not UTF-8 (byte {e.start} of the line); re-save the file as UTF-8", path, line_number
        ) from None
      if not line.strip():
        continue
      fields = line.split("\t")
      if len(fields) != num_fields:
        raise InputError(
          f"expected {num_fields} tab-separated fields, got {len(fields)}: {line[:80]!r}", path, line_number
        )
      rows.append((line_number, fields))
  return rows


def parse_int(text: str, path: str, line_number: int) -> int:
  try:
    return int(text)
  except ValueError:
    raise InputError(f"expected an integer id, got {text[:40]!r}", path, line_number) from None


def read_id_map(path: str) -> tuple[list[int], list[str]]:
  """Reads `id \\t value` lines. Returns (ids, values) in file order; ids must be unique."""
  ids, values, seen = [], [], set()
  for line_number, (id_text, value) in read_rows(path, 2):
    entity_id = parse_int(id_text, path, line_number)
    if entity_id in seen:
      raise InputError(f"duplicate id {entity_id}", path, line_number)
    seen.add(entity_id)
    ids.append(entity_id)
    values.append(value)
  if not ids:
    raise InputError("no entries (empty file)", path)
  return ids, values


def read_int_table(path: str, num_fields: int, lookups: list[dict[int, int] | None]) -> np.ndarray:
  """Reads an integer table; column j is mapped through lookups[j] (unknown id -> error)."""
  rows = read_rows(path, num_fields)
  out = np.empty((len(rows), num_fields), dtype=np.int32)
  for row_index, (line_number, fields) in enumerate(rows):
    for j, (text, lookup) in enumerate(zip(fields, lookups)):
      value = parse_int(text, path, line_number)
      if lookup is not None:
        if value not in lookup:
          raise InputError(f"unknown id {value} in column {j + 1}", path, line_number)
        value = lookup[value]
      out[row_index, j] = value
  return out
