"""Loader for your own KG pair in the OpenEA layout (URIs as ids, gold links optional).

  <dir>/rel_triples_1, <dir>/rel_triples_2   `head \t relation \t tail`, URIs, UTF-8
  <dir>/ent_links                            optional: `KG1 URI \t KG2 URI`, one-to-one
  <dir>/names_1, <dir>/names_2               optional: `URI \t name` (default: from the URI)
  <dir>/translated_names_1, _2               optional: `URI \t machine-translated name`, read
                                             by the `translated` and `translated_cased` name
                                             sources (an entity without one keeps its name)
  <dir>/attr_triples_1, attr_triples_2       optional: `URI \t attribute \t value` (used by
                                             the `attribute` modality: attribute bags)
  <dir>/dangling_entities                    optional: `kg \t URI`, entities known to have no
                                             counterpart (evaluation only, like ent_links)

Entities are every URI of a KG's triples (plus its side of the links); their names come
from the URIs (last path segment, percent-decoded, '_' -> ' '). Local indices are a seeded
permutation of the sorted URIs, so file order can never leak an answer. With links, a seeded
`valid_fraction` of them is the validation pool (model selection only) and the rest are
evaluated; without, nothing is evaluated and the alignment is only exported.
"""

from __future__ import annotations

import dataclasses
import os
import urllib.parse

from absl import logging
import numpy as np

from selfmea_jax import rng_streams
from selfmea_jax.data import tsv
from selfmea_jax.data.dbp15k import name_from_uri
from selfmea_jax.data.kg import AlignmentTask, KnowledgeGraph, check_one_to_one
from selfmea_jax.errors import InputError, warn


def read_links(path: str) -> list[tuple[int, str, str]]:
  """`uri1 \t uri2` lines as (line, uri1, uri2); an entity linked twice on either side, or a
  URI with white space around it, is an error (file:line)."""
  rows = tsv.read_rows(path, 2)
  check_one_to_one([(path, ((line_number, tuple(fields)) for line_number, fields in rows))])
  for line_number, fields in rows:
    for uri in fields:
      if uri != uri.strip():
        raise InputError(f"URI {uri!r} has white space around it; remove it", path, line_number)
  return [(line_number, a, b) for line_number, (a, b) in rows]


def _normalised(uri: str) -> str:
  """A URI with case, '_' / ' ' and percent-encoding folded (typo detection only)."""
  return urllib.parse.unquote(uri).replace("_", " ").casefold().strip()


def _one_letter_apart(a: str, b: str) -> bool:
  """Whether b is a with one Latin letter inserted, deleted or replaced (digits differ on
  purpose: `Apollo_11` and `Apollo_12` are two entities; `Berlinn` is a typo of `Berlin`; in
  kana or CJK one character apart is another word: ガーディアン, ガーデニアン)."""
  if a == b or abs(len(a) - len(b)) > 1 or min(len(a), len(b)) < 5:
    return False
  i = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
  if len(a) == len(b):
    return a[i + 1 :] == b[i + 1 :] and _latin(a[i]) and _latin(b[i])
  longer, shorter = (a, b) if len(a) > len(b) else (b, a)
  return longer[i + 1 :] == shorter[i:] and _latin(longer[i])


def _latin(char: str) -> bool:
  return char.isascii() and char.isalpha()


class NearDuplicates:
  """Finds the entity a URI is almost surely a mistyped form of: equal after folding case,
  '_' / ' ' and percent-encoding, or one letter apart in the local name (same prefix)."""

  def __init__(self, uris: set[str]):
    self.by_folded = {_normalised(u): u for u in uris}
    self.by_length = {}
    for uri in uris:
      self.by_length.setdefault(len(uri), []).append(uri)

  def closest(self, uri: str, linked: set[str] = frozenset()) -> str | None:
    """The entity `uri` is almost surely a mistyped form of, or None. A one-letter neighbour
    that is itself in `linked` (the link file's URIs of this side) is another entity with a
    link of its own (`Patna`, `Batna`), not the target of a typo."""
    folded = self.by_folded.get(_normalised(uri))
    if folded is not None:
      return folded
    prefix, _, local = uri.rpartition("/")
    for length in (len(uri) - 1, len(uri), len(uri) + 1):
      for known in self.by_length.get(length, ()):
        known_prefix, _, known_local = known.rpartition("/")
        if known_prefix == prefix and known not in linked and _one_letter_apart(local, known_local):
          return known
    return None


def check_links(path: str, links: list[tuple[int, str, str]], triple_uris: tuple[set[str], set[str]]) -> None:
  """Linked URIs that are in no triple of their KG are legitimate (isolated entities, aligned
  by name alone) but counted and shown. Stops (file:line) where a link is almost surely a
  mistake: its columns swapped (KG1 side in KG2's triples and the other way round), or a
  near-duplicate of an entity of the KG (NearDuplicates: another case or encoding, a letter
  more, less or replaced)."""
  isolated = [[], []]
  near = [NearDuplicates(uris) for uris in triple_uris]
  linked = [{pair[side] for _, *pair in links} for side in (0, 1)]
  for line_number, *pair in links:
    if pair[0] not in triple_uris[0] and pair[0] in triple_uris[1] and pair[1] in triple_uris[0]:
      raise InputError(
        f"the columns look swapped: {pair[0]!r} is a KG2 entity and {pair[1]!r} a KG1 entity "
        "(ent_links holds `KG1 URI <TAB> KG2 URI`)",
        path,
        line_number,
      )
    for side, uri in enumerate(pair):
      if uri in triple_uris[side]:
        continue
      if len(isolated[side]) < 200:  # a typo check per URI; beyond that, only counted
        closest = near[side].closest(uri, linked[side])
        if closest is not None:
          raise InputError(
            f"KG{side + 1} entity {uri!r} is in no triple of rel_triples_{side + 1}; "
            f"did you mean {closest!r}?",
            path,
            line_number,
          )
      isolated[side].append((line_number, uri))
  if isolated[0] or isolated[1]:
    first = (isolated[0] or isolated[1])[0]
    warn(
      f"{path}: {len(isolated[0])} KG1 and {len(isolated[1])} KG2 linked entities are in no triple "
      f"(kept as isolated entities, aligned by name alone; first: line {first[0]}, {first[1]!r})"
    )


def read_names(path: str, local_of: dict[str, int]) -> dict[str, str]:
  """Optional `URI \t name` file -> {uri: name}; a URI not in the KG is an error (file:line)."""
  if not os.path.exists(path):
    return {}
  names, first_line = {}, {}
  for line_number, (uri, name) in tsv.read_rows(path, 2):
    if uri not in local_of:
      raise InputError(f"entity {uri!r} is not in the KG's triples or links", path, line_number)
    if uri in names and names[uri] != name:
      raise InputError(
        f"entity {uri!r} is named twice ({names[uri]!r} on line {first_line[uri]}, {name!r} here)",
        path,
        line_number,
      )
    names[uri], first_line[uri] = name, first_line.get(uri, line_number)
  return names


def attribute_keys(directory: str, kg: KnowledgeGraph, kg_number: int) -> list[list[str]] | None:
  """Per local entity, the attribute keys (lower-cased local names) of attr_triples_<kg_number>,
  or None without that file. Entities that are not in the KG are skipped (and counted)."""
  path = os.path.join(directory, f"attr_triples_{kg_number}")
  if not os.path.exists(path):
    return None
  local_of = {uri: i for i, uri in enumerate(kg.uris)}
  keys, skipped = [[] for _ in range(kg.num_entities)], 0
  for _, (uri, attribute, _value) in tsv.read_rows(path, 3):
    if uri not in local_of:
      skipped += 1
      continue
    keys[local_of[uri]].append(attribute.rstrip("/").rsplit("/", 1)[-1].lower())
  if skipped:
    logging.info("%s: %d attribute triples of entities outside the KG skipped", path, skipped)
  return keys


def read_triples(directory: str, kg_number: int) -> list[tuple[int, list[str]]]:
  path = os.path.join(directory, f"rel_triples_{kg_number}")
  rows = tsv.read_rows(path, 3)
  if not rows:
    raise InputError("no triples (empty graph)", path)
  return rows


def read_translations(directory: str, kg_number: int, local_uris: list[str], local_of: dict[str, int]):
  """[n] machine-translated names in local order from translated_names_<kg_number> ('' where an
  entity has none), or None without that file."""
  path = os.path.join(directory, f"translated_names_{kg_number}")
  if not os.path.exists(path):
    return None
  translated = read_names(path, local_of)
  return [translated.get(u, "") for u in local_uris]


def _load_kg(directory: str, kg_number: int, rows, linked: list[str], rng: np.random.Generator):
  uris = sorted({f[0] for _, f in rows} | {f[2] for _, f in rows} | set(linked))
  relations = sorted({f[1] for _, f in rows})
  source_rows = rng.permutation(len(uris)).astype(np.int64)  # local index -> sorted position
  local_of = {uris[row]: local for local, row in enumerate(source_rows)}
  relation_of = {r: i for i, r in enumerate(relations)}
  triples = np.array([[local_of[h], relation_of[r], local_of[t]] for _, (h, r, t) in rows], np.int32)
  local_uris = [uris[row] for row in source_rows]
  names = read_names(os.path.join(directory, f"names_{kg_number}"), local_of)
  translations = read_translations(directory, kg_number, local_uris, local_of)
  kg = KnowledgeGraph(
    names=[names.get(u) or name_from_uri(u) for u in local_uris],
    uris=local_uris,
    triples=triples,
    relation_names=relations,
    source_rows=source_rows,
    source_ids=source_rows.copy(),
    translated_names=translations,
    cased_translated_names=translations,
  )
  return kg, local_of


def _untranslated_as_blank(kg: KnowledgeGraph, other: KnowledgeGraph) -> KnowledgeGraph:
  """A KG without a translated_names file beside one that has it: every entity keeps its own
  name under the translated sources (the KG is already in the target language)."""
  if kg.translated_names is not None or other.translated_names is None:
    return kg
  blank = [""] * kg.num_entities
  return dataclasses.replace(kg, translated_names=blank, cased_translated_names=blank)


def load_openea(directory: str, seed: int = 0, valid_fraction: float = 0.3) -> AlignmentTask:
  """Loads <directory> (see the module doc); ent_links is optional."""
  if not os.path.isdir(directory):
    raise InputError(
      "KG pair directory not found (expected rel_triples_1, rel_triples_2 and optionally ent_links)",
      directory,
    )
  links_path = os.path.join(directory, "ent_links")
  links = read_links(links_path) if os.path.exists(links_path) else []
  triples = [read_triples(directory, kg_number) for kg_number in (1, 2)]
  check_links(links_path, links, tuple({f[i] for _, f in rows for i in (0, 2)} for rows in triples))
  rng = rng_streams.entity_remap(seed)
  (kg1, local1), (kg2, local2) = (
    _load_kg(directory, kg_number, rows, [link[kg_number] for link in links], rng)
    for kg_number, rows in zip((1, 2), triples)
  )
  kg1, kg2 = _untranslated_as_blank(kg1, kg2), _untranslated_as_blank(kg2, kg1)
  pairs = np.array([[local1[a], local2[b]] for _, a, b in links], np.int32).reshape(-1, 2)
  pairs = pairs[rng.permutation(len(pairs))]
  num_valid = round(valid_fraction * len(pairs))
  name = os.path.basename(os.path.normpath(directory))
  valid, test = pairs[:num_valid], pairs[num_valid:]
  dangling = read_dangling(os.path.join(directory, "dangling_entities"), local1)
  dangling = dangling[rng.permutation(len(dangling))]  # the same share joins the validation pool
  num_valid = round(valid_fraction * len(dangling))
  return AlignmentTask(
    name=name,
    kg1=kg1,
    kg2=kg2,
    valid_links=valid,
    test_links=test,
    dangling1=np.sort(dangling[num_valid:]),
    valid_dangling1=np.sort(dangling[:num_valid]),
  )


def read_dangling(path: str, local1: dict[str, int]) -> np.ndarray:
  """Optional `kg <TAB> URI` lines (experiments/dangling_benchmark.py): the KG1 entities known
  to have no counterpart, for evaluation only; a KG1 URI that is not in the KG is an error."""
  if not os.path.exists(path):
    return np.zeros(0, np.int64)
  out = []
  for line_number, (kg, uri) in tsv.read_rows(path, 2):
    if kg not in ("1", "2"):
      raise InputError(f"expected KG 1 or 2 in the first column, got {kg!r}", path, line_number)
    if kg == "1":
      if uri not in local1:
        raise InputError(f"KG1 entity {uri!r} is not in the KG", path, line_number)
      out.append(local1[uri])
  return np.asarray(out, np.int64)
