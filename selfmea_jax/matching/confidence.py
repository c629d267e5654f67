"""The confidence of each decoded pair: a probability that it is the source's counterpart.

Four label-free features of a row's decoded pair (i, j), from the candidate graph and the
decoded alignment itself:
  decoder probability   logit of the Sinkhorn transport mass on (i, j), or of the row softmax
                        at the Sinkhorn temperature under cosine / CSLS;
  row margin            score(i, j) minus the best other candidate score of row i;
  column margin         score(i, j) minus the best other candidate score of column j;
  neighbour support     |{i' in N1(i) : partner(i') in N2(j)}| / sqrt(|N1(i)| |N2(j)|) under
                        the decoded alignment (matching/consistency.neighbour_support): a
                        source without a counterpart, paired with a look-alike, rarely has
                        neighbours that follow it
(scores: the candidate scores, i.e. the fused cosine plus any neighbour support). A
calibration (w_probability, w_row, w_column[, w_support], bias) maps them through a logistic
function (a calibration without w_support is the three-feature form); its values are fitted
once on one pair's validation pool (experiments/fit_confidence.py) and then fixed in the
config. Without one, the confidence is the decoder probability itself.
"""

from __future__ import annotations

import numpy as np
import scipy.optimize

from selfmea_jax.matching.consistency import neighbour_support
from selfmea_jax.matching.decoding import Decoded, Decoder, entry_of

FEATURES = ("decoder_probability_logit", "row_margin", "column_margin", "neighbour_support")
CALIBRATION_SIZES = (len(FEATURES), len(FEATURES) + 1)  # without / with w_support, + the bias
_CLIP = 1e-6


def decoder_probability(decoded: Decoded, decoder: Decoder) -> np.ndarray:
  """[e] each entry's probability under the decoder: the Sinkhorn plan's mass (its rows sum
  to 1), else the softmax of the row's scores at decoder.sinkhorn_temperature."""
  graph = decoded.graph
  if decoder.scoring == "sinkhorn":
    return np.clip(np.exp(decoded.scores.astype(np.float64)), 0.0, 1.0)
  logits = decoded.scores.astype(np.float64) / decoder.sinkhorn_temperature
  top = np.full(graph.num_rows, -np.inf)
  np.maximum.at(top, graph.rows, logits)
  weights = np.exp(logits - top[graph.rows])
  return weights / np.bincount(graph.rows, weights, graph.num_rows)[graph.rows]


def _best_other(segments: np.ndarray, scores: np.ndarray, size: int, entries: np.ndarray) -> np.ndarray:
  """[q] the best score of each chosen entry's segment (row or column) other than the entry
  itself (0 when it is the segment's only entry)."""
  best = np.full(size, -np.inf)
  np.maximum.at(best, segments, scores)
  runner_up = np.full(size, -np.inf)
  np.maximum.at(runner_up, segments, np.where(scores == best[segments], -np.inf, scores))
  ties = np.bincount(segments[scores == best[segments]], minlength=size) > 1
  runner_up = np.where(ties, best, runner_up)  # two equal bests: the other one is as good
  own, segment = scores[entries], segments[entries]
  other = np.where(own >= best[segment], runner_up[segment], best[segment])
  return np.where(np.isfinite(other), other, 0.0)


def pair_features(decoded: Decoded, decoder: Decoder, adjacencies) -> tuple[np.ndarray, np.ndarray]:
  """(features [m, 4] in FEATURES order, rows [m]) for the m rows with a decoded partner
  that is a graph entry. decoded: a decoding of every KG1 row against every KG2 column;
  adjacencies: both KGs' 0/1 adjacency (matching/consistency.adjacencies)."""
  graph, assignment = decoded.graph, decoded.assignment
  matched = np.flatnonzero(assignment >= 0)
  pairs = np.stack([matched, assignment[matched]], axis=1)  # the whole decoded alignment
  entries = entry_of(graph, matched, assignment[matched])
  rows, entries = matched[entries >= 0], entries[entries >= 0]
  probability = np.clip(decoder_probability(decoded, decoder)[entries], _CLIP, 1 - _CLIP)
  scores = graph.scores.astype(np.float64)
  own = scores[entries]
  support = neighbour_support(rows, assignment[rows], pairs, *adjacencies)
  features = np.stack(
    [
      np.log(probability / (1 - probability)),
      own - _best_other(graph.rows, scores, graph.num_rows, entries),
      own - _best_other(graph.cols, scores, graph.num_cols, entries),
      support,
    ],
    axis=1,
  )
  return features, rows


def confidences(decoded: Decoded, decoder: Decoder, adjacencies) -> np.ndarray:
  """[num_rows] the probability that each row's decoded partner is its counterpart: the
  decoder.calibration of the pair's features, or the decoder probability without one; 0 for
  an unmatched row."""
  out = np.zeros(decoded.graph.num_rows, np.float64)
  features, rows = pair_features(decoded, decoder, adjacencies)
  if decoder.calibration:
    out[rows] = calibrated(features, decoder.calibration)
  else:
    out[rows] = 1.0 / (1.0 + np.exp(-features[:, 0]))
  return np.clip(out, 0.0, 1.0)


def decisions(
  decoded: Decoded, decoder: Decoder, threshold: float, adjacencies
) -> tuple[np.ndarray, np.ndarray]:
  """(confidence [num_rows], match [num_rows] bool): `match` where a partner was decoded and
  its confidence is at least threshold, else `no_match`."""
  probability = confidences(decoded, decoder, adjacencies)
  return probability, (decoded.assignment >= 0) & (probability >= threshold)


def calibrated(features: np.ndarray, calibration) -> np.ndarray:
  """[m] sigmoid(features [m, w] @ weights + bias); calibration = (*weights, bias), its w
  weights for the first w features (the three-feature form leaves neighbour support out)."""
  weights, bias = np.asarray(calibration[:-1], np.float64), float(calibration[-1])
  return 1.0 / (1.0 + np.exp(-(features[:, : len(weights)] @ weights + bias)))


def fit(features: np.ndarray, correct: np.ndarray, l2: float = 1e-6) -> tuple[float, ...]:
  """(*weights, bias) of the L2-regularised logistic regression of correct [m] (1 when the
  decoded pair is the counterpart; 0 when wrong or the source has none) on features [m, F]."""
  x = np.concatenate([features, np.ones((len(features), 1))], axis=1)
  y = np.asarray(correct, np.float64)

  def loss(theta):
    z = x @ theta
    value = np.mean(np.logaddexp(0.0, z) - y * z) + l2 * np.sum(theta[:-1] ** 2)
    gradient = x.T @ (1.0 / (1.0 + np.exp(-z)) - y) / len(y)
    gradient[:-1] += 2 * l2 * theta[:-1]
    return value, gradient

  result = scipy.optimize.minimize(loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B")
  return tuple(float(v) for v in result.x)
