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


def configure(verbosity: int) -> None:
  """INFO for this project; third-party INFO only when verbosity >= 1."""
  logging.set_verbosity(max(verbosity, logging.INFO))
  handler = logging.get_absl_handler()
  handler.filters = [f for f in handler.filters if not isinstance(f, DropThirdPartyInfo)]
  if verbosity < 1:
    handler.addFilter(DropThirdPartyInfo())
