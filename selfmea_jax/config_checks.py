"""Up-front validation of a whole config: every bad value is one line before any heavy work."""

from __future__ import annotations

from selfmea_jax.align import decoding, views
from selfmea_jax.data.dbp15k import PAIRS
from selfmea_jax.errors import InputError
from selfmea_jax.evaluation import approximate, metrics
from selfmea_jax.features import text_encoders
from selfmea_jax.features.names import FEATURE_DTYPES, NAME_SOURCES
from selfmea_jax.models.fusion import EXTRA_MODALITIES
from selfmea_jax.train import sharding

KINDS = ("synthetic", "dbp15k", "openea")
CHOICES = {  # key -> allowed values
  "data.kind": KINDS,
  "data.name_encoder": tuple(text_encoders.ENCODERS),
  "data.name_source": NAME_SOURCES,
  "data.feature_dtype": FEATURE_DTYPES,
  "model.compute_dtype": ("float32", "bfloat16"),
  "eval.compute_dtype": ("float32", "bfloat16"),
  "train.lr_schedule": ("constant", "cosine"),
  "train.contrastive_output": ("graph", "joint"),
  "train.initial_seeds": ("", "names", "encoder", "given"),
  "eval.backend": metrics.BACKENDS,
  "eval.scoring": metrics.SCORINGS,
  "align.scoring": decoding.SCORINGS,
  "align.assignment": decoding.ASSIGNMENTS,
  "align.search": approximate.METHODS,
  "train.seed_search": approximate.METHODS,
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
  "eval.sinkhorn_temperature": (1e-12, None, "> 0"),
  "eval.sinkhorn_iterations": (1, None, ">= 1"),
  "train.seed_keep_fraction": (1e-12, 1.0, "in (0, 1]"),
  "train.iterate_window": (1, None, ">= 1"),
  "model.num_slots": (1, None, ">= 1"),
  "model.dropout": (0.0, 0.999, "in [0, 1)"),
  "model.projection_dim": (1, None, "> 0"),
  "eval.valid_size": (0, None, ">= 0"),
  "eval.test_queries": (0, None, ">= 0 (0: all test links)"),
  "eval.encode_batch": (1, None, "> 0"),
  "eval.csls_k": (1, None, ">= 1"),
  "align.candidates_k": (1, None, ">= 1"),
  "align.search_target_recall": (0.0, 1.0, "in [0, 1]"),
  "align.literal_dim": (1, None, ">= 1"),
  "align.sinkhorn_temperature": (1e-12, None, "> 0"),
  "align.sinkhorn_iterations": (1, None, ">= 1"),
  "align.self_training_rounds": (0, None, ">= 0"),
  "align.seed_keep_fraction": (1e-12, 1.0, "in (0, 1]"),
  "align.consistency_weight": (0.0, None, ">= 0"),
  "align.consistency_rounds": (0, None, ">= 0"),
  "align.train_epochs": (0, None, ">= 0"),
  "align.csls_k": (1, None, ">= 1"),
}


def _get(config, key: str):
  value = config
  for part in key.split("."):
    value = value[part]
  return value


def validate(config) -> None:
  """Raises InputError naming the first bad config value (`--config.<key>`)."""
  for key, allowed in CHOICES.items():
    if _get(config, key) not in allowed:
      raise InputError(f"--config.{key}={_get(config, key)!r}: choose one of {allowed}")
  for key, (low, high, text) in RANGES.items():
    value = _get(config, key)
    if not isinstance(value, (int, float)) or value < low or (high is not None and value > high):
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
  unknown = set(config.align.conventions) - set(metrics.CONVENTIONS)
  if unknown or not config.align.conventions:
    raise InputError(
      f"--config.align.conventions={tuple(config.align.conventions)}: choose from {metrics.CONVENTIONS}"
    )
  for text in tuple(config.align.views) + (config.align.train_view,):
    views.parse_view(text)
  if config.align.view_weights and len(config.align.view_weights) != len(config.align.views):
    raise InputError(
      f"--config.align.view_weights: {len(config.align.view_weights)} weights for "
      f"{len(config.align.views)} views"
    )
  if not config.align.hop_weights:
    raise InputError("--config.align.hop_weights is empty: give one weight per hop, hop 0 first")
  if config.eval.test_queries and (config.eval.scoring, config.eval.backend) != ("cosine", "jax"):
    raise InputError(
      f"--config.eval.test_queries={config.eval.test_queries}: sampled test queries need "
      f"eval.scoring='cosine' and eval.backend='jax' (not {config.eval.scoring!r}, {config.eval.backend!r})"
    )
  sharding.config_mesh(config)  # the batch sizes must split over the devices the run will use
