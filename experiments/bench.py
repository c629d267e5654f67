"""Speed and memory: training throughput and full-evaluation time at three scales.

  python experiments/bench.py                 # dbp15k-size, 100k and 1m (streamed) pairs
  python experiments/bench.py --sizes=dbp15k  # just one

Scales (d = 768, LaBSE's width; random unit name vectors and a random graph of average
degree 6, since speed does not depend on accuracy):
  dbp15k : 20,000 entities per KG, all in memory.
  100k   : 100,000 entities per KG.
  1m     : 1,000,000 entities per KG, name vectors in a memory-mapped .npy on disk
           (3 GB per KG); batches gather rows from the file, so host memory holds no copy.
Evaluation = the 'all' convention (each of 70% of KG1 ranked against every KG2 entity):
blocked JAX top-k vs faiss IndexFlatIP. Above --full_eval_up_to entities only a sample of
queries is timed and the full time extrapolated linearly (marked 'extrapolated'). Peak RSS
is the process maximum so far (sizes run in increasing order). Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

import jax
import numpy as np
import optax

from configs import synthetic
from experiments import common
from selfmea_jax.data.inputs import GraphInputs
from selfmea_jax.data.neighbours import neighbour_table
from selfmea_jax.matching import approximate, metrics
from selfmea_jax.train import build, input_pipeline, sharding

SIZES = {"dbp15k": 20_000, "100k": 100_000, "1m": 1_000_000}


def peak_rss_gb() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def rss_gb() -> dict:
  """Current resident memory split into anonymous (heap: real copies) and file-backed
  (memory-mapped pages, reclaimable page cache), from /proc/self/status."""
  out = {}
  with open("/proc/self/status", encoding="utf-8") as f:
    for line in f:
      if line.startswith(("RssAnon:", "RssFile:")):
        out[line.split(":")[0]] = int(line.split()[1]) / 2**20
  return out


def random_names(
  n: int, dim: int, rng, path: str | None = None, chunk: int = 100_000, reuse: bool = False
) -> np.ndarray:
  """[n, dim] unit rows, in memory or written chunkwise to a memory-mapped .npy."""
  if path and reuse and os.path.exists(path):
    existing = np.load(path, mmap_mode="r")
    if existing.shape == (n, dim):
      return existing
  out = (
    np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, dim))
    if path
    else np.empty((n, dim), np.float32)
  )
  for start in range(0, n, chunk):
    x = rng.standard_normal((min(chunk, n - start), dim), dtype=np.float32)
    out[start : start + len(x)] = x / np.linalg.norm(x, axis=1, keepdims=True)
  if path:
    out.flush()
    return np.load(path, mmap_mode="r")
  return out


def random_graph(n: int, degree: float, slots: int, rng) -> tuple[np.ndarray, np.ndarray]:
  """A random KG's neighbour table: ids [n, slots] int32 and mask [n, slots] bool."""
  m = int(n * degree / 2)
  triples = np.stack([rng.integers(0, n, m), np.zeros(m, np.int64), rng.integers(0, n, m)], 1)
  ids, mask = neighbour_table(n, triples, slots)
  return ids, mask


def bench_training(inputs, batch_size: int, steps: int) -> dict:
  config = synthetic.get_config()
  config.train.batch_size = batch_size
  config.train.queue_batches = max(1, 4096 // batch_size)
  model = build.make_model(config, ())
  tx = optax.adam(1e-3)
  mesh = sharding.config_mesh(config)
  state = sharding.replicate(build.init_state(config, model, tx, inputs), mesh)
  step = sharding.make_train_step(model, tx, build.loss_config(config), mesh)
  per_epoch = input_pipeline.steps_per_epoch(config, inputs)
  none = np.zeros((0, 2), np.int64)
  for i in range(3):  # compile + warm up
    state, m = step(state, input_pipeline.make_batch(config, inputs, i, per_epoch, none))
  jax.block_until_ready(m)
  gather = 0.0
  start = time.perf_counter()
  for i in range(3, 3 + steps):
    t = time.perf_counter()
    batch = input_pipeline.make_batch(config, inputs, i, per_epoch, none)
    gather += time.perf_counter() - t
    state, m = step(state, batch)
  jax.block_until_ready(m)
  seconds = time.perf_counter() - start
  return {
    "batch_size": batch_size,
    "steps_per_s": steps / seconds,
    "entities_per_s": steps * 2 * batch_size / seconds,
    "host_gather_fraction": gather / seconds,
  }


def bench_eval(emb1, emb2, backend: str, max_queries: int | None) -> dict:
  n_queries = int(0.7 * len(emb1))
  links = np.stack([np.arange(n_queries), np.arange(n_queries)], 1)
  timed = links if max_queries is None else links[:max_queries]
  start = time.perf_counter()
  if backend == "jax":  # exact pessimistic ranks among all KG2 entities, one blocked pass
    metrics.one_pass_report(emb1, emb2, timed)
  else:  # faiss's exact flat index: the top-10 of each query (no ranks)
    approximate.search_topk(emb1[timed[:, 0]], emb2, k=10, method="flat")
  seconds = time.perf_counter() - start
  return {
    "backend": backend,
    "queries": n_queries,
    "timed_queries": len(timed),
    "seconds": seconds * n_queries / len(timed),
    "extrapolated": len(timed) < n_queries,
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--sizes", default="dbp15k,100k,1m")
  parser.add_argument("--dim", type=int, default=768)
  parser.add_argument("--steps", type=int, default=50)
  parser.add_argument("--batch_sizes", default="64,256")
  parser.add_argument("--backends", default="jax,faiss")
  parser.add_argument(
    "--full_eval_up_to",
    type=int,
    default=20_000,
    help="larger sizes time a sample of queries and extrapolate",
  )
  parser.add_argument("--sample_queries", type=int, default=2048)
  parser.add_argument("--reuse_memmaps", action="store_true", help="reuse existing 1m .npy files")
  parser.add_argument("--tmp", default=tempfile.gettempdir(), help="where the 1m memmaps go")
  parser.add_argument("--out", default="experiments/results/bench.json")
  args = parser.parse_args()
  rng = np.random.default_rng(0)
  records, lines = [], []
  for size in args.sizes.split(","):
    n = SIZES[size]
    stream = size == "1m"
    graphs = []
    t = time.perf_counter()
    for side in (1, 2):
      path = os.path.join(args.tmp, f"bench_names_{size}_kg{side}.npy") if stream else None
      names = random_names(n, args.dim, rng, path, reuse=args.reuse_memmaps)
      ids, mask = random_graph(n, 6.0, 20, rng)
      graphs.append(GraphInputs(names=names, neighbour_ids=ids, neighbour_mask=mask))
    setup = time.perf_counter() - t
    record = {
      "size": size,
      "entities_per_kg": n,
      "dim": args.dim,
      "streamed": stream,
      "setup_seconds": setup,
      "training": [],
      "eval": [],
    }
    for batch_size in map(int, args.batch_sizes.split(",")):
      result = bench_training(tuple(graphs), batch_size, args.steps)
      result["rss_after_gb"] = rss_gb()
      record["training"].append(result)
      lines.append(
        f"| {size} | train B={batch_size} | {result['steps_per_s']:.1f} steps/s, "
        f"{result['entities_per_s']:.0f} entities/s (host gather "
        f"{100 * result['host_gather_fraction']:.0f}%); RSS now: anon "
        f"{result['rss_after_gb'].get('RssAnon', 0):.1f}, file "
        f"{result['rss_after_gb'].get('RssFile', 0):.1f} | {peak_rss_gb():.1f} |"
      )
      print(lines[-1], flush=True)
    for backend in filter(None, args.backends.split(",")):
      max_queries = None if n <= args.full_eval_up_to else args.sample_queries
      result = bench_eval(graphs[0].names, graphs[1].names, backend, max_queries)
      record["eval"].append(result)
      note = f" (extrapolated from {result['timed_queries']:,} queries)" if result["extrapolated"] else ""
      lines.append(
        f"| {size} | eval {backend} | {result['seconds']:.1f} s for {result['queries']:,} "
        f"queries x {n:,} candidates{note} | {peak_rss_gb():.1f} |"
      )
      print(lines[-1], flush=True)
    record["peak_rss_gb"] = peak_rss_gb()
    records.append(record)
  print("| scale | what | result | peak RSS GB |\n|---|---|---|---|")
  print("\n".join(lines))
  common.save_json(args.out, {"device": str(jax.devices()[0]), "records": records})


if __name__ == "__main__":
  main()
