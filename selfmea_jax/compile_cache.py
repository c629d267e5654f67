"""JAX's persistent compilation cache under the feature cache directory, so that a rerun of
a pair (the same shapes: length buckets, fine-tuning step, decoding) reads the compiled
programs instead of compiling them again. Enabled by the command line and the experiments;
a cache directory the user set (JAX_COMPILATION_CACHE_DIR) is left as it is."""

from __future__ import annotations

import os

import jax

MIN_COMPILE_SECONDS = 0.1  # programs that compile faster are not worth a file


def enable(cache_dir: str) -> str:
  """Keeps compiled programs in <cache_dir>/xla (or where jax_compilation_cache_dir already
  points); returns that directory. Call before the first compilation."""
  chosen = jax.config.jax_compilation_cache_dir
  if not chosen:
    chosen = os.path.join(cache_dir, "xla")
    jax.config.update("jax_compilation_cache_dir", chosen)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
  return chosen
