"""Ctrl-C that never loses a completed step.

Inside `deferred()` (the training loop), a first SIGINT only sets a flag and says so; the
loop stops at its next safe point (`check()`: between steps, after an epoch end), saves the
last completed step and exits with one line. A second SIGINT stops at once, except inside
`shield()` (a step being dispatched, a checkpoint being written), where it waits for the
next safe point: the state is never half-donated and a save is never cut. A first Ctrl-C
during a compile or an evaluation waits for it instead of tearing through native code.
Outside `deferred()` Ctrl-C is Python's own.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading

_requested = 0  # SIGINTs received inside deferred()
_shielded = 0  # depth of shield() sections


def _handler(signum, frame) -> None:
  del signum, frame
  global _requested
  _requested += 1
  if _requested == 1:
    print(
      "\ninterrupt: finishing the current step, then saving it (Ctrl-C again to stop sooner)",
      file=sys.stderr,
      flush=True,
    )
  elif _shielded:
    print("interrupt: writing the checkpoint first, one moment", file=sys.stderr, flush=True)
  else:
    raise KeyboardInterrupt


@contextlib.contextmanager
def deferred():
  """Defers Ctrl-C to the safe points of the block (main thread only; elsewhere a no-op)."""
  global _requested
  if threading.current_thread() is not threading.main_thread():
    yield
    return
  previous, _requested = signal.signal(signal.SIGINT, _handler), 0
  try:
    yield
  finally:
    signal.signal(signal.SIGINT, previous)
    _requested = 0


def check() -> None:
  """A safe point: raises KeyboardInterrupt if Ctrl-C was pressed since deferred() began."""
  if _requested:
    raise KeyboardInterrupt


@contextlib.contextmanager
def shield():
  """A section that a second Ctrl-C must not cut (it waits for the section's end)."""
  global _shielded
  _shielded += 1
  try:
    yield
  finally:
    _shielded -= 1
