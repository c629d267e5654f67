"""End-to-end behaviour on synthetic data: learning, resuming, checkpoints, CLI errors."""

import json
import os
import shutil
import signal
import subprocess
import sys

import jax
import numpy as np
import optax
import pytest

from selfmea_jax import checkpointing, run_config
from selfmea_jax.errors import InputError
from selfmea_jax.main import run
from selfmea_jax.matching import export
from selfmea_jax.train import build, input_pipeline, loop, sharding


def one_device_step(config, model, tx):
  mesh = sharding.data_mesh(jax.local_devices()[:1])
  return sharding.make_train_step(model, tx, build.loss_config(config), mesh)


def test_loss_decreases(small_config):
  _, inputs = input_pipeline.build(small_config)
  model = build.make_model(small_config, ())
  tx = optax.adam(small_config.train.learning_rate)
  state = build.init_state(small_config, model, tx, inputs)
  step = one_device_step(small_config, model, tx)
  per_epoch = input_pipeline.steps_per_epoch(small_config, inputs)
  losses = []
  for i in range(4 * per_epoch):
    state, m = step(state, input_pipeline.make_batch(small_config, inputs, i, per_epoch, np.zeros((0, 2))))
    losses.append(float(m["loss"]))
  assert np.isfinite(losses).all()
  assert np.mean(losses[-per_epoch:]) < 0.95 * np.mean(losses[:per_epoch])


def test_training_beats_untrained_encoder(small_run):
  results = small_run
  assert results["best"]["all/h1"] > results["untrained"]["all/h1"] + 0.05
  assert results["best"]["test/mrr"] > results["untrained"]["test/mrr"]
  assert results["untrained"]["all/h1"] == pytest.approx(results["names_only"]["all/h1"])


def test_checkpoint_round_trips_exactly(small_config, tmp_path):
  _, inputs = input_pipeline.build(small_config)
  model = build.make_model(small_config, ())
  tx = optax.adam(1e-3)
  state = build.init_state(small_config, model, tx, inputs)
  step = one_device_step(small_config, model, tx)
  state, _ = step(state, input_pipeline.make_batch(small_config, inputs, 0, 10, np.zeros((0, 2))))
  arrays = {"state": state, "best_params": jax.tree.map(np.asarray, state.params)}
  mngr = checkpointing.manager(str(tmp_path))
  checkpointing.save(mngr, 1, arrays, {"seeds": [[1, 2]], "best_valid": 0.5})
  mngr.wait_until_finished()
  mesh = sharding.data_mesh(jax.local_devices()[:1])  # the template: shapes only, nothing run
  template = build.restore_template(small_config, model, tx, inputs, mesh)
  _, restored, meta = checkpointing.restore(mngr, template)
  assert jax.tree.structure(restored) == jax.tree.structure(arrays)
  for a, b in zip(jax.tree.leaves(arrays), jax.tree.leaves(restored)):
    assert np.asarray(a).dtype == np.asarray(b).dtype
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert meta == {"seeds": [[1, 2]], "best_valid": 0.5}


def test_cli_train_eval_export(small_config, tmp_path, capsys):
  workdir = str(tmp_path)
  small_config.train.num_epochs = 1
  trained = run(small_config, workdir, "train")
  evaluated = run(small_config, workdir, "eval")
  assert evaluated["test/h1"] == pytest.approx(trained["best"]["test/h1"])
  with open(os.path.join(workdir, "alignment.tsv"), encoding="utf-8") as f:
    lines = f.read().splitlines()
  assert tuple(lines[0].split("\t")) == export.HEADER
  assert all(float(line.split("\t")[5]) >= 0 for line in lines[1:])
  assert len(lines) == 1 + len(input_pipeline.build(small_config)[0].kg1.names)
  os.remove(os.path.join(workdir, "alignment.tsv"))
  assert run(small_config, workdir, "export") == {"alignment": os.path.join(workdir, "alignment.tsv")}
  with open(os.path.join(workdir, "alignment.tsv"), encoding="utf-8") as f:
    assert f.read().splitlines() == lines  # export decodes the checkpoint as train mode did
  records = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"), encoding="utf-8")]
  assert any("loss" in r for r in records)
  assert os.path.getsize(os.path.join(workdir, "curves.png")) > 1000


def test_cli_reports_bad_input_without_traceback(small_config, tmp_path, capsys):
  small_config.data.kind = "dbp15k"
  small_config.data.data_dir = str(tmp_path)
  with pytest.raises(SystemExit) as exit_info:
    run(small_config, str(tmp_path / "w"), "train")
  assert exit_info.value.code == 2
  err = capsys.readouterr().err
  assert err.startswith("error: ") and "Traceback" not in err
  with pytest.raises(SystemExit):
    run(small_config, str(tmp_path / "none"), "eval")


def test_resuming_with_another_config_is_refused_until_fresh(small_config, tmp_path, capsys):
  workdir = str(tmp_path)
  small_config.train.num_epochs = 1
  first = run(small_config, workdir, "train")
  capsys.readouterr()
  small_config.train.learning_rate = 3e-4
  with pytest.raises(SystemExit) as exit_info:
    run(small_config, workdir, "train")
  assert exit_info.value.code == 2
  err = capsys.readouterr().err
  assert "train.learning_rate (0.001 -> 0.0003)" in err and "--fresh" in err
  with pytest.raises(SystemExit):
    run(small_config, workdir, "eval")  # evaluating another config's checkpoints: refused too
  again = run(small_config, workdir, "train", fresh=True)
  assert again["best_epoch"] >= 0 and again["train_seconds_this_run"] > 0
  assert first["names_only"] == again["names_only"]  # same data: the baseline is unchanged


def test_a_second_run_into_a_locked_workdir_stops(small_config, tmp_path, capsys):
  with run_config.workdir_lock(str(tmp_path)):
    with pytest.raises(SystemExit) as exit_info:
      run(small_config, str(tmp_path), "train")
  assert exit_info.value.code == 2
  assert f"another run (pid {os.getpid()}) is using this workdir" in capsys.readouterr().err


def test_a_nan_loss_stops_training_with_the_interval(small_config, tmp_path, monkeypatch):
  real_make_batch = input_pipeline.make_batch

  def poisoned(config, inputs, step, per_epoch, seeds, shard=(0, 1)):
    batch = real_make_batch(config, inputs, step, per_epoch, seeds, shard)
    if step >= 3:
      batch["kg1"]["neighbours"] = np.full_like(batch["kg1"]["neighbours"], np.nan)
    return batch

  monkeypatch.setattr(input_pipeline, "make_batch", poisoned)
  with pytest.raises(InputError, match="training diverged: the loss is nan in steps 1-5"):
    loop.train(small_config, str(tmp_path))  # (steps 4-5 of 1-5 are NaN)


def test_zero_epochs_evaluates_and_exports_the_untrained_model(small_config, tmp_path):
  small_config.train.num_epochs = 0
  results = run(small_config, str(tmp_path), "train")
  assert results["best_epoch"] == 0 and results["best"]["test/h1"] == results["untrained"]["test/h1"]
  assert os.path.exists(tmp_path / "alignment.tsv")


def test_a_corrupted_latest_checkpoint_falls_back_to_the_previous_one(small_config, tmp_path):
  workdir = str(tmp_path)
  full = loop.train(small_config, workdir).results
  mngr = checkpointing.manager(workdir)
  steps = sorted(mngr.all_steps())
  assert len(steps) == 2
  shutil.rmtree(os.path.join(workdir, "checkpoints", str(steps[-1]), "arrays"))  # a partial save
  resumed = loop.train(small_config, workdir).results
  assert resumed["best"] == full["best"] and resumed["last"] == full["last"]


@pytest.mark.slow
def test_real_sigint_then_rerun_ends_like_an_uninterrupted_run(small_run, tmp_path):
  root = os.path.join(os.path.dirname(__file__), "..")
  args = [
    "--config=configs/synthetic.py",
    "--config.data.synthetic.num_entities=600",  # the small
    "--config.train.num_epochs=3",
    "--config.train.log_every_steps=5",  # config,
    "--config.train.data_parallel=False",
    "--config.eval.valid_size=200",  # with no
    "--config.eval.encode_batch=256",
    "--config.train.checkpoint_every_steps=1000",
  ]  # saves due

  def results(workdir):
    with open(os.path.join(workdir, "results.json"), encoding="utf-8") as f:
      out = json.load(f)
    return out["best"], out["last"]

  def cli(workdir, interrupt_at=None):
    # The child restores Python's SIGINT handler (a shell's background job inherits an ignored
    # SIGINT) and, with interrupt_at, sends itself a real SIGINT when that step's batch is built,
    # mid-epoch and between periodic saves, so the signal lands inside training on any machine.
    trampoline = (
      "import os, runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
      "from selfmea_jax.train import input_pipeline\n"
      "real, at = input_pipeline.make_batch, int(sys.argv.pop(1))\n"
      "def make_batch(config, inputs, step, per_epoch, seeds, shard=(0, 1)):\n"
      "  if step == at: os.kill(os.getpid(), signal.SIGINT)\n"
      "  return real(config, inputs, step, per_epoch, seeds, shard)\n"
      "input_pipeline.make_batch = make_batch\n"
      "sys.argv[0] = 'selfmea_jax.main'\n"
      "runpy.run_module('selfmea_jax.main', run_name='__main__')\n"
    )
    return subprocess.run(
      [sys.executable, "-c", trampoline, str(-1 if interrupt_at is None else interrupt_at)]
      + args
      + [f"--workdir={workdir}"],
      cwd=root,
      capture_output=True,
      text=True,
      timeout=300,
      check=False,
    )

  cut = tmp_path / "cut"
  interrupted = cli(cut, interrupt_at=13)
  assert interrupted.returncode == 130 and "Traceback" not in interrupted.stderr
  last = [line for line in interrupted.stderr.splitlines() if line.startswith("interrupted: ")]
  assert last == [f"interrupted: checkpoint at step 13 in {cut}; rerun the same command to resume"]
  assert checkpointing.manager(str(cut)).latest_step() == 13  # no periodic save was due
  assert cli(cut).returncode == 0
  assert results(cut) == (small_run["best"], small_run["last"])  # = the in-process run


def _interrupt_a_batch(epochs: float):
  """Ctrl-C while the batch of the step `epochs` epochs in is built: the steps before it completed."""

  def patch(monkeypatch, per_epoch):
    step = int(epochs * per_epoch)
    real = input_pipeline.make_batch

    def interrupting(config, inputs, at, per_epoch, seeds, shard=(0, 1)):
      if at == step:
        raise KeyboardInterrupt
      return real(config, inputs, at, per_epoch, seeds, shard)

    monkeypatch.setattr(input_pipeline, "make_batch", interrupting)
    return step, None  # saved on interrupt, not only at the periodic steps (every 7)

  return patch


def _interrupt_an_epoch_end(monkeypatch, per_epoch):
  """Ctrl-C after the first epoch-end evaluation's work: it is redone on resume."""
  real_end = loop.end_of_epoch

  def interrupted_once(*args, **kwargs):
    real_end(*args, **kwargs)
    raise KeyboardInterrupt

  monkeypatch.setattr(loop, "end_of_epoch", interrupted_once)
  return per_epoch, None


def _interrupt_a_save(monkeypatch, per_epoch):
  """Ctrl-C inside the save at step 14: returns at once (no second save), step 7 is kept."""
  real_save, calls = checkpointing.save, []

  def interrupted_save(mngr, step, arrays, meta):
    calls.append(step)
    if step == 14:
      raise KeyboardInterrupt
    real_save(mngr, step, arrays, meta)

  monkeypatch.setattr(checkpointing, "save", interrupted_save)
  return 7, lambda: calls == [7, 14]


def _two_real_ctrl_c_inside_a_save(monkeypatch, per_epoch):
  """Two real SIGINTs while the checkpoint of step 14 is written: the save completes."""
  real_save = checkpointing.save

  def save_under_fire(mngr, step, arrays, meta):
    if step == 14:
      os.kill(os.getpid(), signal.SIGINT)
      os.kill(os.getpid(), signal.SIGINT)
    real_save(mngr, step, arrays, meta)

  monkeypatch.setattr(checkpointing, "save", save_under_fire)
  return 14, None


def _real_ctrl_c_during_the_first_compile(monkeypatch, per_epoch):
  """A real SIGINT while the step is first traced and compiled: the step completes, is kept."""
  real_make = sharding.make_train_step

  def make(*args, **kwargs):
    step = real_make(*args, **kwargs)
    calls = []

    def first_call_interrupted(state, batch):
      if not calls:
        calls.append(1)
        os.kill(os.getpid(), signal.SIGINT)
      return step(state, batch)

    return first_call_interrupted

  monkeypatch.setattr(sharding, "make_train_step", make)
  return 1, None


INTERRUPTIONS = {
  "a batch mid-epoch": _interrupt_a_batch(1.5),
  "a batch at an epoch boundary": _interrupt_a_batch(2),
  "an epoch-end evaluation": _interrupt_an_epoch_end,
  "a checkpoint save": _interrupt_a_save,
  "two real Ctrl-C in a save": _two_real_ctrl_c_inside_a_save,
  "a real Ctrl-C in the first compile": _real_ctrl_c_during_the_first_compile,
}


@pytest.mark.parametrize("where", list(INTERRUPTIONS))
def test_an_interrupted_run_resumes_to_identical_results(
  where, small_config, small_run, tmp_path, monkeypatch
):
  workdir = str(tmp_path)
  per_epoch = input_pipeline.steps_per_epoch(small_config, input_pipeline.build(small_config)[1])
  expected_step, check = INTERRUPTIONS[where](monkeypatch, per_epoch)
  with pytest.raises(KeyboardInterrupt):
    loop.train(small_config, workdir)
  monkeypatch.undo()
  assert checkpointing.manager(workdir).latest_step() == expected_step
  assert check is None or check()
  resumed = loop.train(small_config, workdir).results
  assert resumed["best"] == small_run["best"] and resumed["last"] == small_run["last"]
