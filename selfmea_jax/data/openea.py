"""Loader for your own KG pair in the OpenEA layout (URIs as ids, gold links optional).

  <dir>/rel_triples_1, <dir>/rel_triples_2   `head \t relation \t tail`, URIs, UTF-8
  <dir>/ent_links                            optional: `KG1 URI \t KG2 URI`, one-to-one

Entities are every URI of a KG's triples (plus its side of the links); their names come
from the URIs (last path segment, percent-decoded, '_' -> ' '). Local indices are a seeded
permutation of the sorted URIs, so file order can never leak an answer. With links, a seeded
`valid_fraction` of them is the validation pool (model selection only) and the rest are
evaluated; without, nothing is evaluated and the alignment is only exported.
"""

from __future__ import annotations

import os

import numpy as np

from selfmea_jax.data import tsv
from selfmea_jax.data.dbp15k import name_from_uri
from selfmea_jax.data.kg import AlignmentTask, KnowledgeGraph
from selfmea_jax.errors import InputError


def read_links(path: str) -> list[tuple[str, str]]:
  """`uri1 \t uri2` lines; an entity linked twice on either side is an error (file:line)."""
  links, seen = [], ({}, {})
  for line_number, (left, right) in tsv.read_rows(path, 2):
    for side, uri in enumerate((left, right)):
      if uri in seen[side]:
        raise InputError(f"KG{side + 1} entity {uri!r} is linked twice (first on line "
                         f"{seen[side][uri]}); links must be one-to-one", path, line_number)
      seen[side][uri] = line_number
    links.append((left, right))
  return links


def _load_kg(directory: str, side: int, linked: list[str], rng: np.random.Generator):
  path = os.path.join(directory, f"rel_triples_{side}")
  rows = tsv.read_rows(path, 3)
  if not rows:
    raise InputError("no triples (empty graph)", path)
  uris = sorted({f[0] for _, f in rows} | {f[2] for _, f in rows} | set(linked))
  relations = sorted({f[1] for _, f in rows})
  source_rows = rng.permutation(len(uris)).astype(np.int64)  # local index -> sorted position
  local_of = {uris[row]: local for local, row in enumerate(source_rows)}
  relation_of = {r: i for i, r in enumerate(relations)}
  triples = np.array([[local_of[h], relation_of[r], local_of[t]] for _, (h, r, t) in rows], np.int32)
  local_uris = [uris[row] for row in source_rows]
  kg = KnowledgeGraph(names=[name_from_uri(u) for u in local_uris], uris=local_uris,
                      triples=triples, relation_names=relations, source_rows=source_rows,
                      source_ids=source_rows.copy())
  return kg, local_of


def load_openea(directory: str, seed: int = 0, valid_fraction: float = 0.3) -> AlignmentTask:
  """Loads <directory> (see the module doc); ent_links is optional."""
  if not os.path.isdir(directory):
    raise InputError("KG pair directory not found (expected rel_triples_1, rel_triples_2 and "
                     "optionally ent_links)", directory)
  links_path = os.path.join(directory, "ent_links")
  links = read_links(links_path) if os.path.exists(links_path) else []
  rng = np.random.default_rng(seed)
  (kg1, local1), (kg2, local2) = (_load_kg(directory, side, [l[side - 1] for l in links], rng)
                                  for side in (1, 2))
  pairs = np.array([[local1[a], local2[b]] for a, b in links], np.int32).reshape(-1, 2)
  pairs = pairs[rng.permutation(len(pairs))]
  num_valid = int(round(valid_fraction * len(pairs)))
  name = os.path.basename(os.path.normpath(directory))
  return AlignmentTask(name=name, kg1=kg1, kg2=kg2, valid_links=pairs[:num_valid],
                       test_links=pairs[num_valid:])
