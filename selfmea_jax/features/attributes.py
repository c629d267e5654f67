"""EVA-style attribute bags from `training_attrs` files (`entity uri \\t attr \\t attr ...`)."""

from __future__ import annotations

import collections

import numpy as np

from selfmea_jax.data.kg import KnowledgeGraph
from selfmea_jax.data.tsv import require_file
from selfmea_jax.errors import InputError
from selfmea_jax.features.relations import relation_key


def read_attribute_file(path: str, kg: KnowledgeGraph) -> list[list[str]]:
  """Per local entity, its attribute keys (lower-cased local names). Unknown URI -> error."""
  local = {uri: i for i, uri in enumerate(kg.uris)}
  out = [[] for _ in range(kg.num_entities)]
  with open(require_file(path), encoding="utf-8") as f:
    for line_number, line in enumerate(f, start=1):
      fields = line.rstrip("\n").split("\t")
      if not fields[0].strip():
        continue
      if fields[0] not in local:
        raise InputError(f"unknown entity {fields[0][:80]!r}", path, line_number)
      out[local[fields[0]]] = [relation_key(a, True) for a in fields[1:] if a.strip()]
  return out


def attribute_vocabulary(per_kg: list[list[list[str]]], top_k: int) -> list[str]:
  counts = collections.Counter(a for entities in per_kg for attrs in entities for a in set(attrs))
  return [key for key, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top_k]]


def attribute_bags(entities: list[list[str]], vocabulary: list[str]) -> np.ndarray:
  """[n, len(vocabulary)] float32 binary."""
  column = {key: i for i, key in enumerate(vocabulary)}
  bags = np.zeros((len(entities), len(vocabulary)), np.float32)
  for row, attrs in enumerate(entities):
    cols = [column[a] for a in attrs if a in column]
    bags[row, cols] = 1.0
  return bags
