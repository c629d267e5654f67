"""The label-free aligner on the embedded synthetic pair: the given name vectors plus a literal
(character n-gram) view of the surface names, 2-hop fusion, Sinkhorn + Hungarian decoding and
one self-training round of the SelfMEA trainer."""

from configs import synthetic


def get_config():
  config = synthetic.get_config()
  config.workdir = "runs/synthetic_best"
  config.align.enabled = True
  config.align.views = ("given:uri", "literal:uri")
  config.align.literal_dim = 512
  config.align.train_view = "given:uri"
  config.align.train_epochs = 3
  config.train.seed_batch_size = 256
  config.model.neighbour_scale = 1.0
  return config
