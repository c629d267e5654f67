"""Two CPU processes on localhost (jax.distributed, gloo collectives), each building only its
half of every batch, train to the parameters of one process with the same global batch."""

import json
import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from selfmea_jax.train import input_pipeline
from selfmea_jax.train.restore import restore_best

ROOT = os.path.join(os.path.dirname(__file__), "..")
ARGS = [
  "--config=configs/synthetic.py",
  "--config.data.synthetic.num_entities=600",
  "--config.train.num_epochs=2",
  "--config.train.nca_weight=1.0",
  "--config.train.iterative=True",
  "--config.train.seed_batch_size=64",
  "--config.eval.valid_size=200",
]


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def cli(*args):
  return subprocess.Popen(
    [sys.executable, "-m", "selfmea_jax.main", *ARGS, *args],
    cwd=ROOT,
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    text=True,
  )


@pytest.mark.slow
def test_two_processes_train_like_one(tmp_path, small_config):
  port = free_port()
  workers = [
    cli(
      f"--workdir={tmp_path / 'two'}",
      "--config.distributed.enabled=True",
      f"--config.distributed.coordinator_address=127.0.0.1:{port}",
      "--config.distributed.num_processes=2",
      f"--config.distributed.process_id={i}",
    )
    for i in (0, 1)
  ]
  one = cli(f"--workdir={tmp_path / 'one'}", "--config.train.data_parallel=False")
  for process in [*workers, one]:
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]
  config = small_config
  for arg in ARGS[1:]:  # the same config in-process, to restore both runs' parameters
    key, value = arg[len("--config.") :].split("=")
    section, *rest = key.split(".")
    node = config[section]
    for part in rest[:-1]:
      node = node[part]
    node[rest[-1]] = type(node[rest[-1]])(value == "True" if value in ("True", "False") else value)
  _, inputs = input_pipeline.build(config)
  params = [restore_best(config, str(tmp_path / name), inputs)[1] for name in ("one", "two")]
  assert restore_best(config, str(tmp_path / "two"), inputs)[2]["best_epoch"] > 0
  for a, b in zip(jax.tree.leaves(params[0]), jax.tree.leaves(params[1])):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  assert os.path.exists(tmp_path / "two" / "alignment.tsv")
  results = [json.load(open(tmp_path / name / "results.json", encoding="utf-8")) for name in ("one", "two")]
  for key, value in results[0]["best"].items():  # evaluation split over the 2 processes' queries
    if "/" in key:
      assert results[1]["best"][key] == pytest.approx(value, abs=0.01), key
