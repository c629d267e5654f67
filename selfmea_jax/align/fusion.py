"""Fusion of views and hops into one embedding whose dot product is a weighted sum of cosines.

For views v with weights w_v and hops h with weights a_h (each set normalised to sum 1),
F = concat_{v,h} sqrt(w_v a_h) normalise(A_hat^h X_v), so F1[i] . F2[j] =
sum_{v,h} w_v a_h cos(A_hat^h X_v[i], A_hat^h Y_v[j]) and every row of F has unit norm.
"""

from __future__ import annotations

import numpy as np

from selfmea_jax.align.propagation import propagate
from selfmea_jax.errors import InputError
from selfmea_jax.features.text_encoders import l2_normalise


def center_rows(x: np.ndarray) -> np.ndarray:
  """[n, d] -> [n, d] unit rows after subtracting the mean row (of this KG's view). Removes
  the direction every name of a KG shares (encoders such as e5 put all names in a narrow cone;
  the two KGs' cones also differ by language), so cosines spread over the informative part."""
  x = np.asarray(x, np.float32)
  return l2_normalise(x - x.mean(axis=0, keepdims=True))


def normalised_weights(values, count: int, what: str) -> np.ndarray:
  """Non-negative weights summing to 1; an empty sequence means equal weights."""
  w = np.ones(count) if len(values) == 0 else np.asarray(values, np.float64)
  if w.shape != (count,) or (w < 0).any() or w.sum() <= 0:
    raise InputError(f"{what}: need {count} non-negative weights with a positive sum, got {tuple(values)}")
  return w / w.sum()


def fuse(views: list[np.ndarray], edges, view_weights, hop_weights) -> np.ndarray:
  """One KG: views [[n, d_v]], adjacency edges -> [n, sum_v d_v * len(hop_weights)] unit rows
  (the blocks of zero weight left out), each scaled block written into the result in place
  rather than kept as a copy and concatenated."""
  kept = [[w * a > 0 for a in hop_weights] for w in view_weights]
  width = sum(np.shape(x)[1] * sum(hops) for x, hops in zip(views, kept))
  out = np.empty((len(views[0]), width), np.float32)
  start = 0
  for x, w, hops in zip(views, view_weights, kept):
    for h, a, used in zip(propagate(x, edges, len(hop_weights) - 1), hop_weights, hops):
      if used:
        np.multiply(h, np.sqrt(w * a, dtype=np.float32), out=out[:, start : start + h.shape[1]])
        start += h.shape[1]
  return out
