"""KG pairs that do not fully overlap, built from a DBP15K pair (issue 16's benchmark).

A seeded `--fraction` of the test links loses one side: half of them their KG2 entity, half
their KG1 entity, each with every triple that touches it. The surviving entity of such a
link has no counterpart any more ("dangling"). `--kg1_keep` < 1 also drops a seeded share of
KG1's entities (with their triples and links), so that KG2 is 1 / kg1_keep times larger.
Written in the OpenEA layout (rel_triples_1/2, ent_links with the remaining gold links) with
`removed_entities` (kg, URI, its former partner) and `dangling_entities` (kg, URI) beside it,
and `translated_names_1` (the pair's machine-translated cased titles of the KG1 entities
left, DBP15K's names/ent_ids_1_trans_goo) for `configs/own_kgs.py:<out>,translated`.

  python -m experiments.dangling_benchmark --pair=ja_en --fraction=0.3 --out=runs/bench/ja_en_d30
  python -m experiments.dangling_benchmark --pair=ja_en --fraction=0 --kg1_keep=0.5 --out=runs/bench/ja_en_2x

An entity left with no triple and no link cannot be written in the OpenEA layout (the KG is
read from its triples and links); such entities are counted in `summary.json`.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from selfmea_jax.data import dbp15k
from selfmea_jax.data.kg import AlignmentTask


def removals(task: AlignmentTask, fraction: float, kg1_keep: float, seed: int) -> tuple[set, set]:
  """(KG1 entities to remove, KG2 entities to remove), local indices."""
  rng = np.random.default_rng([seed, 16])
  links = task.test_links[rng.permutation(len(task.test_links))][: round(fraction * len(task.test_links))]
  half = len(links) // 2
  gone1, gone2 = set(links[half:, 0].tolist()), set(links[:half, 1].tolist())
  if kg1_keep < 1:
    kept = rng.random(task.kg1.num_entities) < kg1_keep
    gone1 |= set(np.flatnonzero(~kept).tolist())
  return gone1, gone2


def surviving_triples(kg, gone: set) -> list[tuple[str, str, str]]:
  out = []
  for h, r, t in kg.triples.tolist():
    if h not in gone and t not in gone:
      out.append((kg.uris[h], kg.relation_names[r], kg.uris[t]))
  return out


def build(task: AlignmentTask, fraction: float, kg1_keep: float, seed: int, out: str) -> dict:
  """Writes the benchmark under `out`; returns its summary (counts)."""
  gone = removals(task, fraction, kg1_keep, seed)
  kgs = (task.kg1, task.kg2)
  triples = [surviving_triples(kg, g) for kg, g in zip(kgs, gone)]
  links = np.concatenate([task.valid_links, task.test_links])
  kept = np.array([i not in gone[0] and j not in gone[1] for i, j in links.tolist()], bool)
  partner = [
    dict(zip(links[:, 0].tolist(), links[:, 1].tolist())),
    dict(zip(links[:, 1].tolist(), links[:, 0].tolist())),
  ]
  present = [{u for tr in side for u in (tr[0], tr[2])} for side in triples]
  for i, j in links[kept].tolist():
    present[0].add(task.kg1.uris[i])
    present[1].add(task.kg2.uris[j])
  removed, dangling, lost = [], [], 0
  for side in (0, 1):
    other = 1 - side
    for entity in sorted(gone[side]):
      mate = partner[side].get(entity)
      removed.append((side + 1, kgs[side].uris[entity], "" if mate is None else kgs[other].uris[mate]))
      if mate is not None and mate not in gone[other]:
        if kgs[other].uris[mate] in present[other]:
          dangling.append((other + 1, kgs[other].uris[mate]))
        else:
          lost += 1  # no triple left and no link: not representable in the OpenEA layout
  os.makedirs(out, exist_ok=True)
  for k, side in enumerate(triples, start=1):
    _write(os.path.join(out, f"rel_triples_{k}"), side)
  _write(
    os.path.join(out, "ent_links"), [(task.kg1.uris[i], task.kg2.uris[j]) for i, j in links[kept].tolist()]
  )
  _write(os.path.join(out, "removed_entities"), removed)
  if task.kg1.cased_translated_names is not None:
    _write(os.path.join(out, "translated_names_1"), translated_rows(task.kg1, present[0]))
  _write(os.path.join(out, "dangling_entities"), dangling)
  summary = {
    "source": task.name,
    "fraction": fraction,
    "kg1_keep": kg1_keep,
    "seed": seed,
    "entities": [len(p) for p in present],
    "triples": [len(t) for t in triples],
    "links": int(kept.sum()),
    "removed": [len(g) for g in gone],
    "dangling": [sum(k == side for k, _ in dangling) for side in (1, 2)],
    "dangling_not_representable": lost,
  }
  with open(os.path.join(out, "summary.json"), "w", encoding="utf-8") as f:
    json.dump(summary, f, indent=1)
  return summary


def translated_rows(kg, present: set) -> list[tuple[str, str]]:
  """(URI, translated title) of the entities left that have a translation, sorted by URI."""
  return sorted(
    (uri, title) for uri, title in zip(kg.uris, kg.cased_translated_names) if title and uri in present
  )


def _write(path: str, rows) -> None:
  with open(path, "w", encoding="utf-8") as f:
    f.writelines("\t".join(map(str, row)) + "\n" for row in rows)


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--pair", default="ja_en")
  parser.add_argument("--fraction", type=float, default=0.3, help="share of the test links losing a side")
  parser.add_argument("--kg1_keep", type=float, default=1.0, help="share of KG1's entities kept")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--data_dir", default="../shared/data")
  parser.add_argument("--out", required=True)
  args = parser.parse_args()
  task = dbp15k.load_dbp15k(args.data_dir, args.pair, seed=args.seed, translations=True)
  summary = build(task, args.fraction, args.kg1_keep, args.seed, args.out)
  print(json.dumps(summary, indent=1))


if __name__ == "__main__":
  main()
