"""Score conventions shared by every search, decoder and metric: the one pessimistic rank
rule and CSLS's density term.

rank = 1 + #{c != gold : s(c) >= s(gold) - TIE_EPS}: (near-)ties never favour the gold answer,
so candidate order (and id order, which leaks answers in DBP15K) cannot matter, and a NaN
score on either side counts against the gold (NaN is never a hit).

CSLS(i, j) = 2 cos(i, j) - r1(i) - r2(j), where r is an entity's density: the mean of its k
best cosines in the other KG.
"""

import numpy as np

TIE_EPS = 1e-6


def beats(scores, gold_scores):
  """Whether each score counts against the gold one (numpy or jax arrays, broadcast)."""
  return ~(scores < gold_scores - TIE_EPS)


def csls_density(top_scores: np.ndarray, k: int) -> np.ndarray:
  """[n] CSLS's r term from each entity's best scores [n, >= k] (descending)."""
  return np.asarray(top_scores[:, :k], np.float32).mean(axis=1)
