"""Shared fixtures: a small synthetic config and the optional DBP15K location."""

import os

import pytest

SHARED_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


def dbp15k_available() -> bool:
  return os.path.isdir(os.path.join(SHARED_DATA, "DBP15K", "ja_en"))


requires_dbp15k = pytest.mark.skipif(
    not dbp15k_available(), reason="DBP15K not found at ../shared/data/DBP15K (read-only test data "
    "kept beside the repository); skipping real-data tests")


@pytest.fixture
def small_config():
  """A fast synthetic config (a few seconds of training)."""
  from configs import synthetic  # pylint: disable=import-outside-toplevel
  config = synthetic.get_config()
  config.data.synthetic.num_entities = 600
  config.train.num_epochs = 3
  config.train.checkpoint_every_steps = 7
  config.train.log_every_steps = 5
  config.eval.valid_size = 200
  config.eval.encode_batch = 256
  return config
