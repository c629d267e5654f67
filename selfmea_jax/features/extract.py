"""Precompute and cache the name embeddings a config needs.

python -m selfmea_jax.features.extract --config=configs/ja_en.py [--config.data.name_encoder=e5]
"""

from __future__ import annotations

from absl import app
import ml_collections
from ml_collections import config_flags

from selfmea_jax.data.load import load
from selfmea_jax.errors import exit_on_input_error
from selfmea_jax.features.names import name_encoder_kwargs, name_features

_CONFIG = config_flags.DEFINE_config_file("config", "configs/ja_en.py", "Experiment config file.")


@exit_on_input_error
def extract(config: ml_collections.ConfigDict) -> None:
  task = load(config).task
  kwargs = name_encoder_kwargs(config, config.data.name_encoder)
  emb1, emb2 = name_features(
    task, config.data.cache_dir, config.data.name_encoder, config.data.name_source, encoder_kwargs=kwargs
  )
  print(
    f"{task.name}: {config.data.name_encoder} embeddings {emb1.shape} / {emb2.shape} "
    f"cached under {config.data.cache_dir}/{task.name}/"
  )


def main(argv):
  del argv
  extract(_CONFIG.value)


if __name__ == "__main__":
  app.run(main)
