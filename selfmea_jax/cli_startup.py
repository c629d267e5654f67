"""Ctrl-C while the command line starts up (importing JAX and the libraries, nothing to keep
yet) ends with one line and exit code 130 instead of an import traceback. Imported first by
main.py; it acts only when selfmea_jax.main is the program being run."""

from __future__ import annotations

import os
import signal
import sys


def _stop_while_starting(signum, frame) -> None:
  del signum, frame
  print("interrupted: while starting up; nothing to keep yet", file=sys.stderr, flush=True)
  os._exit(130)


def started() -> None:
  """Start-up is over: Ctrl-C raises KeyboardInterrupt again (handled by the run)."""
  signal.signal(signal.SIGINT, signal.default_int_handler)


_program = getattr(getattr(sys.modules.get("__main__"), "__spec__", None), "name", "")
if _program == "selfmea_jax.main":
  signal.signal(signal.SIGINT, _stop_while_starting)
