"""One self-training round's fine-tuned e5 view: the JAX e5 encoder fine-tuned on the round's
pseudo-seeds (train/name_finetune.py), then every name of both KGs encoded with it. The frozen
layers below the ones that train run once per name, for the fine-tuning and the encoding, and
their output is cached with the name vectors (features/names.cached_layer_inputs).

Everything lives in `<round workdir>/name_finetune/`: the fingerprint (the seeds and the
settings; another one is refused), the orbax checkpoints (resumed), and the encoded view
(view_kg1.npy, view_kg2.npy), which eval and export read back instead of training.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time

import ml_collections
import numpy as np

from selfmea_jax import files, run_config
from selfmea_jax.data.kg import AlignmentTask
from selfmea_jax.errors import InputError
from selfmea_jax.features import bert_encoder
from selfmea_jax.features.names import cached_layer_inputs, weights_dir
from selfmea_jax.train import name_finetune, pseudo_seeds


def settings(config: ml_collections.ConfigDict) -> name_finetune.Settings:
  """The fine-tuning settings: the keys of align.finetune that Settings has, and the seed."""
  cfg = config.align.finetune
  names = [f.name for f in dataclasses.fields(name_finetune.Settings) if f.name in cfg]
  return name_finetune.Settings(**{name: cfg[name] for name in names}, seed=config.seed)


def _view_paths(workdir: str) -> tuple[str, str]:
  return tuple(os.path.join(workdir, f"view_kg{k}.npy") for k in (1, 2))


def finetuned_view(
  config: ml_collections.ConfigDict, task: AlignmentTask, seeds: np.ndarray, workdir: str, mode: str
) -> tuple[tuple[np.ndarray, np.ndarray], dict]:
  """(([n1, 384], [n2, 384]) unit rows, info) of the encoder fine-tuned on seeds [p, 2]."""
  paths = _view_paths(workdir)
  chosen = settings(config)
  if mode == "train":
    run_config.check_or_save_json(
      os.path.join(workdir, "fingerprint.json"),
      {
        "seeds_sha256": pseudo_seeds.seeds_digest(seeds),
        "settings": json.loads(json.dumps(chosen.__dict__)),
        "source": config.align.finetune.source,
      },
      "this name fine-tuning was started from other pseudo-seeds or other settings",
    )
  if all(os.path.exists(p) for p in paths):  # encoded already: eval, export, or a rerun
    return tuple(np.load(p) for p in paths), {}
  if mode != "train":
    raise InputError("no fine-tuned name view: run --mode=train first", workdir)
  encoder = bert_encoder.e5_jax_encoder(weights_dir(config))
  started = time.time()
  first = name_finetune.trained_from(encoder, chosen)
  inputs = cached_layer_inputs(
    task, config.data.cache_dir, encoder, "e5jax", config.align.finetune.source, first
  )
  info = {"frozen_layers_s": time.time() - started}
  started = time.time()
  tuned, trained = name_finetune.finetune(encoder, *inputs, seeds, chosen, workdir)
  info |= trained
  info["train_s"], started = time.time() - started, time.time()
  view = tuple(tuned.encode(x) for x in inputs)
  info["encode_s"] = time.time() - started
  for path, matrix in zip(paths, view):
    files.write_atomically(path, lambda f, m=matrix: np.save(f, m), binary=True)
  return view, info
