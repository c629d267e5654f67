"""Seeded synthetic KG pair with known alignment: two noisy copies of one random graph.

Names are ambiguous on purpose (entities come in clusters of near-identical names), so
the graph neighbourhood is needed to tell cluster members apart. Relation, image and
attribute modalities each carry an independent, noisy copy of the entity identity.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from selfmea_jax.data.kg import AlignmentTask, KnowledgeGraph


@dataclasses.dataclass(frozen=True)
class SyntheticSpec:
  num_entities: int = 2000  # entities of the shared base graph
  num_relations: int = 10
  avg_degree: float = 6.0
  overlap: float = 0.9  # fraction of base entities kept in each copy
  edge_keep: float = 0.8  # fraction of base triples kept in each copy
  name_dim: int = 64
  cluster_size: int = 8  # entities sharing a near-identical name
  name_spread: float = 0.15  # within-cluster spread of the true name
  name_noise: float = 0.3  # per-copy noise on names
  image_dim: int = 32
  image_coverage: float = 0.7  # fraction of entities with an image
  image_noise: float = 6.0
  attribute_vocab: int = 200
  attribute_noise: float = 1.0  # each attribute flips with probability 0.1 * attribute_noise
  valid_fraction: float = 0.3
  name_syllables: int = 16  # syllable inventory of the entities' surface names
  spelling_noise: float = 0.2  # per-copy probability that a character of a name is changed


@dataclasses.dataclass(frozen=True)
class SyntheticPair:
  """The task plus per-KG raw modality arrays in local-index order."""

  task: AlignmentTask
  name_features: tuple[np.ndarray, np.ndarray]  # [n_k, name_dim] float32, unit rows
  image_features: tuple[np.ndarray, np.ndarray]  # [n_k, image_dim] float32
  image_mask: tuple[np.ndarray, np.ndarray]  # [n_k] bool: has an image
  attribute_bags: tuple[np.ndarray, np.ndarray]  # [n_k, attribute_vocab] float32 (0/1)


def _unit(x: np.ndarray) -> np.ndarray:
  return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _base_triples(spec: SyntheticSpec, rng: np.random.Generator) -> np.ndarray:
  """Random graph with skewed degrees: [m, 3] (head, rel, tail), no self loops."""
  num_edges = int(spec.num_entities * spec.avg_degree / 2)
  popularity = rng.pareto(2.0, spec.num_entities) + 1.0
  popularity /= popularity.sum()
  heads = rng.integers(0, spec.num_entities, num_edges)
  tails = rng.choice(spec.num_entities, num_edges, p=popularity)
  keep = heads != tails
  rels = rng.integers(0, spec.num_relations, num_edges)
  triples = np.stack([heads, rels, tails], axis=1)[keep]
  return np.unique(triples, axis=0)


_CONSONANTS, _VOWELS = "bdfgklmnprstvz", "aeiou"


def _surface_names(spec: SyntheticSpec, rng: np.random.Generator) -> list[str]:
  """[n] pronounceable names of 2-3 syllables from a small inventory (many near-collisions)."""
  inventory = [rng.choice(list(_CONSONANTS)) + rng.choice(list(_VOWELS)) for _ in range(spec.name_syllables)]
  lengths = rng.integers(2, 4, spec.num_entities)
  return ["".join(inventory[s] for s in rng.integers(0, len(inventory), n)).capitalize() for n in lengths]


def _misspell(name: str, noise: float, rng: np.random.Generator) -> str:
  """Each character replaced by a random letter with probability `noise`."""
  letters = "abcdefghijklmnopqrstuvwxyz"
  return "".join(rng.choice(list(letters)) if rng.random() < noise else ch for ch in name)


def _copy(spec, rng, base_triples, true_names, true_images, true_attrs, kg_number):
  """One noisy copy: (kg, names, images, image_mask, attrs, base_ids of local entities)."""
  kept = np.flatnonzero(rng.random(spec.num_entities) < spec.overlap)
  base_ids = rng.permutation(kept)  # local index -> base entity
  base_to_local = np.full(spec.num_entities, -1)
  base_to_local[base_ids] = np.arange(len(base_ids))
  t = base_triples[rng.random(len(base_triples)) < spec.edge_keep]
  t = t[(base_to_local[t[:, 0]] >= 0) & (base_to_local[t[:, 2]] >= 0)]
  triples = np.stack([base_to_local[t[:, 0]], t[:, 1], base_to_local[t[:, 2]]], 1).astype(np.int32)
  names = _unit(
    true_names[base_ids]
    + spec.name_noise / np.sqrt(spec.name_dim) * rng.standard_normal((len(base_ids), spec.name_dim))
  )
  images = (
    true_images[base_ids]
    + spec.image_noise / np.sqrt(spec.image_dim) * rng.standard_normal((len(base_ids), spec.image_dim))
  ).astype(np.float32)
  image_mask = rng.random(len(base_ids)) < spec.image_coverage
  flips = rng.random((len(base_ids), spec.attribute_vocab)) < spec.attribute_noise * 0.1
  attrs = np.logical_xor(true_attrs[base_ids], flips).astype(np.float32)
  labels = [f"kg{kg_number}/entity_{b}" for b in base_ids]
  kg = KnowledgeGraph(
    names=labels,
    uris=labels,
    triples=triples,
    relation_names=[f"kg{kg_number}/relation_{r}" for r in range(spec.num_relations)],
    source_rows=np.arange(len(base_ids), dtype=np.int64),
    source_ids=np.arange(len(base_ids), dtype=np.int64),
  )
  return kg, names, images, image_mask, attrs, base_ids


def make_synthetic_pair(spec: SyntheticSpec = SyntheticSpec(), seed: int = 0) -> SyntheticPair:
  """Builds the pair; every random draw comes from `seed`."""
  rng = np.random.default_rng(seed)
  n = spec.num_entities
  num_clusters = max(1, n // spec.cluster_size)
  centres = _unit(rng.standard_normal((num_clusters, spec.name_dim)))
  cluster_of = rng.integers(0, num_clusters, n)
  true_names = _unit(
    centres[cluster_of] + spec.name_spread / np.sqrt(spec.name_dim) * rng.standard_normal((n, spec.name_dim))
  )
  true_images = rng.standard_normal((n, spec.image_dim)).astype(np.float32)
  true_attrs = rng.random((n, spec.attribute_vocab)) < 0.05
  triples = _base_triples(spec, rng)
  copies = [_copy(spec, rng, triples, true_names, true_images, true_attrs, kg_number) for kg_number in (1, 2)]
  spelling_rng = np.random.default_rng([seed, 17])  # own stream: the other draws are unchanged
  surface = _surface_names(spec, spelling_rng)
  copies = [
    (
      dataclasses.replace(
        c[0], names=[_misspell(surface[b], spec.spelling_noise, spelling_rng) for b in c[5]]
      ),
    )
    + c[1:]
    for c in copies
  ]
  base_ids1, base_ids2 = copies[0][5], copies[1][5]
  local2 = np.full(n, -1)
  local2[base_ids2] = np.arange(len(base_ids2))
  left = np.flatnonzero(local2[base_ids1] >= 0)
  links = np.stack([left, local2[base_ids1[left]]], axis=1).astype(np.int32)
  links = links[rng.permutation(len(links))]
  num_valid = int(len(links) * spec.valid_fraction)
  task = AlignmentTask(
    name=f"synthetic-{seed}",
    kg1=copies[0][0],
    kg2=copies[1][0],
    valid_links=links[:num_valid],
    test_links=links[num_valid:],
  )
  return SyntheticPair(
    task=task,
    name_features=(copies[0][1], copies[1][1]),
    image_features=(copies[0][2], copies[1][2]),
    image_mask=(copies[0][3], copies[1][3]),
    attribute_bags=(copies[0][4], copies[1][4]),
  )
