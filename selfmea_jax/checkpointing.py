"""Orbax checkpoints: the train-state pytree, best parameters and host-side state together."""

from __future__ import annotations

import os

from absl import logging
import orbax.checkpoint as ocp

from selfmea_jax.errors import InputError


def manager(workdir: str, keep: int = 2) -> ocp.CheckpointManager:
  options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
  return ocp.CheckpointManager(os.path.abspath(os.path.join(workdir, "checkpoints")), options=options)


def save(mngr: ocp.CheckpointManager, step: int, arrays, meta: dict) -> None:
  """arrays: pytree of arrays (state, best params); meta: JSON-able dict. Returns once the
  arrays are copied off the devices; orbax writes the files in the background (call
  mngr.wait_until_finished() before reading them). A checkpoint already at `step` (an
  unreadable one that a resume skipped) is replaced."""
  if step in mngr.all_steps():
    mngr.wait_until_finished()
    mngr.delete(step)
  mngr.save(
    step,
    args=ocp.args.Composite(arrays=ocp.args.StandardSave(arrays), meta=ocp.args.JsonSave(meta)),
    force=True,
  )


def restore(mngr: ocp.CheckpointManager, template, step: int | None = None):
  """Returns (step, arrays, meta) of `step`, or of the newest readable checkpoint when step is
  None (a corrupted or partial newer one is skipped with a warning); None when there is none.

  template: a pytree of the same structure (shapes may differ for host arrays).
  """
  candidates = sorted(mngr.all_steps(), reverse=True) if step is None else [step]
  for index, candidate in enumerate(candidates):
    try:
      restored = mngr.restore(
        candidate,
        args=ocp.args.Composite(arrays=ocp.args.StandardRestore(template), meta=ocp.args.JsonRestore()),
      )
    except Exception as e:  # pylint: disable=broad-except  (orbax raises many kinds)
      if step is not None or index == len(candidates) - 1:
        raise InputError(
          f"checkpoint step {candidate} cannot be read ({type(e).__name__}: "
          f"{str(e).splitlines()[0][:160] if str(e) else ''}); rerun with --fresh "
          "to start over",
          mngr.directory,
        ) from None
      logging.warning(
        "checkpoint step %d cannot be read (%s); falling back to step %d",
        candidate,
        type(e).__name__,
        candidates[index + 1],
      )
      continue
    return candidate, restored["arrays"], restored["meta"]
  return None
