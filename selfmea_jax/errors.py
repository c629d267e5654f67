"""User-facing errors: bad input is reported as one clear line, never a traceback."""

from __future__ import annotations

import errno
import functools
import os
import shutil
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


def warn(message: str) -> None:
  """A `warning: <message>` line on stderr: the run goes on, and says what it assumed."""
  print(f"warning: {message}", file=sys.stderr, flush=True)


def os_error_line(error: OSError) -> str:
  """One line for a file-system error: the path, what went wrong and what to do."""
  path = error.filename or "?"
  if error.errno == errno.ENOSPC:
    free = shutil.disk_usage(_existing_parent(path)).free / 2**20 if path != "?" else float("nan")
    what = error.strerror if (error.strerror or "").startswith("no space") else "no space left on device"
    return (
      f"{path}: {what} ({free:.1f} MiB free there); free some space or choose another --workdir / "
      "data.cache_dir, then rerun the same command (completed checkpoints are kept)"
    )
  if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
    return f"{path}: not writable ({error.strerror}); choose another --workdir / data.cache_dir"
  if error.errno in (errno.ENOTDIR, errno.EEXIST):
    return f"{path}: {error.strerror} (a file stands where a folder is needed); choose another --workdir"
  return f"{path}: {error.strerror or error}"


def _existing_parent(path: str) -> str:
  path = os.path.abspath(path)
  while not os.path.exists(path):
    path = os.path.dirname(path)
  return path


def exit_on_input_error(fn):
  """Decorator for CLI entry points: turns InputError and file-system errors (full disk,
  read-only folder, a file where a folder belongs) into one `error: ...` line and exit code 2."""

  @functools.wraps(fn)
  def wrapper(*args, **kwargs):
    try:
      return fn(*args, **kwargs)
    except InputError as e:
      print(f"error: {e}", file=sys.stderr)
      sys.exit(2)
    except OSError as e:
      print(f"error: {os_error_line(e)}", file=sys.stderr)
      sys.exit(2)

  return wrapper
