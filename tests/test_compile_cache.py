"""The persistent compilation cache goes under the feature cache, unless the user chose one."""

import jax
import pytest

from selfmea_jax import compile_cache


@pytest.fixture
def restored_jax_config():
  before = (jax.config.jax_compilation_cache_dir, jax.config.jax_persistent_cache_min_compile_time_secs)
  yield
  jax.config.update("jax_compilation_cache_dir", before[0])
  jax.config.update("jax_persistent_cache_min_compile_time_secs", before[1])


def test_compiled_programs_are_kept_under_the_cache_dir(tmp_path, restored_jax_config):
  jax.config.update("jax_compilation_cache_dir", None)
  assert compile_cache.enable(str(tmp_path)) == str(tmp_path / "xla")
  assert jax.config.jax_compilation_cache_dir == str(tmp_path / "xla")
  assert jax.config.jax_persistent_cache_min_compile_time_secs == compile_cache.MIN_COMPILE_SECONDS


def test_a_directory_the_user_set_is_kept(tmp_path, restored_jax_config):
  jax.config.update("jax_compilation_cache_dir", str(tmp_path / "mine"))
  assert compile_cache.enable(str(tmp_path / "features")) == str(tmp_path / "mine")
  assert jax.config.jax_compilation_cache_dir == str(tmp_path / "mine")
