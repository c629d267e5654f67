"""User-facing errors: bad input is reported as one clear line, never a traceback."""

from __future__ import annotations

import functools
import sys


class InputError(Exception):
  """Bad user input (file, line, config value). Printed as `error: <message>`."""

  def __init__(self, message: str, path: str | None = None, line: int | None = None):
    where = ""
    if path is not None:
      where = f"{path}:{line}: " if line is not None else f"{path}: "
    super().__init__(where + message)
    self.path = path
    self.line = line


def exit_on_input_error(fn):
  """Decorator for CLI entry points: turns InputError into `error: ...` and exit code 2."""

  @functools.wraps(fn)
  def wrapper(*args, **kwargs):
    try:
      return fn(*args, **kwargs)
    except InputError as e:
      print(f"error: {e}", file=sys.stderr)
      sys.exit(2)

  return wrapper
