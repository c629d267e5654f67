"""Every config file loads; the Colab notebook is valid and runs an existing config."""

import glob
import importlib.util
import json
import os

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..")


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "configs", "[!_]*.py"))))
def test_config_loads(path):
  spec = importlib.util.spec_from_file_location("cfg", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config()
  assert config.data.kind in ("synthetic", "dbp15k")
  assert config.train.batch_size > 0 and config.workdir


def test_colab_notebook_is_valid_json_and_uses_a_real_config():
  with open(os.path.join(ROOT, "experiments", "colab_ja_en.ipynb"), encoding="utf-8") as f:
    notebook = json.load(f)
  source = "".join("".join(cell["source"]) for cell in notebook["cells"])
  assert "python -m selfmea_jax.main --config=configs/ja_en.py" in source
  assert os.path.exists(os.path.join(ROOT, "configs", "ja_en.py"))


@pytest.mark.parametrize("pair", ["zh_en", "ja_en", "fr_en"])
def test_best_configs_use_original_names_unless_asked_for_translations(pair):
  spec = importlib.util.spec_from_file_location("cfg", os.path.join(ROOT, "configs", f"{pair}_best.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  original, translated = module.get_config(), module.get_config("translated")
  assert original.align.enabled and original.data.pair == pair
  assert all(v.endswith(":uri") for v in original.align.views)
  assert any(v.endswith(":translated") for v in translated.align.views)
  assert set(original.align.views) < set(translated.align.views)
  assert original.workdir != translated.workdir
