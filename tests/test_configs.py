"""Every config file loads; the Colab notebook is valid and runs an existing config."""

import glob
import importlib.util
import json
import os
import subprocess
import sys

import pytest

from selfmea_jax import config_checks
from selfmea_jax.errors import InputError

ROOT = os.path.join(os.path.dirname(__file__), "..")


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "configs", "[!_]*.py"))))
def test_config_loads(path):
  spec = importlib.util.spec_from_file_location("cfg", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config()
  config_checks.validate(config)  # raises on any bad value
  assert config.data.kind in ("synthetic", "dbp15k", "openea") and config.workdir


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


@pytest.mark.parametrize("key,value,message", [
    ("train.batch_size", 0, "must be > 0"), ("train.num_epochs", -1, "must be >= 0"),
    ("eval.scoring", "dot", "choose one of"), ("data.kind", "csv", "choose one of"),
    ("align.hop_weights", (), "hop_weights is empty"), ("align.views", ("bert:uri",), "unknown view encoder"),
    ("data.modalities", ("audio",), "unknown .'audio'."),
])
def test_bad_config_values_are_one_line_errors(key, value, message):
  from configs import synthetic_best  # pylint: disable=import-outside-toplevel
  config = synthetic_best.get_config()
  section, name = key.split(".")
  setattr(config[section], name, value)
  with pytest.raises(InputError, match=message):
    config_checks.validate(config)


def test_cli_flag_errors_are_one_line(tmp_path):
  def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "selfmea_jax.main", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
  missing = run_cli("--config=configs/nope.py")
  assert missing.returncode == 2 and missing.stderr.strip() == "error: configs/nope.py: config file not found"
  typo = run_cli("--config=configs/synthetic.py", "--config.train.batchsize=3", f"--workdir={tmp_path}")
  assert typo.returncode == 2 and "Traceback" not in typo.stderr
  assert typo.stderr.strip().endswith('Did you mean "batch_size" instead of "batchsize"?')
