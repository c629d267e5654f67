"""Quiet default logs: third-party INFO chatter (orbax's per-save lines, JAX's backend
probing) and the config dump appear only with --verbosity=1 or more."""

from __future__ import annotations

import logging as std_logging
import os

from absl import logging

NOISY_PACKAGES = ("orbax", "jax")


class DropThirdPartyInfo(std_logging.Filter):
  """Drops records below WARNING whose source file lies in one of NOISY_PACKAGES."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    if record.levelno >= std_logging.WARNING:
      return True
    parts = record.pathname.split(os.sep)
    return not any(package in parts for package in NOISY_PACKAGES)


class DropReportedDiskErrors(std_logging.Filter):
  """Drops the tracebacks that background writers (orbax, asyncio) log on a full disk: the
  command reports the full disk itself, as one `error:` line naming the path."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    text = record.getMessage() + str(record.exc_info[1] if record.exc_info else "")
    return "No space left on device" not in text


def configure(verbosity: int) -> None:
  """INFO for this project; third-party INFO only when verbosity >= 1."""
  logging.set_verbosity(max(verbosity, logging.INFO))
  handler = logging.get_absl_handler()
  ours = (DropThirdPartyInfo, DropReportedDiskErrors)
  handler.filters = [f for f in handler.filters if not isinstance(f, ours)]
  handler.addFilter(DropReportedDiskErrors())
  if verbosity < 1:
    handler.addFilter(DropThirdPartyInfo())
