"""Approximate top-k search for large KGs (faiss IVF or HNSW, inner product on unit rows),
with its recall against exact search measured on a sample of queries.

`search_topk(..., method="auto")` is exact (blocked JAX) up to `exact_up_to` query x
candidate pairs and HNSW above (on DBP15K's USE name vectors HNSW reached recall@10 .994 at
efSearch 256, where IVF-Flat needed a probe count of 11% of its lists for .958; BUILD_NOTES).
HNSW's efSearch (or IVF's probe count) is raised until the sampled recall@k reaches
`target_recall`, so every approximate result comes with the recall it was measured at. On
an accelerator, `jax.lax.approx_max_k` serves the same role inside jit (`accelerator_topk`).
"""

from __future__ import annotations

import dataclasses
import time

from absl import logging
import jax
import numpy as np

from selfmea_jax.errors import InputError
from selfmea_jax.evaluation import blocked

METHODS = ("auto", "exact", "ivf", "hnsw")
EXACT_UP_TO = 4e9  # query x candidate pairs searched exactly by `auto` (DBP15K: 2e8)


@dataclasses.dataclass(frozen=True)
class TopK:
  """ids / scores [Nq, k] (descending). method: exact | ivf | hnsw. recall: {'recall@1',
  'recall@k', 'sampled_queries'} against exact search ({} when exact); knob: the IVF nprobe
  or HNSW efSearch used; seconds: wall time including index build and recall checks."""

  ids: np.ndarray
  scores: np.ndarray
  method: str
  recall: dict
  knob: int
  seconds: float


def _chunks(array, size: int):
  for start in range(0, len(array), size):
    yield start, np.ascontiguousarray(array[start : start + size], np.float32)


def ivf_index(candidates, nlist: int, seed: int = 0, chunk: int = 65536):
  """faiss IndexIVFFlat (inner product) trained on a seeded sample and filled chunk by chunk
  (candidates may be a np.memmap)."""
  import faiss  # pylint: disable=import-outside-toplevel

  n, d = candidates.shape
  sample = np.sort(np.random.default_rng(seed).choice(n, min(n, 20 * nlist), replace=False))
  index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
  index.cp.seed, index.cp.niter = seed, 10  # k-means on 20 points per list, 10 rounds
  index.train(np.ascontiguousarray(candidates[sample], np.float32))
  for _, block in _chunks(candidates, chunk):
    index.add(block)
  return index


def hnsw_index(candidates, neighbours: int = 32, ef_construction: int = 80, chunk: int = 65536):
  """faiss IndexHNSWFlat (inner product), filled chunk by chunk."""
  import faiss  # pylint: disable=import-outside-toplevel

  index = faiss.IndexHNSWFlat(candidates.shape[1], neighbours, faiss.METRIC_INNER_PRODUCT)
  index.hnsw.efConstruction = ef_construction
  for _, block in _chunks(candidates, chunk):
    index.add(block)
  return index


def _set_knob(index, method: str, value: int) -> None:
  if method == "ivf":
    index.nprobe = value
  else:
    index.hnsw.efSearch = value


def recall_against_exact(
  approx_ids: np.ndarray, approx_scores: np.ndarray, exact_ids: np.ndarray, exact_scores: np.ndarray
) -> dict:
  """recall@1: the approximate best is an exact best (ties count); recall@k: the share of the
  exact top-k found in the approximate top-k. All arrays [s, k] for the same s queries."""
  k = exact_ids.shape[1]
  best = np.mean(approx_scores[:, 0] >= exact_scores[:, 0] - blocked.TIE_EPS)
  found = [len(np.intersect1d(a, e)) / k for a, e in zip(approx_ids, exact_ids)]
  return {"recall@1": float(best), f"recall@{k}": float(np.mean(found)), "sampled_queries": len(exact_ids)}


def search_topk(
  queries,
  candidates,
  k: int = 10,
  method: str = "auto",
  target_recall: float = 0.99,
  sample_queries: int = 1000,
  nlist: int | None = None,
  seed: int = 0,
  exact_up_to: float = EXACT_UP_TO,
  chunk: int = 65536,
  progress=None,
) -> TopK:
  """Top-k of every query among the candidates (unit rows, inner product).

  queries [Nq, d], candidates [Nc, d] (either may be a np.memmap). Approximate methods raise
  their search knob (doubling) until recall@k on `sample_queries` seeded queries reaches
  target_recall, then search all queries in chunks. progress: optional tqdm-like factory.
  """
  if method not in METHODS:
    raise InputError(f"unknown search method {method!r}; choose one of {METHODS}")
  start = time.time()
  nq, nc = len(queries), len(candidates)
  k = min(k, nc)
  if method == "auto":
    method = "exact" if float(nq) * nc <= exact_up_to else "hnsw"
  if method == "exact":
    _, ids, scores = blocked.search(queries, candidates, k=k)
    return TopK(ids, scores, "exact", {}, 0, time.time() - start)
  if method == "ivf":
    nlist = nlist or max(1, min(int(4 * np.sqrt(nc)), nc // 40))
    index, knob, limit = ivf_index(candidates, nlist, seed, chunk), 8, nlist
  else:
    index, knob, limit = hnsw_index(candidates, chunk=chunk), 32, 4096
  sample = np.sort(np.random.default_rng([seed, 1]).choice(nq, min(nq, sample_queries), replace=False))
  sample_q = np.ascontiguousarray(queries[sample], np.float32)
  _, exact_ids, exact_scores = blocked.search(sample_q, candidates, k=k)
  logging.info("%s index over %d candidates built in %.1fs", method, nc, time.time() - start)
  while True:
    _set_knob(index, method, knob)
    scores, ids = index.search(sample_q, k)
    recall = recall_against_exact(ids, scores, exact_ids, exact_scores)
    logging.info(
      "%s knob %d: sampled recall@%d %.4f (%.1fs)",
      method,
      knob,
      k,
      recall[f"recall@{k}"],
      time.time() - start,
    )
    if recall[f"recall@{k}"] >= target_recall or knob >= limit:
      break
    knob = min(2 * knob, limit)
  if recall[f"recall@{k}"] < target_recall:
    logging.warning(
      "%s search reached recall@%d %.4f < %.4f at its limit (%d)",
      method,
      k,
      recall[f"recall@{k}"],
      target_recall,
      knob,
    )
  out_ids, out_scores = np.empty((nq, k), np.int64), np.empty((nq, k), np.float32)
  blocks = _chunks(queries, chunk)
  for offset, block in progress(blocks, total=-(-nq // chunk)) if progress else blocks:
    out_scores[offset : offset + len(block)], out_ids[offset : offset + len(block)] = index.search(block, k)
  return TopK(out_ids, out_scores, method, recall, knob, time.time() - start)


def accelerator_topk(queries: jax.Array, candidates: jax.Array, k: int, recall_target: float = 0.95):
  """(scores, ids) [Nq, k] with jax.lax.approx_max_k: TPU's partial-reduction top-k (exact on
  CPU/GPU backends, where XLA falls back to a sort); for use inside jit on an accelerator."""
  return jax.lax.approx_max_k(queries @ candidates.T, k, recall_target=recall_target)
