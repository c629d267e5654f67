"""Shared fixtures: a small synthetic config, one session-wide training run of it, and the
optional DBP15K location. JAX gets 2 fake CPU devices (in-process) for the sharded tests;
the small config trains on one device unless a test asks for the mesh of both."""

import os

import jax
import pytest

jax.config.update("jax_num_cpu_devices", 2)  # before any backend starts

SHARED_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


def dbp15k_available() -> bool:
  return os.path.isdir(os.path.join(SHARED_DATA, "DBP15K", "ja_en"))


requires_dbp15k = pytest.mark.skipif(
  not dbp15k_available(),
  reason="DBP15K not found at ../shared/data/DBP15K (read-only test data "
  "kept beside the repository); skipping real-data tests",
)


@pytest.fixture(scope="session", autouse=True)
def compiled_programs_kept(tmp_path_factory):
  """One persistent compilation cache per test process (selfmea_jax/compile_cache.py): the
  programs that many tests build again (the trainer's step, the e5 length buckets, the
  decoders on tiny KGs) compile once per process instead of once per test."""
  jax.config.update("jax_compilation_cache_dir", str(tmp_path_factory.mktemp("xla")))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)


def make_small_config():
  """A fast synthetic config (a few seconds of training), on one device."""
  from configs import synthetic  # pylint: disable=import-outside-toplevel

  config = synthetic.get_config()
  config.data.synthetic.num_entities = 600
  config.train.num_epochs = 3
  config.train.checkpoint_every_steps = 7
  config.train.log_every_steps = 5
  config.train.data_parallel = False
  config.eval.valid_size = 200
  config.eval.encode_batch = 256
  return config


@pytest.fixture
def small_config():
  return make_small_config()


@pytest.fixture(scope="session")
def small_config_factory():
  """make_small_config, for fixtures wider than one test."""
  return make_small_config


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
  """The results of one uninterrupted training run of the small config (shared by the
  resume tests, which must end with exactly these results)."""
  from selfmea_jax.train import loop  # pylint: disable=import-outside-toplevel

  return loop.train(make_small_config(), str(tmp_path_factory.mktemp("small_run"))).results


@pytest.fixture(scope="session")
def e5_cache(tmp_path_factory):
  """One directory for the session's converted JAX e5 weights (7 s to convert, once):
  data.weights_dir of the tests that run the aligner with its default views."""
  return tmp_path_factory.mktemp("e5_cache")
