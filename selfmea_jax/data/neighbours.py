"""Fixed-size 1-hop neighbourhoods: slot 0 is the centre, then up to K-1 neighbours."""

from __future__ import annotations

import numpy as np

from selfmea_jax import rng_streams


def undirected_edges(triples: np.ndarray) -> np.ndarray:
  """[m, 3] (head, relation, tail) -> [e, 2] int64 (source, target): both directions of every
  edge, self loops dropped, de-duplicated, sorted by source."""
  heads, tails = triples[:, 0].astype(np.int64), triples[:, 2].astype(np.int64)
  keep = heads != tails
  src = np.concatenate([heads[keep], tails[keep]])
  dst = np.concatenate([tails[keep], heads[keep]])
  return np.unique(np.stack([src, dst], 1), axis=0).reshape(-1, 2)


def neighbour_table(
  num_entities: int, triples: np.ndarray, num_slots: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
  """Undirected 1-hop neighbourhoods.

  Args:
    num_entities: n.
    triples: [m, 3] (head, relation, tail).
    num_slots: K, slots per entity including the centre.
    seed: picks which neighbours are kept when the degree exceeds K-1.

  Returns:
    ids [n, K] int32 (slot 0 = centre, padding repeats the centre) and mask [n, K] bool.
  """
  edges = undirected_edges(triples)
  rng = rng_streams.neighbour_sample(seed)
  edges = edges[np.lexsort((rng.random(len(edges)), edges[:, 0]))]  # shuffle within each src
  starts = np.searchsorted(edges[:, 0], np.arange(num_entities))
  rank = np.arange(len(edges)) - starts[edges[:, 0]]
  edges, rank = edges[rank < num_slots - 1], rank[rank < num_slots - 1]
  ids = np.repeat(np.arange(num_entities, dtype=np.int32)[:, None], num_slots, axis=1)
  mask = np.zeros((num_entities, num_slots), dtype=bool)
  mask[:, 0] = True
  ids[edges[:, 0], rank + 1] = edges[:, 1]
  mask[edges[:, 0], rank + 1] = True
  return ids, mask
