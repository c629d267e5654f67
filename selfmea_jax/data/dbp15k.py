"""Loader for DBP15K in the JAPE / GCN-Align format, with opaque (shuffled) entity indices."""

from __future__ import annotations

import json
import os
import urllib.parse

import numpy as np

from selfmea_jax import rng_streams
from selfmea_jax.data import tsv
from selfmea_jax.data.kg import AlignmentTask, KnowledgeGraph, check_one_to_one
from selfmea_jax.errors import InputError

PAIRS = ("zh_en", "ja_en", "fr_en")


def name_from_uri(uri: str) -> str:
  """DBpedia title: last path segment, percent-decoded, underscores as spaces."""
  tail = uri.rstrip("/").rsplit("/", 1)[-1]
  return urllib.parse.unquote(tail).replace("_", " ").strip()


def pair_dir(data_dir: str, pair: str) -> str:
  path = os.path.join(data_dir, "DBP15K", pair)
  if not os.path.isdir(path):
    raise InputError(f"DBP15K pair directory not found (expected {PAIRS} under <data_dir>/DBP15K/)", path)
  return path


def _read_translated(path: str, id_to_local: list[dict[int, int]], sizes: list[int]) -> list[list[str]]:
  """Translated names JSON `[[id, [tokens]], ...]` -> per-KG lists (missing -> '')."""
  with open(tsv.require_file(path), encoding="utf-8") as f:
    try:
      entries = json.load(f)
    except json.JSONDecodeError as e:
      raise InputError(f"invalid JSON: {e.msg}", path, e.lineno) from None
  if not isinstance(entries, list):
    raise InputError("expected a JSON list of [id, [tokens]] entries", path)
  out = [[""] * sizes[0], [""] * sizes[1]]
  for index, entry in enumerate(entries):
    if (
      not isinstance(entry, list)
      or len(entry) != 2
      or not isinstance(entry[0], int)
      or not isinstance(entry[1], list)
      or not all(isinstance(t, str) for t in entry[1])
    ):
      raise InputError(f"entry {index}: expected [id, [tokens]], got {json.dumps(entry)[:80]}", path)
    entity_id, tokens = entry
    for kg_index in (0, 1):
      if entity_id in id_to_local[kg_index]:
        out[kg_index][id_to_local[kg_index][entity_id]] = " ".join(tokens)
  return out


def _read_cased_translations(path: str, id_to_local: dict[int, int], size: int) -> list[str]:
  """`id \t cased translated name` lines (DBP15K's names/ent_ids_1_trans_goo, KG1 ids) ->
  [size] names in local order ('' where an entity has none)."""
  out = [""] * size
  for line_number, (id_text, name) in tsv.read_rows(path, 2):
    entity_id = tsv.parse_int(id_text, path, line_number)
    if entity_id not in id_to_local:
      raise InputError(f"unknown KG1 id {entity_id}", path, line_number)
    out[id_to_local[entity_id]] = name.strip()
  return out


def _load_kg(directory: str, kg_number: int, rng: np.random.Generator):
  ids, uris_in_file_order = tsv.read_id_map(os.path.join(directory, f"ent_ids_{kg_number}"))
  rel_ids, rel_uris = tsv.read_id_map(os.path.join(directory, f"rel_ids_{kg_number}"))
  source_rows = rng.permutation(len(ids)).astype(np.int64)  # local index -> file row
  file_row_to_local = np.empty_like(source_rows)
  file_row_to_local[source_rows] = np.arange(len(ids))
  id_to_local = {entity_id: int(file_row_to_local[row]) for row, entity_id in enumerate(ids)}
  rel_to_local = {rel_id: i for i, rel_id in enumerate(rel_ids)}
  triples = tsv.read_int_table(
    os.path.join(directory, f"triples_{kg_number}"), 3, [id_to_local, rel_to_local, id_to_local]
  )
  if len(triples) == 0:
    raise InputError("no triples (empty graph)", os.path.join(directory, f"triples_{kg_number}"))
  uris = [uris_in_file_order[row] for row in source_rows]
  source_ids = np.asarray(ids, np.int64)[source_rows]
  return uris, rel_uris, triples, source_rows, id_to_local, source_ids


def load_dbp15k(
  data_dir: str, pair: str, seed: int = 0, split: str = "jape_split_0_3", translations: bool = False
) -> AlignmentTask:
  """Loads one DBP15K pair; entity indices are a seeded permutation of the file ids.
  translations: also read the machine-translated names (parsed only when asked for): the
  token lists of both KGs, and KG1's cased titles where the pair has them (KG2 is English:
  it keeps its own names there)."""
  directory = pair_dir(data_dir, pair)
  rng = rng_streams.entity_remap(seed)
  kg_parts = [_load_kg(directory, kg_number, rng) for kg_number in (1, 2)]
  id_maps = [part[4] for part in kg_parts]
  split_dir = os.path.join(directory, split)
  valid_path, test_path = os.path.join(split_dir, "sup_ent_ids"), os.path.join(split_dir, "ref_ent_ids")
  valid = tsv.read_int_table(valid_path, 2, id_maps)
  test = tsv.read_int_table(test_path, 2, id_maps)
  # Reported with the ids the files use (not local ones); line = row (the files have no blanks).
  file_ids = [part[5] for part in kg_parts]
  check_one_to_one(
    [
      (path, enumerate(zip(file_ids[0][links[:, 0]].tolist(), file_ids[1][links[:, 1]].tolist()), start=1))
      for path, links in ((valid_path, valid), (test_path, test))
    ]
  )
  translated, cased = [None, None], [None, None]
  sizes = [len(p[0]) for p in kg_parts]
  json_path = os.path.join(directory, "names", f"translated_ent_name_dbp_{pair}.json")
  cased_path = os.path.join(directory, "names", "ent_ids_1_trans_goo")
  if translations:
    translated = _read_translated(json_path, id_maps, sizes)
    if os.path.exists(cased_path):
      cased = [_read_cased_translations(cased_path, id_maps[0], sizes[0]), [""] * sizes[1]]
  kgs = []
  for part, trans, cased_trans in zip(kg_parts, translated, cased):
    uris, rel_uris, triples, source_rows, _, source_ids = part
    kgs.append(
      KnowledgeGraph(
        names=[name_from_uri(u) for u in uris],
        uris=uris,
        triples=triples,
        relation_names=rel_uris,
        source_rows=source_rows,
        source_ids=source_ids,
        translated_names=trans,
        cased_translated_names=cased_trans,
      )
    )
  return AlignmentTask(name=pair, kg1=kgs[0], kg2=kgs[1], valid_links=valid, test_links=test)
