"""Metric writers of a training run: TensorBoard event files (tensorboardX: no TensorFlow)
and <workdir>/metrics.jsonl (read by plots.py and by people), with clu's MetricWriter
methods (write_scalars, write_hparams, flush, close). clu itself is not used: its
metric_writers package imports TensorFlow.

  tensorboard --logdir <workdir>/tensorboard
"""

from __future__ import annotations

from collections.abc import Mapping
import json
import os

import jax
import ml_collections
import numpy as np

from selfmea_jax import files, run_config
from selfmea_jax.errors import warn


def _hparam_value(value):
  if isinstance(value, (bool, int, float, str)):
    return value
  return str(value)


def flatten_config(config: ml_collections.ConfigDict) -> dict:
  """{'train.batch_size': 64, ...} of a ConfigDict (sequences as strings), for hparams."""
  return {key: _hparam_value(value) for key, value in run_config.flatten(config.to_dict()).items()}


class MetricWriter:
  """Writes scalars to TensorBoard and metrics.jsonl under `workdir`.

  resume_step: the checkpoint step a resumed run starts from; records written after it by
  the interrupted run are dropped from both outputs (None for a fresh run).
  """

  def __init__(self, workdir: str, resume_step: int | None = None, enabled: bool = True):
    # lazy: tensorboardX (protobuf) is loaded only when a writer is made
    from tensorboardX import SummaryWriter

    self.enabled = enabled  # False: every method does nothing (processes other than 0)
    if not enabled:
      return

    self._jsonl = os.path.join(workdir, "metrics.jsonl")
    if resume_step is None:
      if os.path.exists(self._jsonl):
        os.remove(self._jsonl)
    else:
      _truncate_jsonl(self._jsonl, resume_step)
    self._tensorboard = SummaryWriter(
      os.path.join(workdir, "tensorboard"), purge_step=resume_step, flush_secs=30
    )

  def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
    """One metrics.jsonl record {'step': step, **scalars}; every number also to TensorBoard."""
    if not self.enabled:
      return
    record = {"step": int(step), **{k: _json_value(v) for k, v in scalars.items()}}
    try:
      with open(self._jsonl, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
    except OSError as e:  # name the file (a failed write() carries no path)
      raise OSError(e.errno, e.strerror, e.filename or self._jsonl) from None
    for key, value in record.items():
      if key != "step" and isinstance(value, (int, float)):
        self._tensorboard.add_scalar(key, value, global_step=int(step))

  def write_hparams(self, hparams: Mapping[str, object]) -> None:
    """The run's hyper-parameters (TensorBoard's HPARAMS tab)."""
    # lazy: tensorboardX (protobuf) is loaded only when a writer is made
    from tensorboardX.summary import hparams as hparams_summary

    if not self.enabled:
      return

    for summary in hparams_summary({k: _hparam_value(v) for k, v in hparams.items()}, {}):
      self._tensorboard.file_writer.add_summary(summary)

  def flush(self) -> None:
    if self.enabled:
      self._tensorboard.flush()

  def close(self) -> None:
    if self.enabled:
      try:
        self._tensorboard.close()
      except OSError as e:  # a full disk: the event file's last records are lost, the run is not
        warn(
          f"{os.path.join(os.path.dirname(self._jsonl), 'tensorboard')}: not closed cleanly ({e.strerror})"
        )


def _json_value(value):
  value = np.asarray(value).item() if isinstance(value, (np.ndarray, np.generic, jax.Array)) else value
  return value


def read_records(path: str) -> list[dict]:
  """The records of a metrics.jsonl; a line that does not parse (the partial last line a full
  disk or a kill leaves) is dropped with a warning."""
  if not os.path.exists(path):
    return []
  records, dropped = [], 0
  with open(path, encoding="utf-8", errors="replace") as f:
    for line in f:
      if line.strip():
        try:
          records.append(json.loads(line))
        except json.JSONDecodeError:
          dropped += 1
  if dropped:
    warn(f"{path}: {dropped} unreadable line(s) dropped (a partial write)")
  return records


def _truncate_jsonl(path: str, step: int) -> None:
  """Keeps the records up to `step` (later ones were written before an interruption)."""
  if os.path.exists(path):
    kept = [r for r in read_records(path) if r.get("step", 0) <= step]
    files.write_text(path, "".join(json.dumps(r) + "\n" for r in kept))


class IntervalMeans:
  """Averages step metrics over a logging interval without a device sync per step: the
  per-step dicts of device scalars are kept and fetched together by `pop`."""

  def __init__(self):
    self._steps = []

  def add(self, metrics: Mapping[str, jax.Array]) -> None:
    self._steps.append(metrics)

  def pop(self) -> dict[str, float]:
    """{'name': mean over the interval} (a NaN/Inf step makes its mean non-finite)."""
    fetched = jax.device_get(self._steps)
    self._steps = []
    return {k: float(np.mean([m[k] for m in fetched])) for k in fetched[0]} if fetched else {}
