"""The data-parallel step on 2 fake CPU devices equals the single-device step (1e-5)."""

import os
import subprocess
import sys

import pytest

from selfmea_jax.errors import InputError
from selfmea_jax.train import sharding


def test_sharded_step_equals_single_device_step():
  script = os.path.join(os.path.dirname(__file__), "sharded_step_check.py")
  result = subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "SHARDED_OK" in result.stdout


def test_batch_must_divide_over_devices():
  mesh = sharding.data_mesh()
  sharding.check_divisible(64, mesh)
  if mesh.size > 1:
    with pytest.raises(InputError, match="multiple of"):
      sharding.check_divisible(mesh.size + 1, mesh)
