"""The training loop: batches, evaluation, model selection, pseudo-seeds, checkpoints."""

from __future__ import annotations

import copy
import functools
import json
import os
import time

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from selfmea_jax import checkpointing, pipeline, plots
from selfmea_jax.data.inputs import GraphInputs
from selfmea_jax.errors import InputError
from selfmea_jax.evaluation import metrics as eval_metrics
from selfmea_jax.models.fusion import EntityEncoder, modality_weights
from selfmea_jax.train import pseudo_seeds, sharding
from selfmea_jax.train.state import TrainState, create_state
from selfmea_jax.train.step import LossConfig, make_train_step


# Model selection: MRR of validation sources ranked among all KG2 entities (finer than H@1).
VALID_KEY = "valid/all/mrr"


def make_model(config, modalities: tuple[str, ...]) -> EntityEncoder:
  return EntityEncoder(side_modalities=modalities, projection_dim=config.model.projection_dim,
                       dropout_rate=config.model.dropout, identity_init=config.model.identity_init,
                       neighbour_scale=config.model.neighbour_scale)


def make_optimizer(config, total_steps: int) -> optax.GradientTransformation:
  """Adam with a constant or cosine-decayed learning rate."""
  if config.train.lr_schedule == "constant":
    return optax.adam(config.train.learning_rate)
  if config.train.lr_schedule == "cosine":
    return optax.adam(optax.cosine_decay_schedule(config.train.learning_rate, max(total_steps, 1)))
  raise InputError(f"unknown train.lr_schedule {config.train.lr_schedule!r}; use constant | cosine")


def loss_config(config) -> LossConfig:
  return LossConfig(temperature=config.train.temperature, momentum=config.train.momentum,
                    nca_weight=config.train.nca_weight,
                    contrastive_output=config.train.contrastive_output)


def steps_per_epoch(config, inputs: tuple[GraphInputs, GraphInputs]) -> int:
  n = max(g.num_entities for g in inputs)
  return -(-n // config.train.batch_size)


@functools.lru_cache(maxsize=4)
def _epoch_permutation(seed: int, epoch: int, side: int, num_entities: int) -> np.ndarray:
  perm = np.random.default_rng([seed, epoch, side]).permutation(num_entities)
  perm.flags.writeable = False
  return perm


def batch_ids(seed: int, step: int, side: int, num_entities: int, batch_size: int,
              per_epoch: int) -> np.ndarray:
  """Entity ids of one KG for `step`: a fresh seeded permutation each epoch, cycled."""
  epoch, index = divmod(step, per_epoch)
  perm = _epoch_permutation(seed, epoch, side, num_entities)
  positions = (index * batch_size + np.arange(batch_size)) % num_entities
  return perm[positions]


def make_batch(config, inputs, step: int, per_epoch: int, seeds: np.ndarray) -> dict:
  """Host-side batch for one step: both KGs, plus pseudo-seed pairs when NCA is on."""
  batch = {}
  for side, name in enumerate(("kg1", "kg2")):
    ids = batch_ids(config.seed, step, side, inputs[side].num_entities, config.train.batch_size,
                    per_epoch)
    batch[name] = inputs[side].gather(ids)
  if config.train.nca_weight > 0:
    rng = np.random.default_rng([config.seed, step, 7])
    rows, weights = pseudo_seeds.sample_seed_batch(seeds, config.train.seed_batch_size, rng)
    pairs = seeds[rows] if len(seeds) else np.zeros((len(rows), 2), np.int64)
    batch["seeds_left"] = inputs[0].gather(pairs[:, 0])
    batch["seeds_right"] = inputs[1].gather(pairs[:, 1])
    batch["seed_weights"] = weights
  return batch


def encode_all(model, params, graph: GraphInputs, batch: int = 2048, output: str = "joint") -> np.ndarray:
  """[n, E] embeddings of every entity of one KG (inference mode)."""
  apply = _jitted_apply(model)
  chunks = []
  for start in range(0, graph.num_entities, batch):
    ids = np.arange(start, min(start + batch, graph.num_entities))
    pad = batch - len(ids)  # keep one compiled shape
    out = apply(params, graph.gather(np.concatenate([ids, np.repeat(ids[-1:], pad)])))[output]
    chunks.append(np.asarray(out)[:len(ids)])
  return np.concatenate(chunks)


def encode_pair(config, model, params, inputs) -> tuple[np.ndarray, np.ndarray]:
  """([n1, E], [n2, E]) joint embeddings of both KGs."""
  return tuple(encode_all(model, params, graph, config.eval.encode_batch) for graph in inputs)


_APPLY_CACHE = {}


def _jitted_apply(model):
  if model not in _APPLY_CACHE:
    _APPLY_CACHE[model] = jax.jit(lambda p, b: model.apply(p, b, deterministic=True))
  return _APPLY_CACHE[model]


def init_state(config, model, tx, inputs) -> TrainState:
  """Random init + queues filled with momentum encodings of random entities."""
  rng = jax.random.PRNGKey(config.seed)
  init_rng, state_rng = jax.random.split(rng)
  sample = inputs[0].gather(np.arange(min(2, inputs[0].num_entities)))
  params = model.init({"params": init_rng}, sample, deterministic=True)
  queue_len = config.train.queue_batches * config.train.batch_size
  queues = []
  for side, graph in enumerate(inputs):
    ids = np.random.default_rng([config.seed, 99, side]).choice(graph.num_entities, queue_len,
                                                                  replace=queue_len > graph.num_entities)
    queues.append(_jitted_apply(model)(params, graph.gather(ids))[config.train.contrastive_output])
  return create_state(params, tx, jnp.stack(queues), state_rng)


def validation_links(config, task) -> np.ndarray:
  links = task.valid_links
  size = min(config.eval.valid_size, len(links))
  return links[np.random.default_rng([config.seed, 5]).choice(len(links), size, replace=False)]


def evaluate_params(config, model, params, task, inputs) -> tuple[dict, tuple[np.ndarray, np.ndarray]]:
  """Validation H@1 (selection only) and the test report under both conventions."""
  emb1, emb2 = encode_pair(config, model, params, inputs)
  kwargs = dict(scoring=config.eval.scoring, backend=config.eval.backend, csls_k=config.eval.csls_k)
  valid = validation_links(config, task)
  results = {}
  if len(valid):  # a KG pair without gold links is trained and exported, never evaluated
    results.update(eval_metrics.report(emb1, emb2, valid, conventions=("all",), prefix="valid/",
                                       scoring="cosine", backend=config.eval.backend))
  if len(task.test_links):
    results.update(eval_metrics.report(emb1, emb2, task.test_links, **kwargs))
  return results, (emb1, emb2)


def names_only_report(config, task, inputs) -> dict:
  if not len(task.test_links):
    return {}
  kwargs = dict(scoring=config.eval.scoring, backend=config.eval.backend, csls_k=config.eval.csls_k)
  return eval_metrics.report(inputs[0].name_matrix(), inputs[1].name_matrix(),
                             task.test_links, **kwargs)


def to_host(tree):
  return jax.tree.map(np.asarray, tree)


def _log_line(workdir: str, record: dict) -> None:
  with open(os.path.join(workdir, "metrics.jsonl"), "a", encoding="utf-8") as f:
    f.write(json.dumps(record) + "\n")


def _format(results: dict) -> str:
  return " ".join(f"{k}={v:.4f}" for k, v in sorted(results.items()) if "/" in k and not k.startswith("valid/"))


def initial_seeds(config, task, inputs, model, params, given: np.ndarray | None = None) -> np.ndarray:
  """Label-free starting pseudo-seeds: mutual NNs of the names or of the untrained encoder,
  or `given` pairs (e.g. the aligner's decoded alignment)."""
  source = config.train.initial_seeds
  if config.train.nca_weight <= 0 or not source:
    return np.zeros((0, 2), np.int32)
  if given is not None:
    seeds, source = np.asarray(given, np.int32).reshape(-1, 2), "the given alignment"
  elif source == "names":
    emb1, emb2 = inputs[0].name_matrix(), inputs[1].name_matrix()
  elif source == "encoder":
    emb1, emb2 = encode_pair(config, model, params, inputs)
  else:
    raise InputError(f"unknown train.initial_seeds {source!r}; choose '', 'names' or 'encoder'")
  if given is None:
    seeds = pseudo_seeds.mutual_nearest_neighbours(emb1, emb2, config.train.seed_keep_fraction)
  known = pseudo_seeds.gold_precision(seeds, task)
  logging.info("initial pseudo-seeds from %s: %d (precision %s, reporting only)", source,
               len(seeds), "unknown" if known is None else f"{known:.3f}")
  return seeds


def _mesh(config):
  """The data-parallel mesh over all local devices, or None on one device / when disabled."""
  if not config.train.data_parallel or jax.local_device_count() == 1:
    return None
  mesh = sharding.data_mesh()
  sharding.check_divisible(config.train.batch_size, mesh)
  if config.train.nca_weight > 0:
    sharding.check_divisible(config.train.seed_batch_size, mesh, "train.seed_batch_size")
  return mesh


def make_step_fn(config, model, tx):
  mesh = _mesh(config)
  if mesh is None:
    return make_train_step(model, tx, loss_config(config))
  logging.info("data parallel over %d devices", mesh.size)
  return sharding.make_sharded_train_step(model, tx, loss_config(config), mesh)


def place_state(config, state):
  mesh = _mesh(config)
  return state if mesh is None else sharding.replicate(state, mesh)


def _end_of_epoch(config, model, task, inputs, state, modalities, epoch, done, seeds, streaks,
                  meta, arrays, workdir):
  """Evaluates, grows the pseudo-seeds (iterative learning) and keeps the best parameters."""
  results, (emb1, emb2) = evaluate_params(config, model, state.params, task, inputs)
  results["epoch"], results["step"] = epoch, done
  results.update({f"fusion/{m}": w for m, w in modality_weights(state.params, modalities).items()})
  if config.train.iterative and config.train.nca_weight > 0 and epoch % config.train.iterate_every_epochs == 0:
    proposals = pseudo_seeds.mutual_nearest_neighbours(emb1, emb2, config.train.seed_keep_fraction)
    streaks, confirmed = pseudo_seeds.confirm(streaks, proposals, config.train.iterate_window)
    seeds = pseudo_seeds.merge_one_to_one(seeds, confirmed)
    results["seeds/count"] = len(seeds)
    known = pseudo_seeds.gold_precision(seeds, task)
    if known is not None:
      results["seeds/precision"] = known
  logging.info("epoch %d: valid MRR %.4f | %s", epoch, results.get(VALID_KEY, float("nan")),
               _format(results))
  meta["history"].append(results)
  _log_line(workdir, results)
  if VALID_KEY not in results or results[VALID_KEY] > meta["best_valid"] or not config.eval.select_best:
    meta["best_valid"], meta["best_epoch"], meta["best_results"] = results.get(VALID_KEY, -1.0), epoch, results
    arrays["best_params"] = to_host(state.params)
  return seeds, streaks


def _save(mngr, step, state, arrays, meta, seeds, streaks):
  meta["seeds"], meta["streaks"] = seeds.tolist(), streaks.tolist()
  arrays["state"] = state
  checkpointing.save(mngr, step, arrays, meta)


def _save_on_interrupt(mngr, state, arrays, meta, seeds, streaks, saved_step) -> int:
  """Checkpoints the last completed step with `meta` / `seeds` / `streaks` as they were after
  it (the caller passes the pre-evaluation snapshot when an epoch-end evaluation was cut
  short; the resumed run redoes it). A step in flight may have consumed (donated) the state's
  buffers: then nothing newer than saved_step can be written. Returns the resume step."""
  try:
    completed = int(jax.device_get(state.step))
  except RuntimeError:  # buffers donated to an interrupted step
    return saved_step
  if completed > saved_step:
    _save(mngr, completed, state, arrays, meta, seeds, streaks)
    mngr.wait_until_finished()
    return completed
  return saved_step


def _epoch_end_due(config, done: int, per_epoch: int) -> bool:
  return done > 0 and done % per_epoch == 0 and (done // per_epoch) % config.train.eval_every_epochs == 0


def _epoch_evaluated(meta: dict, epoch: int) -> bool:
  return any(r.get("epoch") == epoch and "step" in r for r in meta["history"])


def _truncate_log(workdir: str, step: int) -> None:
  """Drops metrics.jsonl records after `step` (written before an interruption)."""
  path = os.path.join(workdir, "metrics.jsonl")
  if os.path.exists(path):
    with open(path, encoding="utf-8") as f:
      kept = [line for line in f if line.strip() and json.loads(line).get("step", 0) <= step]
    with open(path, "w", encoding="utf-8") as f:
      f.writelines(kept)


def train_and_evaluate(config, workdir: str) -> dict:
  """Trains (resuming from workdir's latest checkpoint) and returns the final results."""
  return train(config, workdir)[0]


def train(config, workdir: str, given_seeds: np.ndarray | None = None):
  """Trains (resuming from workdir's latest checkpoint). given_seeds: [p, 2] starting
  pseudo-seeds instead of train.initial_seeds' own. Returns (results, model, best params,
  task, inputs)."""
  os.makedirs(workdir, exist_ok=True)
  task, inputs = pipeline.build(config)
  logging.info("%s", task.describe())
  modalities = pipeline.active_modalities(config, inputs)
  model = make_model(config, modalities)
  per_epoch = steps_per_epoch(config, inputs)
  total_steps = per_epoch * config.train.num_epochs
  tx = make_optimizer(config, total_steps)
  state = init_state(config, model, tx, inputs)
  arrays = {"state": state, "best_params": to_host(state.params)}
  meta = {"best_valid": -1.0, "best_epoch": 0, "best_results": {}, "history": [],
          "seeds": initial_seeds(config, task, inputs, model, state.params, given_seeds).tolist(),
          "streaks": []}
  mngr = checkpointing.manager(workdir, config.train.keep_checkpoints)
  restored = checkpointing.restore(mngr, arrays)
  if restored is not None:
    start, arrays, meta = restored
    state = arrays["state"]
    _truncate_log(workdir, start)
    logging.info("resumed from step %d", start)
  else:
    start = 0
    baseline = names_only_report(config, task, inputs)
    untrained, _ = evaluate_params(config, model, state.params, task, inputs)
    meta["names_only"], meta["untrained"] = baseline, untrained
    logging.info("names only: %s", _format(baseline))
    logging.info("untrained encoder: %s", _format(untrained))
    meta["best_valid"], meta["best_results"] = untrained.get(VALID_KEY, -1.0), untrained
    _log_line(workdir, {"step": 0, "epoch": 0, **untrained})
  seeds = np.asarray(meta["seeds"], np.int32).reshape(-1, 2)
  streaks = np.asarray(meta["streaks"], np.int32).reshape(-1, 3)
  step_fn = make_step_fn(config, model, tx)
  state = place_state(config, state)
  started = time.time()
  progress = tqdm(range(start, total_steps), initial=start, total=total_steps, desc="training",
                  unit="step", disable=None)
  saved_step = start if restored is not None else -1
  snapshot = None  # (meta, best params, seeds, streaks) before an epoch-end evaluation
  saving = False
  try:
    if _epoch_end_due(config, start, per_epoch) and not _epoch_evaluated(meta, start // per_epoch):
      snapshot = (copy.deepcopy(meta), arrays["best_params"], seeds, streaks)  # cut short before:
      seeds, streaks = _end_of_epoch(config, model, task, inputs, state, modalities,  # redo it
                                     start // per_epoch, start, seeds, streaks, meta, arrays, workdir)
      snapshot = None
    for step in progress:
      state, step_metrics = step_fn(state, make_batch(config, inputs, step, per_epoch, seeds))
      done = step + 1
      if done % config.train.log_every_steps == 0:
        scalars = {k: float(v) for k, v in step_metrics.items()}
        if not np.isfinite(scalars["loss"]):
          raise InputError(f"training diverged: the loss is {scalars['loss']} at step {done} "
                           "(try a lower train.learning_rate); the last checkpoint is kept", workdir)
        progress.set_postfix(loss=f"{scalars['loss']:.4f}")
        _log_line(workdir, {"step": done, **scalars})
      if _epoch_end_due(config, done, per_epoch):
        snapshot = (copy.deepcopy(meta), arrays["best_params"], seeds, streaks)
        seeds, streaks = _end_of_epoch(config, model, task, inputs, state, modalities, done // per_epoch,
                                       done, seeds, streaks, meta, arrays, workdir)
        snapshot = None
      if done % config.train.checkpoint_every_steps == 0 or done == total_steps:
        saving = True  # a Ctrl-C inside orbax's save must not start a second save
        _save(mngr, done, state, arrays, meta, seeds, streaks)
        saving, saved_step = False, done
  except KeyboardInterrupt:
    progress.close()
    if snapshot is not None:  # the epoch-end evaluation was cut short: save what preceded it
      meta, best, seeds, streaks = snapshot
      arrays["best_params"] = best
    if not saving:  # (an interrupted save is left to orbax: uncommitted, it is never restored)
      saved_step = _save_on_interrupt(mngr, state, arrays, meta, seeds, streaks, saved_step)
    if saved_step < 0:
      logging.warning("interrupted before the first step completed; nothing to keep")
    else:
      logging.warning("interrupted: checkpoint at step %d in %s; rerun the same command to "
                      "resume", saved_step, workdir)
    raise
  progress.close()
  if total_steps == 0 and restored is None:  # num_epochs=0: the untrained
    _save(mngr, 0, state, arrays, meta, seeds, streaks)          # model, for eval and export
    mngr.wait_until_finished()
  final = {"names_only": meta.get("names_only", {}), "untrained": meta.get("untrained", {}),
           "best_epoch": meta["best_epoch"], "best": meta["best_results"],
           "last": meta["history"][-1] if meta["history"] else {},
           "train_seconds_this_run": time.time() - started, "modalities": list(modalities)}
  with open(os.path.join(workdir, "results.json"), "w", encoding="utf-8") as f:
    json.dump(final, f, indent=1)
  plots.plot_curves(workdir)
  return final, model, arrays["best_params"], task, inputs
