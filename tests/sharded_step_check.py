"""Run in a subprocess with 2 fake CPU devices: sharded step == single-device step."""

import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"

import jax  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from configs import synthetic  # noqa: E402
from selfmea_jax import pipeline  # noqa: E402
from selfmea_jax.train import loop, sharding  # noqa: E402
from selfmea_jax.train.step import make_train_step  # noqa: E402


def main():
  assert jax.device_count() == 2, jax.devices()
  config = synthetic.get_config()
  config.data.synthetic.num_entities = 500
  config.data.modalities = ("relation", "image")
  config.train.nca_weight = 1.0
  config.train.seed_batch_size = 32
  config.model.dropout = 0.3  # threefry is partitionable: same dropout masks when sharded
  task, inputs = pipeline.build(config)
  model = loop.make_model(config, pipeline.active_modalities(config, inputs))
  tx = optax.adam(config.train.learning_rate)
  seeds = np.stack([task.test_links[:, 0], task.test_links[:, 1]], 1)[:100]
  single = loop.init_state(config, model, tx, inputs)
  mesh = sharding.data_mesh()
  sharded = sharding.replicate(loop.init_state(config, model, tx, inputs), mesh)
  single_step = make_train_step(model, tx, loop.loss_config(config))
  sharded_step = sharding.make_sharded_train_step(model, tx, loop.loss_config(config), mesh)
  for i in range(5):
    batch = loop.make_batch(config, inputs, i, 8, seeds)
    single, m1 = single_step(single, batch)
    sharded, m2 = sharded_step(sharded, batch)
    np.testing.assert_allclose(float(m1["loss"]), float(m2["loss"]), rtol=1e-5, atol=1e-6)
  assert len(sharded.params["params"]["selfkg"]["combine"]["kernel"].sharding.device_set) == 2
  for a, b in zip(jax.tree.leaves((single.params, single.momentum_params, single.queues)),
                  jax.tree.leaves((sharded.params, sharded.momentum_params, sharded.queues))):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)
  print("SHARDED_OK")


if __name__ == "__main__":
  main()
