"""EVA-style relation bags: counts of the top-K relations each entity takes part in."""

from __future__ import annotations

import collections

import numpy as np

from selfmea_jax.data.kg import KnowledgeGraph


def relation_key(uri: str, shared_names: bool) -> str:
  """With shared_names, `.../property/birthPlace` in either KG maps to 'birthplace'."""
  return uri.rstrip("/").rsplit("/", 1)[-1].lower() if shared_names else uri


def relation_vocabulary(kgs: list[KnowledgeGraph], top_k: int, shared_names: bool = True) -> list[str]:
  """The top_k most frequent relation keys over all triples of all KGs (ties by key)."""
  counts = collections.Counter()
  for kg in kgs:
    keys = [relation_key(u, shared_names) for u in kg.relation_names]
    per_relation = np.bincount(kg.triples[:, 1], minlength=len(keys))
    for key, count in zip(keys, per_relation):
      counts[key] += int(count)
  return [key for key, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top_k]]


def relation_bags(kg: KnowledgeGraph, vocabulary: list[str], shared_names: bool = True) -> np.ndarray:
  """[n, len(vocabulary)] float32: log(1 + times the entity is head or tail of that relation)."""
  column = {key: i for i, key in enumerate(vocabulary)}
  relation_column = np.array([column.get(relation_key(u, shared_names), -1) for u in kg.relation_names])
  cols = relation_column[kg.triples[:, 1]]
  keep = cols >= 0
  bags = np.zeros((kg.num_entities, len(vocabulary)), np.float32)
  for entity_column in (0, 2):
    np.add.at(bags, (kg.triples[keep, entity_column], cols[keep]), 1.0)
  return np.log1p(bags)
