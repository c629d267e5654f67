"""Evaluation of a trained encoder: validation (model selection) and the test report."""

from __future__ import annotations

import ml_collections
import numpy as np

from selfmea_jax import rng_streams
from selfmea_jax.matching import consistency, metrics
from selfmea_jax.matching.conventions import DecodingPlan, decode_conventions
from selfmea_jax.train.encode import encode_pair

# Model selection: MRR of validation sources ranked among all KG2 entities (finer than H@1).
VALID_KEY = "valid/all/mrr"


def validation_links(config: ml_collections.ConfigDict, task) -> np.ndarray:
  """[v, 2] the seeded sample of validation links used for model selection."""
  links = task.valid_links
  size = min(config.eval.valid_size, len(links))
  return links[rng_streams.validation_sample(config.seed).choice(len(links), size, replace=False)]


def test_links(config: ml_collections.ConfigDict, task) -> np.ndarray:
  """[t, 2] the test links evaluated: all of them, or a seeded sample of eval.test_queries
  (exact ranks of sampled queries: unbiased metrics, reported with standard errors)."""
  links, size = task.test_links, config.eval.test_queries
  if not size or size >= len(links):
    return links
  return links[np.sort(rng_streams.test_sample(config.seed).choice(len(links), size, replace=False))]


def evaluate_embeddings(config: ml_collections.ConfigDict, emb1: np.ndarray, emb2: np.ndarray, task) -> dict:
  """Validation MRR (selection only, cosine) and the test report under both conventions.
  emb1 [n1, E], emb2 [n2, E]. A KG pair without gold links gives {}. Cosine and CSLS rank
  exactly in one blocked pass over KG2 (rank metrics only); decoding.scoring='sinkhorn'
  decodes a candidate graph as the aligner does (rank metrics + decoded_accuracy). With
  eval.test_queries, a seeded sample of the test links is ranked (against every test target
  or KG2 entity, as without it) and each metric comes with its standard error ('<m>_se')."""
  return _report(config, emb1, emb2, task, validation_links(config, task))


def _report(
  config: ml_collections.ConfigDict, emb1: np.ndarray, emb2: np.ndarray, task, valid: np.ndarray
) -> dict:
  links, scoring = test_links(config, task), config.decoding.scoring
  if scoring in metrics.ONE_PASS_SCORINGS:
    return metrics.one_pass_report(
      emb1,
      emb2,
      links,
      valid,
      standard_errors=len(links) < len(task.test_links),
      scoring=scoring,
      csls_k=config.decoding.csls_k,
      compute_dtype=config.eval.compute_dtype,
      test_targets=task.test_links[:, 1],
    )
  results = metrics.one_pass_report(emb1, emb2, links[:0], valid)  # validation: cosine ranks
  if len(links):
    plan = DecodingPlan.from_config(config.decoding)
    adjacencies = consistency.adjacencies(task) if plan.consistency_rounds else None
    reported, _ = decode_conventions(emb1, emb2, links, np.zeros((0, 2), np.int64), plan, adjacencies)
    results.update(reported)
  return results


def evaluate_params(
  config: ml_collections.ConfigDict, model, params, task, inputs
) -> tuple[dict, tuple[np.ndarray, np.ndarray]]:
  """Encodes both KGs with `params`; returns (evaluate_embeddings' results, (emb1, emb2))."""
  emb1, emb2 = encode_pair(config, model, params, inputs)
  return evaluate_embeddings(config, emb1, emb2, task), (emb1, emb2)


def names_only_report(config: ml_collections.ConfigDict, task, inputs) -> dict:
  """The test report of the raw name embeddings (the baseline the encoder must beat)."""
  if not len(task.test_links):
    return {}
  return _report(config, inputs[0].name_matrix(), inputs[1].name_matrix(), task, np.zeros((0, 2), np.int64))


def format_results(results: dict) -> str:
  """'all/h1=0.9000 test/h1=...' for the log (test metrics and other slash keys)."""
  return " ".join(
    f"{k}={v:.4f}"
    for k, v in sorted(results.items())
    if "/" in k and not k.startswith("valid/") and isinstance(v, float)
  )
