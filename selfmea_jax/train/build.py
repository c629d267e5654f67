"""What a training run is built from: the encoder, the optimiser, the loss settings and the
initial train state (or only its shapes, as a template to restore a checkpoint into)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from selfmea_jax import rng_streams
from selfmea_jax.data.inputs import GraphInputs
from selfmea_jax.errors import InputError
from selfmea_jax.models.fusion import EntityEncoder
from selfmea_jax.train import sharding
from selfmea_jax.train.encode import apply_inference
from selfmea_jax.train.state import TrainState, create_state
from selfmea_jax.train.step import LossConfig


def make_model(config: ml_collections.ConfigDict, modalities: tuple[str, ...]) -> EntityEncoder:
  """The entity encoder over the graph/name channel plus `modalities` (extra ones)."""
  return EntityEncoder(
    extra_modalities=modalities,
    projection_dim=config.model.projection_dim,
    dropout_rate=config.model.dropout,
    identity_init=config.model.identity_init,
    neighbour_scale=config.model.neighbour_scale,
    dtype=jnp.dtype(config.model.compute_dtype),
  )


def make_optimizer(config: ml_collections.ConfigDict, total_steps: int) -> optax.GradientTransformation:
  """Adam with a constant or cosine-decayed learning rate (the same object for the same
  settings, so that a later run in this process reuses the compiled train step)."""
  schedule = config.train.lr_schedule
  return _adam(schedule, config.train.learning_rate, max(total_steps, 1) if schedule == "cosine" else 0)


@functools.lru_cache(maxsize=8)
def _adam(schedule: str, learning_rate: float, total_steps: int) -> optax.GradientTransformation:
  """total_steps: the cosine decay's length (0 for a constant rate, which does not use it)."""
  if schedule == "constant":
    return optax.adam(learning_rate)
  if schedule == "cosine":
    return optax.adam(optax.cosine_decay_schedule(learning_rate, total_steps))
  raise InputError(f"unknown train.lr_schedule {schedule!r}; use constant | cosine")


def loss_config(config: ml_collections.ConfigDict) -> LossConfig:
  """The loss settings of config.train (hashable: a static argument of the jitted step)."""
  t = config.train
  return LossConfig(
    temperature=t.temperature,
    momentum=t.momentum,
    nca_weight=t.nca_weight,
    contrastive_output=t.contrastive_output,
    nca_alpha=tuple(sorted(t.nca_alpha.to_dict().items())),
    nca_beta=t.nca_beta,
    nca_margin=t.nca_margin,
  )


def init_state(
  config: ml_collections.ConfigDict, model, tx, inputs: tuple[GraphInputs, GraphInputs]
) -> TrainState:
  """Random init; queues [2, Q, E] filled with momentum encodings of random entities."""
  init_rng, state_rng = jax.random.split(jax.random.PRNGKey(config.seed))
  sample = inputs[0].gather(np.arange(min(2, inputs[0].num_entities)))
  params = model.init({"params": init_rng}, sample, deterministic=True)
  queue_len = config.train.queue_batches * config.train.batch_size
  queues = []
  for kg_index, graph in enumerate(inputs):
    ids = rng_streams.queue_init(config.seed, kg_index).choice(
      graph.num_entities, queue_len, replace=queue_len > graph.num_entities
    )
    queues.append(apply_inference(model, params, graph.gather(ids))[config.train.contrastive_output])
  return create_state(params, tx, jnp.stack(queues), state_rng)


def abstract_state(config: ml_collections.ConfigDict, model, tx, inputs) -> TrainState:
  """init_state's shapes and dtypes (jax.ShapeDtypeStruct leaves), computed without running it."""
  return jax.eval_shape(lambda: init_state(config, model, tx, inputs))


def restore_template(config: ml_collections.ConfigDict, model, tx, inputs, mesh) -> dict:
  """The arrays of a checkpoint, {'state', 'best_params'}, as ShapeDtypeStructs replicated
  over `mesh`: what a checkpoint is restored into (nothing is initialised or encoded)."""
  abstract = abstract_state(config, model, tx, inputs)
  return {
    "state": sharding.with_sharding(abstract, mesh),
    "best_params": sharding.with_sharding(abstract.params, mesh),
  }
