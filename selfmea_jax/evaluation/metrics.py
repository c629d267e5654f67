"""H@1, H@10 and MRR of a KG1 -> KG2 alignment under both candidate conventions.

Conventions: 'test' ranks each source against the test targets only (the DBP15K papers'
usual setting); 'all' ranks against every KG2 entity (harder, closer to real use).
Scoring: 'cosine', 'csls' (cross-domain similarity local scaling) or 'sinkhorn' (1-to-1).
"""

from __future__ import annotations

import jax
from jax.experimental import multihost_utils
import numpy as np

from selfmea_jax.errors import InputError
from selfmea_jax.evaluation import blocked, faiss_search, sinkhorn

CONVENTIONS = ("test", "all")
SCORINGS = ("cosine", "csls", "sinkhorn")
BACKENDS = ("jax", "faiss")


def standard_error(values: np.ndarray) -> float:
  """The standard error of the mean of values [n] (0 with fewer than 2 values)."""
  values = np.asarray(values, np.float64)
  return float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0


def rank_metrics(ranks: np.ndarray, standard_errors: bool = False) -> dict[str, float]:
  """ranks [n] (1 = best) -> {'h1', 'h10', 'mrr'}; with standard_errors also '<metric>_se',
  the standard error of each mean (for ranks of a random sample of the queries)."""
  ranks = np.asarray(ranks, np.float64)
  per_query = {"h1": ranks <= 1, "h10": ranks <= 10, "mrr": 1.0 / ranks}
  out = {name: float(np.mean(values)) for name, values in per_query.items()}
  if standard_errors:
    out.update({f"{name}_se": standard_error(values) for name, values in per_query.items()})
  return out


def _search_fn(backend: str):
  if backend not in BACKENDS:
    raise InputError(f"unknown eval backend {backend!r}; choose one of {BACKENDS}")
  return blocked.search if backend == "jax" else faiss_search.search


def rank_candidates(
  queries: np.ndarray,
  candidates: np.ndarray,
  targets: np.ndarray,
  scoring: str = "cosine",
  backend: str = "jax",
  csls_k: int = 10,
  k: int = 10,
  sinkhorn_temperature: float = 0.02,
  sinkhorn_iterations: int = 10,
):
  """Returns (ranks [Nq], top_ids [Nq, k] candidate positions, top_scores [Nq, k])."""
  if scoring == "sinkhorn":
    scores = sinkhorn.sinkhorn_scores(queries, candidates, sinkhorn_temperature, sinkhorn_iterations)
    return sinkhorn.dense_ranks(scores, targets, k)
  search = _search_fn(backend)
  bias = None
  if scoring == "csls":
    bias = 0.5 * blocked.mean_topk_similarity(candidates, queries, csls_k)
  elif scoring != "cosine":
    raise InputError(f"unknown scoring {scoring!r}; choose one of {SCORINGS}")
  return search(queries, candidates, targets, candidate_bias=bias, k=k)


def evaluate(
  emb1: np.ndarray, emb2: np.ndarray, links: np.ndarray, convention: str = "test", **kwargs
) -> dict[str, float]:
  """emb1 [n1, E], emb2 [n2, E], links [k, 2] -> {'h1', 'h10', 'mrr'}."""
  if convention == "test":
    candidates, targets = emb2[links[:, 1]], np.arange(len(links))
  elif convention == "all":
    candidates, targets = emb2, links[:, 1]
  else:
    raise InputError(f"unknown convention {convention!r}; choose one of {CONVENTIONS}")
  ranks, _, _ = rank_candidates(emb1[links[:, 0]], candidates, targets, **kwargs)
  return rank_metrics(ranks)


def report(
  emb1: np.ndarray, emb2: np.ndarray, links: np.ndarray, conventions=CONVENTIONS, prefix: str = "", **kwargs
) -> dict[str, float]:
  """{'<prefix><convention>/<metric>': value} for each convention."""
  out = {}
  for convention in conventions:
    for name, value in evaluate(emb1, emb2, links, convention, **kwargs).items():
      out[f"{prefix}{convention}/{name}"] = value
  return out


ONE_PASS_SCORINGS = ("cosine", "csls")


def report_one_pass(
  emb1: np.ndarray,
  emb2: np.ndarray,
  links: np.ndarray,
  valid_links: np.ndarray | None = None,
  scoring: str = "cosine",
  csls_k: int = 10,
  compute_dtype: str = "float32",
  standard_errors: bool = False,
  test_targets: np.ndarray | None = None,
) -> dict[str, float]:
  """report(conventions=('test', 'all')) of `links` plus the validation links' 'all' report
  (cosine, prefix 'valid/'), from one blocked pass over KG2: every query's block of scores
  gives its rank among all KG2 entities and among the test targets (the 'test' convention).
  scoring: cosine | csls; compute_dtype: of the score matmul (bfloat16 on accelerators).
  emb1 [n1, E], emb2 [n2, E], links / valid_links [*, 2]. test_targets: the 'test'
  convention's candidates (default links[:, 1]; all test targets when `links` is a random
  sample of the test links, then with standard_errors: each test metric's standard error)."""
  if scoring not in ONE_PASS_SCORINGS:
    raise InputError(f"one-pass evaluation supports scoring {ONE_PASS_SCORINGS}, not {scoring!r}")
  valid = np.zeros((0, 2), np.int64) if valid_links is None else np.asarray(valid_links)
  links = np.asarray(links).reshape(-1, 2)
  if not len(links) and not len(valid):  # a KG pair without gold links: nothing to evaluate
    return {}
  queries = np.concatenate([links[:, 0], valid[:, 0]])
  targets = np.concatenate([links[:, 1], valid[:, 1]])
  bias, weights = None, None
  if scoring == "csls" and len(links):  # r(c) over the test sources, as in the 'test' and 'all' passes
    bias = 0.5 * blocked.mean_topk_similarity(emb2, emb1[links[:, 0]], csls_k)
    weights = np.concatenate([np.ones(len(links)), np.zeros(len(valid))])  # validation: cosine
  subset = np.zeros(len(emb2), bool)
  subset[links[:, 1] if test_targets is None else test_targets] = True
  ranks, subset_ranks = split_over_processes(
    lambda rows: blocked.search_all(
      emb1[queries[rows]],
      emb2,
      targets[rows],
      bias,
      k=0,
      subset=subset,
      compute_dtype=compute_dtype,
      bias_weights=None if weights is None else weights[rows],
    ),
    len(queries),
  )
  out = {}
  if len(links):
    for convention, values in (("test", subset_ranks), ("all", ranks)):
      out.update(
        {f"{convention}/{k}": v for k, v in rank_metrics(values[: len(links)], standard_errors).items()}
      )
  if len(valid):
    out.update({f"valid/all/{k}": v for k, v in rank_metrics(ranks[len(links) :]).items()})
  return out


def split_over_processes(search, num_queries: int) -> tuple[np.ndarray, np.ndarray]:
  """(ranks, subset_ranks) [num_queries] of `search(rows)` (a blocked.search_all over the given
  query rows), each process of a multi-host run searching its own contiguous block of
  queries; the blocks are gathered from every process in query order."""
  count = jax.process_count()
  if count == 1:
    result = search(np.arange(num_queries))
    return result.ranks, result.subset_ranks
  size = -(-num_queries // count)
  rows = np.arange(jax.process_index() * size, min(num_queries, (jax.process_index() + 1) * size))
  local = np.zeros((2, size), np.int32)
  if len(rows):
    result = search(rows)
    local[0, : len(rows)], local[1, : len(rows)] = result.ranks, result.subset_ranks
  gathered = np.asarray(multihost_utils.process_allgather(local))  # [processes, 2, size]
  both = gathered.transpose(1, 0, 2).reshape(2, -1)[:, :num_queries]
  return both[0], both[1]
