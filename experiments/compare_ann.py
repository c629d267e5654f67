"""Approximate top-10 search methods on real name geometry: build time, time per query and
recall against exact search, one direction (KG1 queries, KG2 candidates) of the name corpus.

  python experiments/name_corpus.py            # once: the USE-encoded name corpus
  python experiments/compare_ann.py --n=100000 # prints a table, writes JSON

Methods (inner product on unit rows): faiss HNSW-Flat at two efConstruction values, HNSW over
8-bit or float16 codes with exact re-ranking of the top 4k, HNSW over a PCA-256 projection
with re-ranking, IVF with 4-bit PQ fast-scan codes and exact refinement; hnswlib and usearch
(bfloat16 storage, re-ranked) when installed. Each row is one search breadth (efSearch or
nprobe). Query time is the wall time of the sample's queries on all cores, per query.
Recall is matching/approximate.recall_against_exact (ties count) on --queries sampled queries.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import faiss
import name_corpus  # pylint: disable=import-error
import numpy as np

from experiments import common
from selfmea_jax.matching import approximate, blocked

K = 10


def rerank(queries, candidates, ids, k: int = K):
  """(scores, ids) [q, k]: the exact top-k of each query among its candidate ids [q, m]."""
  scores = np.einsum("qd,qmd->qm", queries, candidates[np.maximum(ids, 0)])
  scores[ids < 0] = -np.inf
  order = np.argsort(-scores, axis=1)[:, :k]
  return np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)


def faiss_hnsw(candidates, ef_construction: int, storage: str = "flat", factor: int = 1):
  d = candidates.shape[1]
  if storage == "flat":
    index = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
  else:
    kind = faiss.ScalarQuantizer.QT_8bit if storage == "sq8" else faiss.ScalarQuantizer.QT_fp16
    index = faiss.IndexHNSWSQ(d, kind, 32, faiss.METRIC_INNER_PRODUCT)
    index.train(candidates[:50_000])
  index.hnsw.efConstruction = ef_construction
  index.add(candidates)

  def search(queries, ef):
    index.hnsw.efSearch = max(ef, K * factor)
    scores, ids = index.search(queries, K * factor)
    return rerank(queries, candidates, ids) if factor > 1 else (scores, ids)

  return search


def pca_hnsw(candidates, dim: int = 256, factor: int = 4):
  pca = faiss.PCAMatrix(candidates.shape[1], dim)
  pca.train(candidates[:50_000])
  inner = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
  inner.hnsw.efConstruction = 200
  index = faiss.IndexPreTransform(pca, inner)
  index.add(candidates)

  def search(queries, ef):
    inner.hnsw.efSearch = max(ef, K * factor)
    return rerank(queries, candidates, index.search(queries, K * factor)[1])

  return search


def ivf_pq_fastscan(candidates, factor: int = 8):
  n, d = candidates.shape
  nlist = 1 << int(np.log2(4 * np.sqrt(n)))
  base = faiss.index_factory(d, f"IVF{nlist},PQ{d // 4}x4fs", faiss.METRIC_INNER_PRODUCT)
  ivf = faiss.extract_index_ivf(base)
  ivf.cp.niter = 10
  base.train(candidates[np.sort(np.random.default_rng(0).choice(n, min(n, 40 * nlist), replace=False))])
  index = faiss.IndexRefineFlat(base)
  index.add(candidates)
  index.k_factor = factor

  def search(queries, nprobe):
    ivf.nprobe = nprobe
    return index.search(queries, K)

  return search


def hnswlib_index(candidates):
  import hnswlib  # lazy: optional dependency: only for this comparison

  index = hnswlib.Index(space="ip", dim=candidates.shape[1])
  index.init_index(max_elements=len(candidates), ef_construction=200, M=32)
  index.set_num_threads(os.cpu_count())
  index.add_items(candidates, np.arange(len(candidates)))

  def search(queries, ef):
    index.set_ef(ef)
    ids, distances = index.knn_query(queries, K)
    return 1 - distances, ids.astype(np.int64)

  return search


def usearch_bf16(candidates, factor: int = 2):
  from usearch.index import Index  # lazy: optional dependency: only for this comparison

  index = Index(ndim=candidates.shape[1], metric="ip", dtype="bf16", connectivity=32, expansion_add=200)
  index.add(np.arange(len(candidates)), candidates, threads=os.cpu_count())

  def search(queries, ef):
    index.expansion_search = max(ef, K * factor)
    found = index.search(queries, K * factor, threads=os.cpu_count())
    return rerank(queries, candidates, found.keys.astype(np.int64))

  return search


METHODS = {  # name (no commas) -> (index builder, search breadths)
  "faiss HNSW32 efC 80": (lambda c: faiss_hnsw(c, 80), (64, 128, 256, 512, 1024)),
  "faiss HNSW32 efC 200": (lambda c: faiss_hnsw(c, 200), (32, 64, 128, 256, 512)),
  "faiss HNSW32-SQ8 efC 200 + re-rank 40": (lambda c: faiss_hnsw(c, 200, "sq8", 4), (64, 128, 256, 512)),
  "faiss HNSW32-fp16 efC 200 + re-rank 20": (lambda c: faiss_hnsw(c, 200, "fp16", 2), (64, 128, 256)),
  "faiss PCA256 + HNSW32 + re-rank 40": (pca_hnsw, (64, 128, 256, 512)),
  "faiss IVF-PQ fast-scan + refine 80": (ivf_pq_fastscan, (32, 64, 128, 256)),
  "hnswlib M32 efC 200": (hnswlib_index, (32, 64, 128, 256)),
  "usearch bf16 M32 efC 200 + re-rank 20": (usearch_bf16, (32, 64, 128, 256)),
}


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--n", type=int, default=100_000)
  parser.add_argument("--queries", type=int, default=4000)
  parser.add_argument("--names_dir", default=os.path.join(tempfile.gettempdir(), "selfmea_names"))
  parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated names from METHODS")
  parser.add_argument("--out", default="experiments/results/compare_ann.json")
  args = parser.parse_args()
  emb1, emb2, _ = name_corpus.load_pair(args.names_dir, args.n)
  sample = np.sort(np.random.default_rng(1).choice(args.n, args.queries, replace=False))
  queries = np.ascontiguousarray(emb1[sample])
  _, exact_ids, exact_scores = blocked.search(queries, emb2, k=K)
  rows = []
  print("| method | build s | breadth | recall@10 | recall@1 | us/query |\n|---|---|---|---|---|---|")
  for name in args.methods.split(","):
    make, breadths = METHODS[name]
    start = time.perf_counter()
    try:
      search = make(emb2)
    except ImportError as e:
      print(f"| {name} | not installed ({e.name}) | | | | |")
      continue
    build = time.perf_counter() - start
    for breadth in breadths:
      search(queries[:100], breadth)  # warm-up
      start = time.perf_counter()
      scores, ids = search(queries, breadth)
      per_query = (time.perf_counter() - start) / len(queries)
      recall = approximate.recall_against_exact(ids, scores, exact_ids, exact_scores)
      rows.append(
        {"method": name, "build_s": build, "breadth": breadth, "us_per_query": 1e6 * per_query, **recall}
      )
      print(
        f"| {name} | {build:.1f} | {breadth} | {recall['recall@10']:.4f} | {recall['recall@1']:.4f} "
        f"| {1e6 * per_query:.0f} |",
        flush=True,
      )
  common.save_json(args.out, {"n": args.n, "dim": emb2.shape[1], "queries": args.queries, "rows": rows})


if __name__ == "__main__":
  main()
