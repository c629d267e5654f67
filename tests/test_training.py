"""End-to-end behaviour on synthetic data: learning, resuming, checkpoints, CLI errors."""

import json
import os

import jax
import numpy as np
import optax
import pytest

from selfmea_jax import checkpointing, input_pipeline
from selfmea_jax.train import build, loop, sharding


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


def test_interrupted_run_resumes_to_identical_results(small_config, small_run, tmp_path):
  full = small_run
  per_epoch = 10  # 600 entities -> ~540 per KG, batch 64
  interrupted = small_config.copy_and_resolve_references()
  interrupted.train.num_epochs = 2  # "killed" after epoch 2 (last checkpoint at step 20)
  loop.train_and_evaluate(interrupted, str(tmp_path / "resumed"))
  resumed = loop.train_and_evaluate(small_config, str(tmp_path / "resumed"))
  assert resumed["best"] == full["best"] and resumed["last"] == full["last"], per_epoch


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
  from selfmea_jax.main import run

  workdir = str(tmp_path)
  small_config.train.num_epochs = 1
  trained = run(small_config, workdir, "train")
  evaluated = run(small_config, workdir, "eval")
  assert evaluated["test/h1"] == pytest.approx(trained["best"]["test/h1"])
  with open(os.path.join(workdir, "alignment.tsv"), encoding="utf-8") as f:
    lines = f.read().splitlines()
  assert lines[0].split("\t") == ["kg1_id", "kg1_name", "kg2_id", "kg2_name", "cosine", "margin", "mutual"]
  assert all(float(line.split("\t")[5]) >= 0 for line in lines[1:])
  assert len(lines) == 1 + len(input_pipeline.build(small_config)[0].kg1.names)
  records = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"), encoding="utf-8")]
  assert any("loss" in r for r in records)
  assert os.path.getsize(os.path.join(workdir, "curves.png")) > 1000


def test_cli_reports_bad_input_without_traceback(small_config, tmp_path, capsys):
  from selfmea_jax.main import run

  small_config.data.kind = "dbp15k"
  small_config.data.data_dir = str(tmp_path)
  with pytest.raises(SystemExit) as exit_info:
    run(small_config, str(tmp_path / "w"), "train")
  assert exit_info.value.code == 2
  err = capsys.readouterr().err
  assert err.startswith("error: ") and "Traceback" not in err
  with pytest.raises(SystemExit):
    run(small_config, str(tmp_path / "none"), "eval")


def test_ctrl_c_checkpoints_and_resume_matches(small_config, small_run, tmp_path, monkeypatch):
  full = small_run
  real_make_batch = input_pipeline.make_batch

  def interrupting(config, inputs, step, per_epoch, seeds, shard=(0, 1)):
    if step == 13:
      raise KeyboardInterrupt
    return real_make_batch(config, inputs, step, per_epoch, seeds, shard)

  monkeypatch.setattr(input_pipeline, "make_batch", interrupting)
  with pytest.raises(KeyboardInterrupt):
    loop.train_and_evaluate(small_config, str(tmp_path / "ctrl_c"))
  monkeypatch.setattr(input_pipeline, "make_batch", real_make_batch)
  mngr = checkpointing.manager(str(tmp_path / "ctrl_c"))
  assert mngr.latest_step() == 13  # saved on interrupt, not only at the periodic step 7
  resumed = loop.train_and_evaluate(small_config, str(tmp_path / "ctrl_c"))
  assert resumed["best"] == full["best"] and resumed["last"] == full["last"]


def test_resuming_with_another_config_is_refused_until_fresh(small_config, tmp_path, capsys):
  from selfmea_jax.main import run

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
  from selfmea_jax import run_config  # pylint: disable=import-outside-toplevel
  from selfmea_jax.main import run  # pylint: disable=import-outside-toplevel

  with run_config.workdir_lock(str(tmp_path)):
    with pytest.raises(SystemExit) as exit_info:
      run(small_config, str(tmp_path), "train")
  assert exit_info.value.code == 2
  assert f"another run (pid {os.getpid()}) is using this workdir" in capsys.readouterr().err


def test_a_nan_loss_stops_training_with_the_interval(small_config, tmp_path, monkeypatch):
  from selfmea_jax.errors import InputError  # pylint: disable=import-outside-toplevel

  real_make_batch = input_pipeline.make_batch

  def poisoned(config, inputs, step, per_epoch, seeds, shard=(0, 1)):
    batch = real_make_batch(config, inputs, step, per_epoch, seeds, shard)
    if step >= 3:
      batch["kg1"]["neighbours"] = np.full_like(batch["kg1"]["neighbours"], np.nan)
    return batch

  monkeypatch.setattr(input_pipeline, "make_batch", poisoned)
  with pytest.raises(InputError, match="training diverged: the loss is nan in steps 1-5"):
    loop.train_and_evaluate(small_config, str(tmp_path))  # (steps 4-5 of 1-5 are NaN)


def test_zero_epochs_evaluates_and_exports_the_untrained_model(small_config, tmp_path):
  from selfmea_jax.main import run  # pylint: disable=import-outside-toplevel

  small_config.train.num_epochs = 0
  results = run(small_config, str(tmp_path), "train")
  assert results["best_epoch"] == 0 and results["best"]["test/h1"] == results["untrained"]["test/h1"]
  assert os.path.exists(tmp_path / "alignment.tsv")


def test_a_corrupted_latest_checkpoint_falls_back_to_the_previous_one(small_config, tmp_path):
  import shutil  # pylint: disable=import-outside-toplevel

  workdir = str(tmp_path)
  full = loop.train_and_evaluate(small_config, workdir)
  mngr = checkpointing.manager(workdir)
  steps = sorted(mngr.all_steps())
  assert len(steps) == 2
  shutil.rmtree(os.path.join(workdir, "checkpoints", str(steps[-1]), "arrays"))  # a partial save
  resumed = loop.train_and_evaluate(small_config, workdir)
  assert resumed["best"] == full["best"] and resumed["last"] == full["last"]


def test_ctrl_c_during_an_epoch_end_evaluation_is_redone_on_resume(
  small_config, small_run, tmp_path, monkeypatch
):
  full = small_run
  real_end = loop.end_of_epoch

  def interrupted_once(*args, **kwargs):
    real_end(*args, **kwargs)  # the evaluation's work is done, then lost to the interrupt
    raise KeyboardInterrupt

  monkeypatch.setattr(loop, "end_of_epoch", interrupted_once)
  with pytest.raises(KeyboardInterrupt):
    loop.train_and_evaluate(small_config, str(tmp_path / "cut"))
  monkeypatch.setattr(loop, "end_of_epoch", real_end)
  per_epoch = input_pipeline.steps_per_epoch(small_config, input_pipeline.build(small_config)[1])
  assert checkpointing.manager(str(tmp_path / "cut")).latest_step() == per_epoch
  resumed = loop.train_and_evaluate(small_config, str(tmp_path / "cut"))
  assert resumed["best"] == full["best"] and resumed["last"] == full["last"]


@pytest.mark.slow
def test_real_sigint_then_rerun_ends_like_an_uninterrupted_run(small_run, tmp_path):
  import subprocess  # pylint: disable=import-outside-toplevel
  import sys  # pylint: disable=import-outside-toplevel

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
      "from selfmea_jax import input_pipeline\n"
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
  assert interrupted.returncode != 0 and "interrupted: checkpoint at step 13" in interrupted.stderr
  assert checkpointing.manager(str(cut)).latest_step() == 13  # no periodic save was due
  assert cli(cut).returncode == 0
  assert results(cut) == (small_run["best"], small_run["last"])  # = the in-process run


def test_ctrl_c_inside_a_save_returns_at_once_and_resumes(small_config, small_run, tmp_path, monkeypatch):
  full = small_run
  real_save = checkpointing.save
  calls = []

  def interrupted_save(mngr, step, arrays, meta):
    calls.append(step)
    if step == 14:
      raise KeyboardInterrupt
    real_save(mngr, step, arrays, meta)

  monkeypatch.setattr(checkpointing, "save", interrupted_save)
  with pytest.raises(KeyboardInterrupt):
    loop.train_and_evaluate(small_config, str(tmp_path / "cut"))
  assert calls == [7, 14]  # no second save (nothing left to wait on) after the interrupt
  monkeypatch.setattr(checkpointing, "save", real_save)
  resumed = loop.train_and_evaluate(small_config, str(tmp_path / "cut"))
  assert resumed["best"] == full["best"] and resumed["last"] == full["last"]
