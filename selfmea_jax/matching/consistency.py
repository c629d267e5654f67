"""Neighbour-consistency refinement of candidate scores (label-free, sparse).

Given pairs believed aligned (e.g. the confident part of a decoded alignment), a candidate
(i, j) is supported by every neighbour i' of i whose partner is a neighbour of j:
  support(i, j) = |{i' in N1(i) : pair(i') in N2(j)}| / sqrt(|N1(i)| |N2(j)|).
Computed as (A1 P A2)[i, j] on the candidate entries only (P = the pairs' 0/1 matrix).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse

from selfmea_jax.data.neighbours import undirected_edges
from selfmea_jax.matching import decoding
from selfmea_jax.matching.candidates import CandidateGraph


def adjacency(num_entities: int, triples: np.ndarray) -> scipy.sparse.csr_matrix:
  """[n, n] 0/1 symmetric adjacency of the undirected entity graph, no self loops."""
  edges = undirected_edges(triples)
  return scipy.sparse.csr_matrix(
    (np.ones(len(edges), np.float32), (edges[:, 0], edges[:, 1])), shape=(num_entities, num_entities)
  )


def adjacencies(task) -> tuple[scipy.sparse.csr_matrix, scipy.sparse.csr_matrix]:
  """Both KGs' adjacency (an AlignmentTask's kg1 and kg2)."""
  return tuple(adjacency(kg.num_entities, kg.triples) for kg in (task.kg1, task.kg2))


def neighbour_support(
  rows: np.ndarray,
  cols: np.ndarray,
  pairs: np.ndarray,
  adjacency1,
  adjacency2,
  row_ids: np.ndarray | None = None,
  col_ids: np.ndarray | None = None,
) -> np.ndarray:
  """[e] support of the cells (rows [e], cols [e]) of a [num_rows, num_cols] score matrix
  (e.g. a candidate graph's entries) by the [p, 2] pairs (KG-wide indices; 0 when none).

  row_ids [num_rows] / col_ids [num_cols]: the KG entity of each row / column when the
  matrix covers a subset (e.g. the test entities); None = the identity.
  """
  n1, n2 = adjacency1.shape[0], adjacency2.shape[0]
  row_ids = np.arange(n1) if row_ids is None else np.asarray(row_ids)
  col_ids = np.arange(n2) if col_ids is None else np.asarray(col_ids)
  pair_matrix = scipy.sparse.csr_matrix(
    (np.ones(len(pairs), np.float32), (pairs[:, 0], pairs[:, 1])), shape=(n1, n2)
  )
  supported = (adjacency1[row_ids] @ pair_matrix @ adjacency2[:, col_ids]).tocsr()
  counts = np.asarray(supported[rows, cols], np.float32).ravel()
  degree1 = np.asarray(adjacency1.sum(axis=1), np.float32).ravel()[row_ids]
  degree2 = np.asarray(adjacency2.sum(axis=1), np.float32).ravel()[col_ids]
  return counts / np.sqrt(np.maximum(degree1[rows] * degree2[cols], 1.0))


def refine(
  base: CandidateGraph,
  pairs: np.ndarray,
  adjacencies,
  decoder: decoding.Decoder,
  weight: float,
  row_ids: np.ndarray | None = None,
  col_ids: np.ndarray | None = None,
) -> decoding.Decoded:
  """Re-decodes `base` with cosine + weight * neighbour support of `pairs` [p, 2] (KG-wide)."""
  support = neighbour_support(base.rows, base.cols, pairs, *adjacencies, row_ids, col_ids)
  graph = dataclasses.replace(base, scores=base.scores + weight * support)
  return dataclasses.replace(decoding.decode_graph(graph, decoder), cosine=base.scores)
