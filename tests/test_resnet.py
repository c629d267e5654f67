"""ResNet image-feature code path with a tiny random-init ResNet (no download)."""

import numpy as np
import pytest

from selfmea_jax.errors import InputError
from selfmea_jax.features import images, resnet


def tiny_resnet_dir(path):
  from transformers import ConvNextImageProcessor, FlaxResNetModel, ResNetConfig

  config = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic")
  FlaxResNetModel(config, seed=0).save_pretrained(path)
  ConvNextImageProcessor(size={"shortest_edge": 32}, crop_pct=1.0).save_pretrained(path)
  return path


@pytest.mark.slow
def test_extract_tiny_resnet_features_to_npz(tmp_path):
  from PIL import Image

  image_dir = tmp_path / "imgs"
  image_dir.mkdir()
  rng = np.random.default_rng(0)
  for entity_id in (7, 3, 12):
    Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(image_dir / f"{entity_id}.png")
  (image_dir / "notes.txt").write_text("ignored")
  out = tmp_path / "feats.npz"
  resnet.run(str(image_dir), str(out), tiny_resnet_dir(str(tmp_path / "model")), batch_size=2)
  table = images.read_image_table(str(out))
  assert sorted(table) == [3, 7, 12]
  assert all(v.shape == (16,) and np.isfinite(v).all() for v in table.values())


def test_missing_images_and_model_are_clear_errors(tmp_path):
  with pytest.raises(InputError, match="image directory not found"):
    resnet.list_images(str(tmp_path / "none"))
  (tmp_path / "empty").mkdir()
  with pytest.raises(InputError, match="no images named"):
    resnet.list_images(str(tmp_path / "empty"))
  with pytest.raises(InputError, match="cannot load a ResNet"):
    resnet.load_resnet(str(tmp_path / "nomodel"))
