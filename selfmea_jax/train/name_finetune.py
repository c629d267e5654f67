"""Fine-tuning the JAX e5 name encoder on pseudo-seed pairs (issue 17).

A contrastive step as in SelfKG: each KG1 name of a batch of pairs must be nearest its KG2
partner among the batch's partners and a FIFO queue of earlier batches' partners (stop
gradient), and the other way round within the batch (InfoNCE at `temperature`). The word
embeddings (96M of e5-small's 118M parameters) stay frozen, and with train_layers = k only
the top k encoder layers train (AdamW): the frozen layers below need no backward pass. The
frozen layers run once per name before the first step (bert_encoder.LayerInputs); each step
runs only the layers that train. One compiled shape: batches of `batch_size` pairs padded or
cut to `max_length` positions.

Checkpointed with orbax every `checkpoint_every` steps and resumable; Ctrl-C saves the last
completed step (interrupts.py).
"""

from __future__ import annotations

import dataclasses
import functools
import math

from absl import logging
import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from selfmea_jax import checkpointing, interrupts, rng_streams
from selfmea_jax.features import bert_encoder
from selfmea_jax.features.text_encoders import l2_normalise

FROZEN = ("embeddings/word_embeddings",)


@dataclasses.dataclass(frozen=True)
class Settings:
  """The defaults are configs/default.py's align.finetune (chosen on ja_en's validation pool)."""

  steps: int = 300
  max_epochs: float = 2.0  # fewer steps when the pseudo-seeds are few: at most this many passes
  batch_size: int = 64
  learning_rate: float = 1e-4
  temperature: float = 0.05
  queue_batches: int = 4
  max_length: int = 24
  train_layers: int = 4  # the top layers that train (0: all; the embeddings then too, but words)
  checkpoint_every: int = 50
  seed: int = 0


def planned_steps(settings: Settings, num_pairs: int) -> int:
  """settings.steps, capped at max_epochs passes over num_pairs pairs (at least one step)."""
  return max(1, min(settings.steps, math.ceil(settings.max_epochs * num_pairs / settings.batch_size)))


def frozen_prefixes(num_layers: int, train_layers: int) -> tuple[str, ...]:
  """The parameter paths that stay fixed: the word embeddings, and with train_layers = k > 0
  every embedding and the bottom num_layers - k encoder layers."""
  first = bert_encoder.first_trained_layer(num_layers, train_layers)
  if first == 0:
    return FROZEN
  return ("embeddings/",) + tuple(f"encoder/layer/{i}/" for i in range(first))


def trained_from(encoder: bert_encoder.BertEncoder, settings: Settings) -> int:
  """The encoder's lowest layer that trains under these settings."""
  return encoder.first_trained_layer(settings.train_layers)


def layer_inputs(
  encoder: bert_encoder.BertEncoder, names: list[str], settings: Settings
) -> bert_encoder.LayerInputs:
  """The names' inputs to the layers that train (the frozen layers below run once, here)."""
  return encoder.inputs(names, trained_from(encoder, settings))


def split(params: dict, frozen: tuple[str, ...] = FROZEN) -> tuple[dict, dict]:
  """(trainable, frozen) flat {path: array} dicts of a params tree."""
  flat = flax.traverse_util.flatten_dict(params, sep="/")
  fixed = {k: v for k, v in flat.items() if k.startswith(frozen)}
  return {k: v for k, v in flat.items() if k not in fixed}, fixed


def merged(trainable: dict, fixed: dict) -> dict:
  return flax.traverse_util.unflatten_dict({**trainable, **fixed}, sep="/")


def info_nce(left: jnp.ndarray, right: jnp.ndarray, queue: jnp.ndarray, temperature: float) -> jnp.ndarray:
  """Symmetric InfoNCE of unit rows left [b, H] and right [b, H] (row i's positive is row i):
  left against right + queue [q, H], right against left."""
  labels = jnp.arange(left.shape[0])
  forward = jnp.concatenate([left @ right.T, left @ queue.T], axis=1) / temperature
  backward = (right @ left.T) / temperature
  return 0.5 * (
    optax.softmax_cross_entropy_with_integer_labels(forward, labels).mean()
    + optax.softmax_cross_entropy_with_integer_labels(backward, labels).mean()
  )


def make_step(module, optimizer, temperature: float, pooling: str = "mean", first_layer: int = 0):
  """The jitted step on batches {'x1', 'mask1', 'x2', 'mask2'} of layer first_layer's inputs
  (bert_encoder.LayerInputs.rows)."""

  def loss_fn(trainable, fixed, batch, queue):
    params = merged(trainable, fixed)
    left = bert_encoder.upper_pooled(module, params, batch["x1"], batch["mask1"], first_layer, pooling)
    right = bert_encoder.upper_pooled(module, params, batch["x2"], batch["mask2"], first_layer, pooling)
    return info_nce(left, right, queue, temperature), right

  @functools.partial(jax.jit, donate_argnums=(0,))
  def step(state, fixed, batch):
    (loss, right), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      state["trainable"], fixed, batch, state["queue"]
    )
    updates, opt_state = optimizer.update(grads, state["opt_state"], state["trainable"])
    queue = jnp.concatenate([jax.lax.stop_gradient(right), state["queue"]])[: state["queue"].shape[0]]
    return {
      "trainable": optax.apply_updates(state["trainable"], updates),
      "opt_state": opt_state,
      "queue": queue,
    }, loss

  return step


def initial_state(
  encoder: bert_encoder.BertEncoder, settings: Settings
) -> tuple[dict, dict, optax.GradientTransformation]:
  """(state {'trainable', 'opt_state', 'queue' [queue_batches * batch_size, hidden]}, the
  frozen params, the AdamW optimizer) before the first step: float32 copies of the
  encoder's params (the state is donated to each step; the encoder keeps its own)."""
  trainable, fixed = split(
    jax.tree_util.tree_map(lambda a: jnp.array(a, jnp.float32, copy=True), encoder.params),
    frozen_prefixes(encoder.module.config.num_hidden_layers, settings.train_layers),
  )
  optimizer = optax.adamw(settings.learning_rate)
  hidden = encoder.module.config.hidden_size
  queue = jnp.asarray(_random_unit(settings.seed, settings.queue_batches * settings.batch_size, hidden))
  return {"trainable": trainable, "opt_state": optimizer.init(trainable), "queue": queue}, fixed, optimizer


def finetune(
  encoder: bert_encoder.BertEncoder,
  inputs1: bert_encoder.LayerInputs,
  inputs2: bert_encoder.LayerInputs,
  pairs: np.ndarray,
  settings: Settings,
  workdir: str,
) -> tuple[bert_encoder.BertEncoder, dict]:
  """(the encoder with fine-tuned params, {'loss_first', 'loss_last', 'steps'}). inputs1/2:
  `layer_inputs` of KG1's and KG2's names; pairs [p, 2]: (KG1 index, KG2 index) into them.
  Resumes from workdir's checkpoints."""
  first = trained_from(encoder, settings)
  if inputs1.first_layer != first or inputs2.first_layer != first:
    raise ValueError(f"the inputs enter layer {inputs1.first_layer}, but layer {first} is the first to train")
  state, fixed, optimizer = initial_state(encoder, settings)
  mngr = checkpointing.manager(workdir, keep=1)
  restored = checkpointing.restore(mngr, _saved(state)) if mngr.all_steps() else None
  start, losses, steps = 0, [], planned_steps(settings, len(pairs))
  if restored is not None:
    start, saved, meta = restored
    state = {**state, **saved}
    losses = meta["losses"]
    logging.info("name fine-tuning: resuming at step %d of %d", start, steps)
  step_fn = make_step(encoder.module, optimizer, settings.temperature, encoder.pooling, first)
  try:
    with interrupts.deferred():
      for step in tqdm(range(start, steps), desc="fine-tuning e5", initial=start, total=steps):
        rows = rng_streams.name_finetune(settings.seed, step).choice(
          len(pairs), settings.batch_size, replace=len(pairs) < settings.batch_size
        )
        (x1, mask1), (x2, mask2) = (
          inputs.rows(pairs[rows, side], settings.max_length)
          for side, inputs in enumerate((inputs1, inputs2))
        )
        batch = {"x1": x1, "mask1": mask1, "x2": x2, "mask2": mask2}
        interrupts.check()
        with interrupts.shield():
          state, loss = step_fn(state, fixed, batch)
        losses.append(float(loss))
        if (step + 1) % settings.checkpoint_every == 0 or step + 1 == steps:
          with interrupts.shield():
            checkpointing.save(mngr, step + 1, _saved(state), {"losses": losses})
  except KeyboardInterrupt:
    with interrupts.shield():
      checkpointing.save(mngr, len(losses), _saved(state), {"losses": losses})
      mngr.wait_until_finished()
    raise KeyboardInterrupt(
      f"name fine-tuning saved at step {len(losses)} in {workdir}; rerun to resume"
    ) from None
  finally:
    mngr.wait_until_finished()
    mngr.close()
  params = merged(state["trainable"], fixed)
  dtype = jax.tree_util.tree_leaves(encoder.params)[0].dtype
  tuned = dataclasses.replace(encoder, params=jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype), params))
  return tuned, {
    "steps": len(losses),
    "loss_first": losses[0] if losses else None,
    "loss_last": losses[-1] if losses else None,
  }


def _saved(state: dict) -> dict:
  """The state as checkpointed: an empty queue (queue_batches 0) is left out (orbax cannot
  write zero-size arrays)."""
  return state if state["queue"].size else {k: v for k, v in state.items() if k != "queue"}


def _random_unit(seed: int, rows: int, dim: int) -> np.ndarray:
  return l2_normalise(rng_streams.name_finetune_queue(seed).normal(size=(rows, dim)).astype(np.float32))
