"""The host-side state of a training run, saved with every checkpoint next to the train
state: pseudo-seeds, their confirmation streaks, the selected (best) parameters and the
evaluation history. Functions return a new RunState; nothing is mutated in place."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np


def to_host(tree):
  return jax.tree.map(np.asarray, tree)


@dataclasses.dataclass(frozen=True)
class RunState:
  """seeds: [p, 2] int32 pseudo-seed pairs (local ids).  streaks: [s, 3] int32 (kg1, kg2,
  consecutive mutual checks) of candidate pairs.  best_params: host pytree of the selected
  parameters; best_valid / best_epoch / best_results: their validation score, epoch and
  report.  history: one report per evaluation.  names_only / untrained: baseline reports.
  best_embeddings: ([n1, E], [n2, E]) of best_params when computed in this process (not
  checkpointed; None after a resume)."""

  seeds: np.ndarray
  streaks: np.ndarray
  best_params: Any
  best_valid: float = -1.0
  best_epoch: int = 0
  best_results: dict = dataclasses.field(default_factory=dict)
  history: tuple[dict, ...] = ()
  names_only: dict = dataclasses.field(default_factory=dict)
  untrained: dict = dataclasses.field(default_factory=dict)
  best_embeddings: tuple[np.ndarray, np.ndarray] | None = None

  def checkpoint_items(self) -> tuple[Any, dict]:
    """(best_params, JSON-able meta): what a checkpoint stores besides the train state."""
    meta = {
      "seeds": self.seeds.tolist(),
      "streaks": self.streaks.tolist(),
      "best_valid": self.best_valid,
      "best_epoch": self.best_epoch,
      "best_results": self.best_results,
      "history": list(self.history),
      "names_only": self.names_only,
      "untrained": self.untrained,
    }
    return self.best_params, meta

  def evaluated(self, epoch: int) -> bool:
    """Whether the end of `epoch` has been evaluated (epoch 0 = the untrained model)."""
    return any(r.get("epoch") == epoch and "step" in r for r in self.history)


def from_checkpoint(best_params, meta: dict) -> RunState:
  return RunState(
    seeds=np.asarray(meta["seeds"], np.int32).reshape(-1, 2),
    streaks=np.asarray(meta["streaks"], np.int32).reshape(-1, 3),
    best_params=to_host(best_params),
    best_valid=meta["best_valid"],
    best_epoch=meta["best_epoch"],
    best_results=meta["best_results"],
    history=tuple(meta["history"]),
    names_only=meta.get("names_only", {}),
    untrained=meta.get("untrained", {}),
  )


def record_evaluation(
  run: RunState, results: dict, valid_key: str, epoch: int, params, embeddings, select_best: bool = True
) -> RunState:
  """Appends `results` to the history and keeps `params` (with their embeddings) as the best
  when their validation score is higher, when there is no validation, or when selection is
  off (the last epoch is then reported)."""
  run = dataclasses.replace(run, history=run.history + (results,))
  if valid_key in results and results[valid_key] <= run.best_valid and select_best:
    return run
  return dataclasses.replace(
    run,
    best_valid=results.get(valid_key, -1.0),
    best_epoch=epoch,
    best_results=results,
    best_params=to_host(params),
    best_embeddings=embeddings,
  )
