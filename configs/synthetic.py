"""The embedded default: a seeded synthetic KG pair (no dataset needed), by argument:

--config=configs/synthetic.py           SelfKG trainer
--config=configs/synthetic.py:mea       SelfMEA: + relation, attribute, image, NCA, iterative
--config=configs/synthetic.py:aligner   the label-free aligner: the given name vectors plus a
                                        literal view, 2-hop fusion, Sinkhorn + Hungarian and
                                        one self-training round of the SelfMEA trainer
"""

import ml_collections

from configs import default

VARIANTS = ("selfkg", "mea", "aligner")


def selfkg() -> ml_collections.ConfigDict:
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


def mea() -> ml_collections.ConfigDict:
  config = selfkg()
  config.workdir = "runs/synthetic_mea"
  config.data.modalities = ("relation", "attribute", "image")
  config.train.nca_weight = 1.0
  config.train.iterative = True
  config.train.num_epochs = 8
  return config


def aligner() -> ml_collections.ConfigDict:
  config = selfkg()
  config.workdir = "runs/synthetic_aligner"
  config.pipeline = "aligner"
  config.align.views = ("given:uri", "literal:uri")
  config.align.literal_dim = 512
  config.align.trainer.name_view = "given:uri"
  config.align.trainer.num_epochs = 3
  config.train.seed_batch_size = 256
  config.model.neighbour_scale = 1.0
  config.decoding.scoring, config.decoding.assignment = "sinkhorn", "hungarian"
  return config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """arg: '' | 'selfkg' | 'mea' | 'aligner'."""
  variant = (arg or "selfkg").strip()
  if variant not in VARIANTS:
    raise ValueError(f"configs/synthetic.py:{arg}: choose one of {VARIANTS}")
  return {"selfkg": selfkg, "mea": mea, "aligner": aligner}[variant]()
