"""selfmea_jax: self-supervised (multi-modal) entity alignment in JAX/Flax."""

__version__ = "0.1.0"
