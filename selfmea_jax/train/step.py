"""The jitted training step: queue contrastive loss on both KGs (+ NCA on pseudo-seeds)."""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from selfmea_jax.models.fusion import GRAPH
from selfmea_jax.train import losses
from selfmea_jax.train.state import TrainState, ema, enqueue


@dataclasses.dataclass(frozen=True)
class LossConfig:
  """The loss settings (built from config.train by train/build.loss_config)."""

  temperature: float = 0.08
  momentum: float = 0.9999
  contrastive_weight: float = 1.0
  contrastive_output: str = "graph"  # encoder output the queue contrastive loss trains: graph | joint
  nca_weight: float = 0.0  # 0 disables the pseudo-seed NCA terms
  nca_alpha: tuple[tuple[str, float], ...] = (  # (encoder output, NCA negative scale) pairs
    (GRAPH, 5.0),
    ("relation", 15.0),
    ("attribute", 15.0),
    ("image", 15.0),
    ("joint", 15.0),
  )
  nca_beta: float = 10.0
  nca_margin: float = 0.5


def _nca_terms(outputs_left, outputs_right, weights, cfg: LossConfig):
  """Per-modality NCA on seed pairs plus the joint one (SelfMEA eq. 7). Returns dict."""
  alpha = dict(cfg.nca_alpha)
  return {
    f"nca/{m}": losses.nca_loss(
      outputs_left[m], outputs_right[m], weights, alpha[m], cfg.nca_beta, cfg.nca_margin
    )
    for m in outputs_left
  }


def loss_and_keys(params, momentum_params, queues, batch, rng, model: nn.Module, cfg: LossConfig):
  """Returns (loss, (metrics, keys [2, B, E])).
  batch: {'kg1', 'kg2'[, 'seeds_left', 'seeds_right', 'seed_weights']}."""
  metrics, keys, total = {}, [], 0.0
  rngs = jax.random.split(rng, 3)
  for kg_index, name in enumerate(("kg1", "kg2")):
    out = cfg.contrastive_output
    k = jax.lax.stop_gradient(model.apply(momentum_params, batch[name], deterministic=True)[out])
    q = model.apply(params, batch[name], deterministic=False, rngs={"dropout": rngs[kg_index]})[out]
    loss = losses.queue_infonce(q, k, queues[kg_index], cfg.temperature)
    metrics[f"contrastive/{name}"] = loss
    total = total + cfg.contrastive_weight * loss
    keys.append(k)
  if "seed_weights" in batch:
    left = model.apply(params, batch["seeds_left"], deterministic=False, rngs={"dropout": rngs[2]})
    right = model.apply(
      params, batch["seeds_right"], deterministic=False, rngs={"dropout": jax.random.fold_in(rngs[2], 1)}
    )
    nca = _nca_terms(left, right, batch["seed_weights"], cfg)
    metrics.update(nca)
    total = total + cfg.nca_weight * sum(nca.values())
  metrics["loss"] = total
  return total, (metrics, jnp.stack(keys))


def train_step(
  state: TrainState,
  batch: Mapping[str, Any],
  model: nn.Module,
  tx: optax.GradientTransformation,
  cfg: LossConfig,
):
  """One optimisation step. Pure: (state, batch) -> (state, metrics)."""
  rng, step_rng = jax.random.split(state.rng)
  grad_fn = jax.value_and_grad(loss_and_keys, has_aux=True)
  (_, (metrics, keys)), grads = grad_fn(
    state.params, state.momentum_params, state.queues, batch, step_rng, model, cfg
  )
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  queue1, pos1 = enqueue(state.queues[0], state.queue_pos[0], keys[0])
  queue2, pos2 = enqueue(state.queues[1], state.queue_pos[1], keys[1])
  metrics["grad_norm"] = optax.tree.norm(grads)
  new_state = state.replace(
    step=state.step + 1,
    params=params,
    momentum_params=ema(state.momentum_params, params, cfg.momentum),
    opt_state=opt_state,
    queues=jnp.stack([queue1, queue2]),
    queue_pos=jnp.stack([pos1, pos2]),
    rng=rng,
  )
  return new_state, metrics
