"""The data-parallel step on 2 fake CPU devices (in-process, conftest) equals the step on
one device; batch sizes that do not split over the devices are one-line errors."""

import jax
import numpy as np
import optax
import pytest

from selfmea_jax.errors import InputError
from selfmea_jax.train import build, input_pipeline, sharding


def test_sharded_step_equals_single_device_step(small_config):
  assert jax.local_device_count() == 2, jax.devices()
  config = small_config
  config.data.synthetic.num_entities = 500
  config.data.modalities = ("relation", "image")
  config.train.nca_weight = 1.0
  config.train.seed_batch_size = 32
  config.model.dropout = 0.3  # threefry is partitionable: same dropout masks when sharded
  task, inputs = input_pipeline.build(config)
  model = build.make_model(config, input_pipeline.active_modalities(config, inputs))
  tx = optax.adam(config.train.learning_rate)
  seeds = np.stack([task.test_links[:, 0], task.test_links[:, 1]], 1)[:100]
  one, two = sharding.data_mesh(jax.local_devices()[:1]), sharding.data_mesh()
  states = [sharding.replicate(build.init_state(config, model, tx, inputs), mesh) for mesh in (one, two)]
  steps = [sharding.make_train_step(model, tx, build.loss_config(config), mesh) for mesh in (one, two)]
  for i in range(5):
    batch = input_pipeline.make_batch(config, inputs, i, 8, seeds)
    (states[0], m1), (states[1], m2) = (step(state, batch) for step, state in zip(steps, states))
    np.testing.assert_allclose(float(m1["loss"]), float(m2["loss"]), rtol=1e-5, atol=1e-6)
  single, sharded = states
  assert len(sharded.params["params"]["selfkg"]["combine"]["kernel"].sharding.device_set) == 2
  assert int(sharded.step) == 5
  for a, b in zip(
    jax.tree.leaves((single.params, single.momentum_params, single.queues)),
    jax.tree.leaves((sharded.params, sharded.momentum_params, sharded.queues)),
  ):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)


def test_the_config_mesh_spans_all_devices_only_when_data_parallel(small_config):
  small_config.train.data_parallel = True
  assert sharding.config_mesh(small_config).size == 2
  small_config.train.data_parallel = False
  assert sharding.config_mesh(small_config).size == 1


@pytest.mark.parametrize("key", ["batch_size", "seed_batch_size"])
def test_batches_must_divide_over_the_devices(small_config, key):
  small_config.train.data_parallel = True
  small_config.train.nca_weight = 1.0
  small_config.train[key] = 33
  with pytest.raises(InputError, match=f"train.{key}=33 must be a multiple of the 2 devices"):
    sharding.config_mesh(small_config)
  small_config.train.data_parallel = False
  sharding.config_mesh(small_config)  # one device: any size


def test_runs_with_the_same_settings_share_one_compiled_step(small_config):
  """A second run in the process (the next self-training round, a resume) reuses the jitted
  step instead of compiling it again; other settings get their own."""

  def jitted(config):
    model = build.make_model(config, ())
    tx = build.make_optimizer(config, total_steps=10)
    return sharding._jitted_step(model, tx, build.loss_config(config), sharding.config_mesh(config))

  first = jitted(small_config)
  assert jitted(small_config) is first
  small_config.train.learning_rate *= 2
  assert jitted(small_config) is not first
