"""Top-k search (inner product on unit rows): exact (blocked JAX, or faiss's flat index) or
approximate for large KGs (faiss IVF or HNSW), with its recall against exact search measured
on a sample of queries.

`search_topk(..., method="auto")` is exact (blocked JAX) up to `exact_up_to` query x
candidate pairs and HNSW above (on DBP15K's USE name vectors HNSW reached recall@10 .994 at
efSearch 256, where IVF-Flat needed a probe count of 11% of its lists for .958; BUILD_NOTES).
HNSW's efSearch (or IVF's probe count) is the smallest (doubled, then bisected) at which the
sampled recall@k reaches `target_recall` with 95% confidence, so every approximate result
comes with the recall it was measured at. Recall counts a candidate tied with an exact
top-k one (a duplicate name vector) as found.
"""

from __future__ import annotations

import dataclasses
import time

from absl import logging
import numpy as np

from selfmea_jax import rng_streams
from selfmea_jax.errors import InputError
from selfmea_jax.matching import blocked
from selfmea_jax.matching.metrics import standard_error

METHODS = ("auto", "exact", "flat", "ivf", "hnsw")  # exact: blocked JAX; flat: faiss exact
EXACT_UP_TO = 4e9  # query x candidate pairs searched exactly by `auto` (DBP15K: 2e8)


@dataclasses.dataclass(frozen=True)
class TopK:
  """ids / scores [Nq, k] (descending). method: exact | flat | ivf | hnsw. recall: {'recall@1',
  'recall@k', 'recall@k_se', 'lower_bound', 'sampled_queries'} against exact search on the
  tuning sample ({} when exact); knob: the IVF nprobe
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
  import faiss  # lazy: a heavy native library, loaded only when a faiss method runs

  n, d = candidates.shape
  sample = np.sort(rng_streams.index_training(seed).choice(n, min(n, 20 * nlist), replace=False))
  index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
  index.cp.seed, index.cp.niter = seed, 10  # k-means on 20 points per list, 10 rounds
  index.train(np.ascontiguousarray(candidates[sample], np.float32))
  for _, block in _chunks(candidates, chunk):
    index.add(block)
  return index


def flat_index(candidates, chunk: int = 65536):
  """faiss IndexFlatIP (exact inner product), filled chunk by chunk."""
  import faiss  # lazy: a heavy native library, loaded only when a faiss method runs

  index = faiss.IndexFlatIP(candidates.shape[1])
  for _, block in _chunks(candidates, chunk):
    index.add(block)
  return index


def hnsw_index(candidates, neighbours: int = 32, ef_construction: int = 200, chunk: int = 65536):
  """faiss IndexHNSWFlat (inner product), filled chunk by chunk. efConstruction 200: on real
  name vectors (100K, d 512) it cut the query breadth needed for recall@10 .99 from over
  512 to 128, paying for its 3x build time within one pass of queries (BUILD_NOTES)."""
  import faiss  # lazy: a heavy native library, loaded only when a faiss method runs

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


RECALL_TIE_EPS = 1e-5  # scores this close are one score (faiss and JAX sum in different orders)


def recall_against_exact(
  approx_ids: np.ndarray, approx_scores: np.ndarray, exact_ids: np.ndarray, exact_scores: np.ndarray
) -> dict:
  """recall@1: the approximate best scores as high as the exact best; recall@k: the share of
  the approximate top-k scoring at least the exact k-th score, i.e. of the exact top-k found,
  where a candidate tied with an exact one (a duplicate vector) counts as found, as in
  ann-benchmarks (there with a looser tolerance). approx_scores must be the true scores of
  approx_ids (flat indexes; not PQ or SQ estimates). All arrays [s, k] for the same s queries."""
  k = exact_ids.shape[1]
  best = np.mean(approx_scores[:, 0] >= exact_scores[:, 0] - RECALL_TIE_EPS)
  reached = (approx_scores >= exact_scores[:, -1:] - RECALL_TIE_EPS) & (approx_ids >= 0)
  per_query = reached.sum(1) / k
  return {
    "recall@1": float(best),
    f"recall@{k}": float(np.mean(per_query)),
    f"recall@{k}_se": standard_error(per_query),
    "sampled_queries": len(exact_ids),
  }


def lower_bound(recall: dict, k: int) -> float:
  """One-sided 95% lower confidence bound of recall@k over all queries, from a sample."""
  return recall[f"recall@{k}"] - 1.645 * recall[f"recall@{k}_se"]


def smallest_knob(measure, knob: int, limit: int, key: str, target: float, refinements: int = 3):
  """(knob, measure(knob)): the search breadth is doubled from `knob` until measure(.)[key]
  reaches target (or `limit`), then the last doubling is bisected `refinements` times, since
  the query time grows about linearly with the breadth (doubling alone can overshoot 2x)."""
  result, below = measure(knob), None
  while result[key] < target and knob < limit:
    below, knob = knob, min(2 * knob, limit)
    result = measure(knob)
  if below is None or result[key] < target:
    return knob, result
  for _ in range(refinements):
    middle = (below + knob) // 2
    if middle in (below, knob):
      break
    trial = measure(middle)
    if trial[key] >= target:
      knob, result = middle, trial
    else:
      below = middle
  return knob, result


def resolved(method: str, num_queries: int, num_candidates: int, exact_up_to: float = EXACT_UP_TO) -> str:
  """The method `auto` stands for at this size: exact up to exact_up_to query x candidate
  pairs, else hnsw; any other method as it is."""
  if method != "auto":
    return method
  return "exact" if float(num_queries) * num_candidates <= exact_up_to else "hnsw"


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

  queries [Nq, d], candidates [Nc, d] (either may be a np.memmap). Approximate methods take
  the smallest search knob (smallest_knob) at which recall@k on `sample_queries` seeded
  queries reaches target_recall with 95% confidence (its one-sided lower bound; the tuned
  minimum would otherwise sit on the target only for the sample), then search all queries.
  progress: optional tqdm-like factory.
  """
  if method not in METHODS:
    raise InputError(f"unknown search method {method!r}; choose one of {METHODS}")
  start = time.time()
  nq, nc = len(queries), len(candidates)
  k = min(k, nc)
  method = resolved(method, nq, nc, exact_up_to)
  if method == "exact":
    _, ids, scores = blocked.search(queries, candidates, k=k)
    return TopK(ids, scores, "exact", {}, 0, time.time() - start)
  if method == "flat":
    scores, ids = flat_index(candidates, chunk).search(np.ascontiguousarray(queries, np.float32), k)
    return TopK(ids, scores, "flat", {}, 0, time.time() - start)
  if method == "ivf":
    nlist = nlist or max(1, min(int(4 * np.sqrt(nc)), nc // 40))
    index, knob, limit = ivf_index(candidates, nlist, seed, chunk), 8, nlist
  else:
    index, knob, limit = hnsw_index(candidates, chunk=chunk), 32, 4096
  sample = np.sort(rng_streams.recall_queries(seed).choice(nq, min(nq, sample_queries), replace=False))
  sample_q = np.ascontiguousarray(queries[sample], np.float32)
  _, exact_ids, exact_scores = blocked.search(sample_q, candidates, k=k)
  logging.info("%s index over %d candidates built in %.1fs", method, nc, time.time() - start)

  def sampled_recall(value: int) -> dict:
    _set_knob(index, method, value)
    scores, ids = index.search(sample_q, k)
    out = recall_against_exact(ids, scores, exact_ids, exact_scores)
    out["lower_bound"] = lower_bound(out, k)
    logging.info(
      "%s knob %d: sampled recall@%d %.4f (95%% lower bound %.4f; %.1fs)",
      method,
      value,
      k,
      out[f"recall@{k}"],
      out["lower_bound"],
      time.time() - start,
    )
    return out

  knob, recall = smallest_knob(sampled_recall, knob, limit, "lower_bound", target_recall)
  _set_knob(index, method, knob)  # the last trial may have been a narrower, failing one
  if recall["lower_bound"] < target_recall:
    logging.warning(
      "%s search reached recall@%d %.4f (95%% lower bound %.4f < %.4f) at its limit (%d)",
      method,
      k,
      recall[f"recall@{k}"],
      recall["lower_bound"],
      target_recall,
      knob,
    )
  out_ids, out_scores = np.empty((nq, k), np.int64), np.empty((nq, k), np.float32)
  blocks = _chunks(queries, chunk)
  for offset, block in progress(blocks, total=-(-nq // chunk)) if progress else blocks:
    out_scores[offset : offset + len(block)], out_ids[offset : offset + len(block)] = index.search(block, k)
  return TopK(out_ids, out_scores, method, recall, knob, time.time() - start)
