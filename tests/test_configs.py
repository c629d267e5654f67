"""Every config file loads; the Colab notebook is valid and runs an existing config."""

import ast
import dataclasses
import glob
import importlib.util
import inspect
import json
import os
import subprocess
import sys

import pytest

from configs import default
from selfmea_jax import api, config_checks, config_files, run_config
from selfmea_jax.errors import InputError

ROOT = os.path.join(os.path.dirname(__file__), "..")


CONFIG_FILES = sorted(glob.glob(os.path.join(ROOT, "configs", "[!_]*.py")))


def load_config(path, arg=None):
  spec = importlib.util.spec_from_file_location("cfg", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config() if arg is None else module.get_config(arg)


def flat_keys(config, prefix=""):
  keys = set()
  for key, value in config.items():
    keys |= (
      flat_keys(value, f"{prefix}{key}.")
      if hasattr(value, "items") and key != "nca_alpha"
      else {prefix + key}
    )
  return keys


@pytest.mark.parametrize("path", CONFIG_FILES)
def test_config_is_valid_and_sets_no_key_the_default_lacks(path):
  config = load_config(path)
  config_checks.validate(config)  # raises on any bad value
  extra = flat_keys(config) - flat_keys(default.get_config())
  assert not extra, f"{os.path.basename(path)} sets keys the default does not have (typos?): {extra}"


def test_configs_write_to_distinct_workdirs():
  shared = ("default.py", "dbp15k.py")  # the base, and the file the pair shortcuts point into
  workdirs = [load_config(p).workdir for p in CONFIG_FILES if not p.endswith(shared)]
  assert len(set(workdirs)) == len(workdirs), workdirs


@pytest.mark.parametrize("pair", ["zh_en", "ja_en", "fr_en"])
def test_pair_files_are_shortcuts_to_the_dbp15k_file(pair):
  dbp15k = os.path.join(ROOT, "configs", "dbp15k.py")
  shortcut = os.path.join(ROOT, "configs", f"{pair}.py")
  for arg in (None, "mea", "aligner", "aligner,translated"):
    expected = load_config(dbp15k, pair + (f",{arg}" if arg else "")).to_dict()
    assert load_config(shortcut, arg).to_dict() == expected, arg
  mea = load_config(dbp15k, f"{pair},mea")
  assert mea.train.nca_weight > 0 and mea.train.iterative and mea.data.pair == pair


def test_dbp15k_config_rejects_unknown_variants():
  with pytest.raises(ValueError, match="translated' goes with 'aligner'"):
    load_config(os.path.join(ROOT, "configs", "dbp15k.py"), "ja_en,mea,translated")
  with pytest.raises(ValueError, match="use '<pair>"):
    load_config(os.path.join(ROOT, "configs", "dbp15k.py"), "ja_en,bset")


def notebook_commands():
  """The notebook's `!python -m selfmea_jax.main ...` lines, with its variables filled in."""
  with open(os.path.join(ROOT, "experiments", "colab_ja_en.ipynb"), encoding="utf-8") as f:
    cells = [("".join(c["source"]), c["cell_type"]) for c in json.load(f)["cells"]]
  variables, commands = {}, []
  for source, kind in cells:
    if kind != "code":
      continue
    source = source.replace("\\\n", " ")
    for line in source.splitlines():
      line = line.split("#")[0].strip()
      if "=" in line and line.split("=")[0].strip().isidentifier() and line.split("=")[1].strip()[:1] == '"':
        variables[line.split("=")[0].strip()] = line.split("=", 1)[1].strip().strip('"')
      if line.startswith("!python -m selfmea_jax.main"):
        commands.append(line[len("!python -m selfmea_jax.main") :].format(**variables).split())
  return commands


def test_colab_notebook_commands_parse_and_validate():
  commands = notebook_commands()
  assert commands, "the notebook runs no selfmea_jax.main command"
  check = (
    "import sys; from selfmea_jax import main, config_checks; main.parse_flags(sys.argv); "
    "config_checks.validate(main._CONFIG.value); print('VALID')"
  )
  for args in commands:
    result = subprocess.run(
      [sys.executable, "-c", check, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0 and "VALID" in result.stdout, (args, result.stderr[-500:])


@pytest.mark.parametrize("pair", ["zh_en", "ja_en", "fr_en"])
def test_aligner_configs_name_their_pipeline_and_use_original_names_unless_asked(pair):
  dbp15k = os.path.join(ROOT, "configs", "dbp15k.py")
  original, translated = (
    load_config(dbp15k, f"{pair},aligner"),
    load_config(dbp15k, f"{pair},aligner,translated"),
  )
  assert original.pipeline == "aligner" and original.data.pair == pair
  assert load_config(dbp15k, pair).pipeline == load_config(dbp15k, f"{pair},mea").pipeline == "trainer"
  # Original names only: read as written (uri), in Latin letters (romanised), in dictionary
  # glosses (glossed) or as Japanese kanji (read_as_japanese), never translated.
  sources = {"uri", "romanised", "glossed", "read_as_japanese"}
  assert {v.split(":")[1] for v in original.align.views} == sources
  # the translated setting reads the cased titles (the better translations, issue 17)
  added = set(translated.align.views) - set(original.align.views)
  assert {v.split(":")[1] for v in added} == {"translated_cased"}
  assert translated.align.trainer.name_view.endswith(":translated_cased")
  assert set(original.align.views) < set(translated.align.views)
  # and, its names stronger, weighs the propagated hops less and decodes on the CSLS kernel
  assert tuple(translated.align.hop_weights) == (1.0, 0.5, 0.5) != tuple(original.align.hop_weights)
  assert translated.decoding.sinkhorn_csls_weight == 1.0 > original.decoding.sinkhorn_csls_weight
  # its confidence weighs the neighbour support too (each setting's own fit on ja_en's pools)
  assert len(translated.decoding.calibration) == len(original.decoding.calibration) + 1 == 5
  assert original.workdir != translated.workdir


@pytest.mark.parametrize(
  "key,value,message",
  [
    ("train.batch_size", 0, "must be > 0"),
    ("train.num_epochs", -1, "must be >= 0"),
    ("decoding.scoring", "dot", "choose one of"),
    ("pipeline", "both", "choose one of"),
    ("train.learning_rate", float("nan"), "must be > 0"),
    ("train.temperature", float("inf"), "must be > 0"),
    ("data.valid_fraction", 1.5, "in .0, 1."),
    ("align.trained_view_weight", -1.0, "must be >= 0"),
    ("data.kind", "csv", "choose one of"),
    ("align.hop_weights", (), "hop_weights is empty"),
    ("align.views", ("bert:uri",), "unknown view encoder"),
    ("data.modalities", ("audio",), "unknown .'audio'."),
    ("decoding.calibration", (1.0, 2.0), r"\(\), 4 or 5 finite numbers"),
    ("decoding.calibration", (1.0, 2.0, float("nan"), 0.0), r"\(\), 4 or 5 finite numbers"),
  ],
)
def test_bad_config_values_are_one_line_errors(key, value, message):
  from configs import synthetic  # pylint: disable=import-outside-toplevel

  config = synthetic.get_config("aligner")
  config_files.set_key(config, key, value)
  with pytest.raises(InputError, match=message):
    config_checks.validate(config)


def run_cli(*args, cwd=ROOT):
  return subprocess.run(
    [sys.executable, "-m", "selfmea_jax.main", *args],
    cwd=cwd,
    capture_output=True,
    text=True,
    timeout=120,
    check=False,
  )


def test_cli_flag_errors_are_one_line(tmp_path):
  missing = run_cli("--config=configs/nope.py")
  assert missing.returncode == 2 and missing.stderr.strip() == "error: configs/nope.py: config file not found"
  typo = run_cli("--config=configs/synthetic.py", "--config.train.batchsize=3", f"--workdir={tmp_path}")
  assert typo.returncode == 2 and "Traceback" not in typo.stderr
  assert typo.stderr.strip().endswith('Did you mean "batch_size" instead of "batchsize"?')


def test_config_keys_are_listed_from_the_cli_and_configs_load_from_any_directory(tmp_path):
  listed = run_cli("--config_keys", cwd=tmp_path)
  assert listed.returncode == 0
  keys = {line.split(" = ")[0] for line in listed.stdout.splitlines()}
  flat = set(run_config.flatten(default.get_config().to_dict()))
  assert {k for k in flat if not k.startswith(("data.synthetic.", "train.nca_alpha."))} <= keys
  assert 'decoding.scoring = "cosine"  # cosine | csls | sinkhorn' in listed.stdout
  ran = run_cli(
    "--config=configs/synthetic.py",
    "--config.train.num_epochs=0",
    f"--workdir={tmp_path / 'w'}",
    cwd=tmp_path,
  )
  assert ran.returncode == 0, ran.stderr[-400:]


def test_the_notebook_uses_the_python_api_as_it_is():
  with open(os.path.join(ROOT, "experiments", "colab_ja_en.ipynb"), encoding="utf-8") as f:
    sources = ["".join(c["source"]) for c in json.load(f)["cells"] if c["cell_type"] == "code"]
  calls, attributes = set(), set()
  for source in sources:
    if "api." not in source:
      continue
    for node in ast.walk(ast.parse(source)):
      if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and getattr(node.func.value, "id", "") == "api"
      ):
        calls.add(node.func.attr)
        signature = inspect.signature(getattr(api, node.func.attr))
        signature.bind(*node.args, **{k.arg: None for k in node.keywords})  # the arguments exist
      if isinstance(node, ast.Attribute) and getattr(node.value, "id", "") == "table":
        attributes.add(node.attr)
  assert calls == {"align_triples", "align_folder"}
  fields = {f.name for f in dataclasses.fields(api.AlignmentTable)}
  assert attributes and attributes <= fields, attributes - fields
