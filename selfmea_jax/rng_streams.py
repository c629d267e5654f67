"""Named host-side random streams. Each numpy generator is seeded with config.seed and a key
of its own, so every use draws a reproducible sequence that does not depend on the others.

The keys are those of the runs recorded in BUILD_NOTES.md (changing one changes results).
They differ in length or in a fixed stream number; the one overlap is epoch 99's entity
order, whose key equals the queue initialisation's.
"""

import numpy as np

SEED_BATCH = 7  # [seed, step, SEED_BATCH]
VALIDATION_SAMPLE = 5  # [seed, VALIDATION_SAMPLE]
QUEUE_INIT = 99  # [seed, QUEUE_INIT, kg_index]
TEST_SAMPLE = 11  # [seed, TEST_SAMPLE]


def epoch_order(seed: int, epoch: int, kg_index: int) -> np.random.Generator:
  """The entity order of one KG in one epoch."""
  return np.random.default_rng([seed, epoch, kg_index])


def seed_batch(seed: int, step: int) -> np.random.Generator:
  """The pseudo-seed pairs sampled for one training step."""
  return np.random.default_rng([seed, step, SEED_BATCH])


def validation_sample(seed: int) -> np.random.Generator:
  """The validation links used for model selection."""
  return np.random.default_rng([seed, VALIDATION_SAMPLE])


def test_sample(seed: int) -> np.random.Generator:
  """The test links evaluated when eval.test_queries samples them."""
  return np.random.default_rng([seed, TEST_SAMPLE])


def queue_init(seed: int, kg_index: int) -> np.random.Generator:
  """The entities whose momentum encodings fill a KG's initial negative queue."""
  return np.random.default_rng([seed, QUEUE_INIT, kg_index])


def entity_remap(seed: int) -> np.random.Generator:
  """The opaque shuffle of a file-backed dataset's entity ids (and OpenEA's link split)."""
  return np.random.default_rng(seed)


def neighbour_sample(seed: int) -> np.random.Generator:
  """The neighbours kept when an entity has more than the model's slots."""
  return np.random.default_rng(seed)


def missing_images(seed: int) -> np.random.Generator:
  """The stand-in vectors of entities without an image."""
  return np.random.default_rng(seed)


def index_training(seed: int) -> np.random.Generator:
  """The candidates an IVF index's k-means is trained on."""
  return np.random.default_rng(seed)


def recall_queries(seed: int) -> np.random.Generator:
  """The queries an approximate search measures its recall on."""
  return np.random.default_rng([seed, 1])


def name_finetune(seed: int, step: int) -> np.random.Generator:
  """The pseudo-seed pairs of one step of the name encoder's fine-tuning."""
  return np.random.default_rng([seed, step, 17, 17])


def name_finetune_queue(seed: int) -> np.random.Generator:
  """The random unit rows that fill the fine-tuning's negative queue at the start."""
  return np.random.default_rng([seed, 17, 17, 17, 17])
