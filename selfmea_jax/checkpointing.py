"""Orbax checkpoints: the train-state pytree, best parameters and host-side state together."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil

from absl import logging
import jax
import orbax.checkpoint as ocp

from selfmea_jax.errors import InputError


def manager(workdir: str, keep: int = 2) -> ocp.CheckpointManager:
  options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
  return ocp.CheckpointManager(os.path.abspath(os.path.join(workdir, "checkpoints")), options=options)


DISK_FULL_SIGNS = ("No space left on device", "os_error_code='28'")


@contextlib.contextmanager
def disk_errors(directory: str):
  """Turns orbax's wrapped write failures on a full disk (a ValueError carrying the OS error
  text) into the OSError they are, so the command line reports one line with the path."""
  try:
    yield
  except OSError:
    raise
  except Exception as e:  # pylint: disable=broad-except  (orbax wraps them in many kinds)
    if any(sign in str(e) for sign in DISK_FULL_SIGNS):
      raise OSError(errno.ENOSPC, "no space left on device", directory) from None
    raise


def require_space(directory: str, needed_bytes: int) -> None:
  """Raises the full-disk OSError before a save that cannot fit (needed_bytes plus a fifth
  and 1 MiB of slack), so that no background writer starts a doomed write."""
  required = 1.2 * needed_bytes + 2**20
  if shutil.disk_usage(directory).free < required:
    raise OSError(
      errno.ENOSPC,
      f"no space left on device; a checkpoint needs about {required / 2**20:.1f} MiB free",
      directory,
    )


def tree_bytes(tree) -> int:
  """Bytes of every array leaf of a pytree (what a checkpoint of it writes, before overhead)."""
  return int(sum(getattr(leaf, "nbytes", 0) for leaf in jax.tree.leaves(tree)))


def save(mngr: ocp.CheckpointManager, step: int, arrays, meta: dict) -> None:
  """arrays: pytree of arrays (state, best params); meta: JSON-able dict. Returns once the
  arrays are copied off the devices; orbax writes the files in the background (call
  mngr.wait_until_finished() before reading them). A checkpoint already at `step` (an
  unreadable one that a resume skipped) is replaced. The previous save is awaited and the free
  space checked first, so a full disk is one OSError here, never a doomed background write."""
  directory = str(mngr.directory)
  with disk_errors(directory):
    mngr.wait_until_finished()
    require_space(directory, tree_bytes(arrays))
    if step in mngr.all_steps():
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
