"""SelfMEA on the synthetic pair: graph + relation + attribute + image, NCA, iterative."""

from configs import synthetic


def get_config():
  config = synthetic.get_config()
  config.workdir = "runs/synthetic_mea"
  config.data.modalities = ("relation", "attribute", "image")
  config.train.nca_weight = 1.0
  config.train.iterative = True
  config.train.num_epochs = 8
  return config
