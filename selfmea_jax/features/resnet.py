"""ResNet image features (ResNet-152 in EVA / SelfMEA) with transformers' FlaxResNetModel.

  python -m selfmea_jax.features.resnet --images=DIR --out=kg1_images.npz \
      [--model=microsoft/resnet-152 | --model=/local/dir]

Images are files named `<entity id>.<jpg|jpeg|png|...>` (the id of the KG's ent_ids file).
The output `.npz` holds `ids` [n] and `features` [n, 2048] (pooled), which
`data.image_files` accepts, as it accepts EVA's `id -> vector` pickles.
"""

from __future__ import annotations

import os

from absl import app, flags
import numpy as np
from tqdm.auto import tqdm

from selfmea_jax.errors import InputError, exit_on_input_error

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")


def list_images(directory: str) -> list[tuple[int, str]]:
  """[(entity id, path)] for files named <int id>.<image extension>, sorted by id."""
  if not os.path.isdir(directory):
    raise InputError("image directory not found", directory)
  out = []
  for name in sorted(os.listdir(directory)):
    stem, ext = os.path.splitext(name)
    if ext.lower() in IMAGE_EXTENSIONS and stem.lstrip("-").isdigit():
      out.append((int(stem), os.path.join(directory, name)))
  if not out:
    raise InputError("no images named <entity id>.<jpg|png|...> found", directory)
  return sorted(out)


def load_resnet(model_path: str):
  """(image processor, FlaxResNetModel) from a local directory or a hub name."""
  from transformers import (
    AutoImageProcessor,
    FlaxResNetModel,
  )  # lazy: optional heavy dependency: loaded only to extract image features

  try:
    return AutoImageProcessor.from_pretrained(model_path), FlaxResNetModel.from_pretrained(model_path)
  except (OSError, ValueError) as e:
    raise InputError(f"cannot load a ResNet model and image processor from {model_path!r}: {e}") from None


def extract_features(paths: list[str], processor, model, batch_size: int = 32) -> np.ndarray:
  """[n] image paths -> [n, C] pooled ResNet features (C = 2048 for ResNet-152)."""
  from PIL import Image  # lazy: optional heavy dependency: loaded only to extract image features

  chunks = []
  for start in tqdm(range(0, len(paths), batch_size), desc="resnet", unit="batch"):
    batch = []
    for path in paths[start : start + batch_size]:
      try:
        with Image.open(path) as image:
          batch.append(image.convert("RGB"))
      except OSError as e:
        raise InputError(f"cannot read image: {e}", path) from None
    pixels = processor(images=batch, return_tensors="np")["pixel_values"]
    pooled = model(pixel_values=pixels).pooler_output
    chunks.append(np.asarray(pooled, np.float32).reshape(len(batch), -1))
  return np.concatenate(chunks)


_IMAGES = flags.DEFINE_string("images", None, "Directory of <entity id>.<ext> images.")
_OUT = flags.DEFINE_string("out", None, "Output .npz (ids, features).")
_MODEL = flags.DEFINE_string("model", "microsoft/resnet-152", "Local directory or hub name.")
_BATCH = flags.DEFINE_integer("batch_size", 32, "Images per forward pass.")


@exit_on_input_error
def run(images: str, out: str, model_path: str, batch_size: int) -> None:
  entries = list_images(images)
  processor, model = load_resnet(model_path)
  features = extract_features([p for _, p in entries], processor, model, batch_size)
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  np.savez(out, ids=np.array([i for i, _ in entries], np.int64), features=features)
  print(f"{len(entries)} images -> {features.shape} features in {out}")


def main(argv):
  del argv
  if not _IMAGES.value or not _OUT.value:
    raise app.UsageError("--images and --out are required")
  run(_IMAGES.value, _OUT.value, _MODEL.value, _BATCH.value)


if __name__ == "__main__":
  app.run(main)
