"""Embedded default: a seeded synthetic KG pair (no dataset needed), SelfKG trainer."""

from configs import default


def get_config():
  config = default.get_config()
  config.workdir = "runs/synthetic"
  config.data.kind = "synthetic"
  config.train.batch_size = 64
  config.train.queue_batches = 8
  config.train.learning_rate = 1e-3
  config.train.momentum = 0.99
  config.train.num_epochs = 5
  config.train.log_every_steps = 10
  config.train.checkpoint_every_steps = 50
  config.eval.valid_size = 500
  return config
