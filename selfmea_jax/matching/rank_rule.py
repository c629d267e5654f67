"""The one pessimistic rank rule, shared by every search and metric.

rank = 1 + #{c != gold : s(c) >= s(gold) - TIE_EPS}: (near-)ties never favour the gold answer,
so candidate order (and id order, which leaks answers in DBP15K) cannot matter, and a NaN
score on either side counts against the gold (NaN is never a hit).
"""

TIE_EPS = 1e-6


def beats(scores, gold_scores):
  """Whether each score counts against the gold one (numpy or jax arrays, broadcast)."""
  return ~(scores < gold_scores - TIE_EPS)
