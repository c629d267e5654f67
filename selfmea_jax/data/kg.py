"""Containers for a knowledge-graph pair with a (held-out) gold alignment.

Entities are local indices 0..n-1 per KG; these indices are a seeded shuffle of the
source file's ids, so nothing downstream can exploit id order.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from selfmea_jax.errors import InputError

TRANSLATED_SOURCES = ("translated", "translated_cased")  # name sources read from translations


@dataclasses.dataclass(frozen=True)
class KnowledgeGraph:
  """One KG.

  Attributes:
    names: [n] entity surface names (original language).
    uris: [n] entity URIs (or synthetic labels).
    triples: [m, 3] int32 (head, relation, tail), local entity / relation indices.
    relation_names: [r] relation URIs.
    source_rows: [n] int64, row of each entity in its source id file (feature-cache order).
    source_ids: [n] int64, each entity's id in the source files (image pickles are keyed by it).
    translated_names: optional [n] machine-translated names ('' where an entity has none).
    cased_translated_names: optional [n] machine-translated names as cased titles (DBP15K's
      `ent_ids_1_trans_goo`; '' where an entity has none).
  """

  names: list[str]
  uris: list[str]
  triples: np.ndarray
  relation_names: list[str]
  source_rows: np.ndarray
  source_ids: np.ndarray
  translated_names: list[str] | None = None
  cased_translated_names: list[str] | None = None

  @property
  def num_entities(self) -> int:
    return len(self.names)

  @property
  def num_relations(self) -> int:
    return len(self.relation_names)

  def translations(self, source: str) -> list[str] | None:
    """[n] machine-translated names of a name source (`translated` or `translated_cased`),
    None where none were loaded."""
    return self.cased_translated_names if source == "translated_cased" else self.translated_names

  def num_missing_translations(self, source: str) -> int | None:
    """Entities without a machine-translated name (None: no translations loaded)."""
    names = self.translations(source)
    return None if names is None else sum(1 for t in names if not t)


@dataclasses.dataclass(frozen=True)
class AlignmentTask:
  """A KG pair. Links are [k, 2] int32 (kg1 index, kg2 index).

  valid_links: the pool for validation / model selection only (never for training).
  test_links: the evaluation links.
  dangling1: [d] KG1 entities known to have no counterpart, scored with the test links;
  valid_dangling1: those scored with the validation pool (both for evaluation only).
  """

  name: str
  kg1: KnowledgeGraph
  kg2: KnowledgeGraph
  valid_links: np.ndarray
  test_links: np.ndarray
  dangling1: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int64))
  valid_dangling1: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int64))

  def describe(self) -> str:
    return (
      f"{self.name}: KG1 {self.kg1.num_entities} entities / {len(self.kg1.triples)} triples, "
      f"KG2 {self.kg2.num_entities} entities / {len(self.kg2.triples)} triples, "
      f"{len(self.valid_links)} validation + {len(self.test_links)} test links"
      + (
        f", {len(self.valid_dangling1)} + {len(self.dangling1)} KG1 entities without a counterpart"
        if len(self.dangling1) + len(self.valid_dangling1)
        else ""
      )
    )


def check_one_to_one(tables) -> None:
  """Gold links must be one-to-one across all files. tables: [(path, [(line, (kg1, kg2))])];
  an entity linked twice (a duplicate or a conflicting link) is an error at its file:line."""
  seen = ({}, {})
  for path, rows in tables:
    for line_number, pair in rows:
      for kg_index in (0, 1):
        if pair[kg_index] in seen[kg_index]:
          first_path, first_line = seen[kg_index][pair[kg_index]]
          raise InputError(
            f"KG{kg_index + 1} entity {pair[kg_index]!r} linked twice (first at "
            f"{first_path}:{first_line}); gold links must be one-to-one",
            path,
            line_number,
          )
        seen[kg_index][pair[kg_index]] = (path, line_number)
