"""Up-front validation of a whole config: every bad value is one line before any heavy work."""

from __future__ import annotations

import math

import ml_collections

from selfmea_jax.align import views
from selfmea_jax.data.dbp15k import PAIRS
from selfmea_jax.data.load import KINDS
from selfmea_jax.errors import InputError
from selfmea_jax.features import text_encoders
from selfmea_jax.features.names import FEATURE_DTYPES, NAME_SOURCES
from selfmea_jax.matching import approximate, decoding, metrics
from selfmea_jax.matching.confidence import CALIBRATION_SIZES, FEATURES
from selfmea_jax.models.fusion import EXTRA_MODALITIES
from selfmea_jax.train import sharding

PIPELINES = ("trainer", "aligner")
CHOICES = {  # key -> allowed values
  "pipeline": PIPELINES,
  "data.kind": KINDS,
  "data.name_encoder": tuple(text_encoders.ENCODERS),
  "data.name_source": NAME_SOURCES,
  "data.feature_dtype": FEATURE_DTYPES,
  "model.compute_dtype": ("float32", "bfloat16"),
  "eval.compute_dtype": ("float32", "bfloat16"),
  "train.lr_schedule": ("constant", "cosine"),
  "train.contrastive_output": ("graph", "joint"),
  "train.initial_seeds": ("", "names", "encoder", "given"),
  "decoding.scoring": decoding.SCORINGS,
  "decoding.assignment": decoding.ASSIGNMENTS,
  "decoding.search": approximate.METHODS,
  "train.seed_search": approximate.METHODS,
  "align.finetune.source": NAME_SOURCES,
}
RANGES = {  # key -> (lowest allowed, highest allowed or None, description)
  "train.batch_size": (1, None, "> 0"),
  "train.queue_batches": (1, None, ">= 1 (queue >= batch)"),
  "train.num_epochs": (0, None, ">= 0"),
  "train.learning_rate": (1e-12, None, "> 0"),
  "train.momentum": (0.0, 1.0, "in [0, 1]"),
  "train.temperature": (1e-12, None, "> 0"),
  "train.nca_weight": (0.0, None, ">= 0"),
  "train.seed_batch_size": (1, None, "> 0"),
  "train.log_every_steps": (1, None, "> 0"),
  "train.checkpoint_every_steps": (1, None, "> 0"),
  "train.eval_every_epochs": (1, None, "> 0"),
  "train.keep_checkpoints": (1, None, ">= 1"),
  "train.nca_beta": (1e-12, None, "> 0"),
  "train.nca_margin": (-1.0, 1.0, "in [-1, 1]"),
  "train.seed_keep_fraction": (1e-12, 1.0, "in (0, 1]"),
  "train.iterate_window": (1, None, ">= 1"),
  "model.num_slots": (1, None, ">= 1"),
  "model.dropout": (0.0, 0.999, "in [0, 1)"),
  "model.projection_dim": (1, None, "> 0"),
  "eval.valid_size": (0, None, ">= 0"),
  "eval.test_queries": (0, None, ">= 0 (0: all test links)"),
  "eval.encode_batch": (1, None, "> 0"),
  "decoding.csls_k": (1, None, ">= 1"),
  "decoding.candidates_k": (1, None, ">= 1"),
  "decoding.search_target_recall": (0.0, 1.0, "in [0, 1]"),
  "decoding.sinkhorn_temperature": (1e-12, None, "> 0"),
  "decoding.sinkhorn_iterations": (1, None, ">= 1"),
  "decoding.sinkhorn_csls_weight": (0.0, 1.0, "in [0, 1]"),
  "decoding.consistency_weight": (0.0, None, ">= 0"),
  "decoding.consistency_rounds": (0, None, ">= 0"),
  "decoding.match_threshold": (0.0, 1.0, "in [0, 1]"),
  "data.valid_fraction": (0.0, 1.0, "in [0, 1]"),
  "align.literal_dim": (1, None, ">= 1"),
  "align.self_training_rounds": (0, None, ">= 0"),
  "align.trained_view_weight": (0.0, None, ">= 0"),
  "align.trainer.num_epochs": (0, None, ">= 0"),
  "align.trainer.nca_weight": (0.0, None, ">= 0"),
  "align.trainer.seed_fraction": (1e-12, 1.0, "in (0, 1]"),
  "align.finetune.steps": (0, None, ">= 0"),
  "align.finetune.batch_size": (2, None, ">= 2"),
  "align.finetune.learning_rate": (0.0, None, ">= 0"),
  "align.finetune.temperature": (1e-12, None, "> 0"),
  "align.finetune.queue_batches": (0, None, ">= 0"),
  "align.finetune.max_length": (3, 512, "in [3, 512]"),
  "align.finetune.max_epochs": (1e-9, None, "> 0"),
  "align.finetune.train_layers": (0, None, ">= 0"),
}


def _get(config: ml_collections.ConfigDict, key: str):
  value = config
  for part in key.split("."):
    value = value[part]
  return value


def _in_range(value, low, high) -> bool:
  """A finite number (not a bool) in [low, high]; NaN and infinities never pass."""
  if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
    return False
  return value >= low and (high is None or value <= high)


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises InputError naming the first bad config value (`--config.<key>`)."""
  for key, allowed in CHOICES.items():
    if _get(config, key) not in allowed:
      raise InputError(f"--config.{key}={_get(config, key)!r}: choose one of {allowed}")
  for key, (low, high, text) in RANGES.items():
    value = _get(config, key)
    if not _in_range(value, low, high):
      raise InputError(f"--config.{key}={value!r}: must be {text}")
  if config.data.kind == "dbp15k" and config.data.pair not in PAIRS:
    raise InputError(
      f"--config.data.pair={config.data.pair!r}: choose one of {PAIRS} "
      "(for other KG pairs use data.kind='openea')"
    )
  if config.data.kind == "openea" and not config.data.openea_dir:
    raise InputError("--config.data.openea_dir is empty: name the folder with rel_triples_1/2")
  unknown = set(config.data.modalities) - set(EXTRA_MODALITIES)
  if unknown:
    raise InputError(f"--config.data.modalities: unknown {sorted(unknown)}; choose from {EXTRA_MODALITIES}")
  outputs = {"graph", "joint", *EXTRA_MODALITIES}
  alpha = config.train.nca_alpha.to_dict()
  if set(alpha) != outputs or not all(isinstance(v, (int, float)) and v > 0 for v in alpha.values()):
    raise InputError(f"--config.train.nca_alpha={alpha}: one scale > 0 for each of {sorted(outputs)}")
  unknown = set(config.decoding.conventions) - set(metrics.CONVENTIONS)
  if unknown or not config.decoding.conventions:
    raise InputError(
      f"--config.decoding.conventions={tuple(config.decoding.conventions)}: choose from {metrics.CONVENTIONS}"
    )
  if config.pipeline == "aligner":
    for text in config.align.views:
      views.parse_view(text)
    _check_trainer_view(config)
  replaced = config.align.finetune.replace_view
  if config.align.finetune.enabled and replaced and replaced not in config.align.views:
    raise InputError(
      f"--config.align.finetune.replace_view={replaced!r} is not one of align.views "
      f"{tuple(config.align.views)}"
    )
  if config.align.view_weights and len(config.align.view_weights) != len(config.align.views):
    raise InputError(
      f"--config.align.view_weights: {len(config.align.view_weights)} weights for "
      f"{len(config.align.views)} views"
    )
  calibration = tuple(config.decoding.calibration)
  if calibration and (
    len(calibration) not in CALIBRATION_SIZES or not all(_in_range(v, -math.inf, None) for v in calibration)
  ):
    raise InputError(
      f"--config.decoding.calibration={calibration}: (), {' or '.join(map(str, CALIBRATION_SIZES))} "
      f"finite numbers (weights of {', '.join(FEATURES)}, then the bias; without the last weight, "
      f"{FEATURES[-1]} is left out)"
    )
  if not config.align.hop_weights:
    raise InputError("--config.align.hop_weights is empty: give one weight per hop, hop 0 first")
  if config.eval.test_queries and config.decoding.scoring != "cosine":
    raise InputError(
      f"--config.eval.test_queries={config.eval.test_queries}: sampled test queries need "
      f"decoding.scoring='cosine' (not {config.decoding.scoring!r})"
    )
  sharding.config_mesh(config)  # the batch sizes must split over the devices the run will use


def _check_trainer_view(config: ml_collections.ConfigDict) -> None:
  """The self-training trainer reads a cached encoder view (or the synthetic given vectors)."""
  spec = views.parse_view(config.align.trainer.name_view)
  expected = ("given",) if config.data.kind == "synthetic" else tuple(text_encoders.ENCODERS)
  if spec.encoder not in expected:
    raise InputError(
      f"--config.align.trainer.name_view={spec.name!r}: the trainer reads a cached name "
      f"encoder view; choose one with encoder in {expected}"
    )
