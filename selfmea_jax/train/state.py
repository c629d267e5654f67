"""The whole training state as one explicit pytree (what a checkpoint holds)."""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax


@flax.struct.dataclass
class TrainState:
  """step: scalar int32.  params / momentum_params: online and EMA encoder parameters.
  opt_state: optimiser state.  queues: [2, Q, E] momentum keys of KG1 and KG2 (self-negatives).
  queue_pos: [2] int32 next write row.  rng: PRNG key (dropout).
  """

  step: jax.Array
  params: Any
  momentum_params: Any
  opt_state: Any
  queues: jax.Array
  queue_pos: jax.Array
  rng: jax.Array


def create_state(
  params, tx: optax.GradientTransformation, initial_queues: jax.Array, rng: jax.Array
) -> TrainState:
  """initial_queues: [2, Q, E] momentum encodings of random entities of each KG."""
  return TrainState(
    step=jnp.zeros((), jnp.int32),
    params=params,
    momentum_params=jax.tree.map(jnp.copy, params),
    opt_state=tx.init(params),
    queues=initial_queues,
    queue_pos=jnp.zeros(2, jnp.int32),
    rng=rng,
  )


def ema(momentum_params, params, momentum: float):
  """momentum_params <- m * momentum_params + (1 - m) * params."""
  return optax.incremental_update(params, momentum_params, step_size=1.0 - momentum)


def enqueue(queue: jax.Array, position: jax.Array, keys: jax.Array):
  """Ring-buffer write of keys [B, E] into queue [Q, E] at position (Q a multiple of B)."""
  queue = jax.lax.dynamic_update_slice(queue, keys.astype(queue.dtype), (position, 0))
  return queue, (position + keys.shape[0]) % queue.shape[0]
