"""Orbax checkpoints: the train-state pytree, best parameters and host-side state together."""

from __future__ import annotations

import os

import orbax.checkpoint as ocp


def manager(workdir: str, keep: int = 2) -> ocp.CheckpointManager:
  options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
  return ocp.CheckpointManager(os.path.abspath(os.path.join(workdir, "checkpoints")), options=options)


def save(mngr: ocp.CheckpointManager, step: int, arrays, meta: dict) -> None:
  """arrays: pytree of arrays (state, best params, seeds); meta: JSON-able dict."""
  mngr.save(step, args=ocp.args.Composite(arrays=ocp.args.StandardSave(arrays),
                                          meta=ocp.args.JsonSave(meta)), force=True)
  mngr.wait_until_finished()


def restore(mngr: ocp.CheckpointManager, template, step: int | None = None):
  """Returns (step, arrays, meta) of `step` (default latest), or None when there is none.

  template: a pytree of the same structure (shapes may differ for host arrays).
  """
  step = mngr.latest_step() if step is None else step
  if step is None:
    return None
  restored = mngr.restore(step, args=ocp.args.Composite(
      arrays=ocp.args.StandardRestore(template), meta=ocp.args.JsonRestore()))
  return step, restored["arrays"], restored["meta"]
