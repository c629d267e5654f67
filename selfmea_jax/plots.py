"""Training curves from metrics.jsonl: loss and H@1 (validation / test) per epoch."""

from __future__ import annotations

import os

from selfmea_jax.metric_writers import read_records


def plot_curves(workdir: str) -> str | None:
  """Writes <workdir>/curves.png; returns its path (None without matplotlib or data)."""
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return None
  try:
    import matplotlib  # lazy: optional heavy dependency: loaded only to draw

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: optional heavy dependency: loaded only to draw
  except ImportError:
    return None
  records = read_records(path)
  steps = [r for r in records if "loss" in r]
  evals = [r for r in records if "epoch" in r]
  fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
  left.plot([r["step"] for r in steps], [r["loss"] for r in steps], lw=1)
  left.set(xlabel="step", ylabel="training loss", title="loss")
  for key, label in (
    ("valid/all/h1", "validation H@1 (all KG2)"),
    ("test/h1", "test H@1 (test cands)"),
    ("all/h1", "test H@1 (all KG2)"),
  ):
    shown = [r for r in evals if key in r]  # a run without validation (or test) links has none
    if shown:
      right.plot([r["epoch"] for r in shown], [r[key] for r in shown], marker="o", label=label)
  if any("seeds/precision" in r for r in evals):
    seeded = [r for r in evals if "seeds/precision" in r]
    right.plot(
      [r["epoch"] for r in seeded],
      [r["seeds/precision"] for r in seeded],
      "k--",
      label="pseudo-seed precision",
    )
  right.set(xlabel="epoch (0 = untrained)", ylabel="H@1", title="alignment accuracy")
  if right.get_legend_handles_labels()[0]:
    right.legend(fontsize=8)
  fig.tight_layout()
  out = os.path.join(workdir, "curves.png")
  fig.savefig(out, dpi=110)
  plt.close(fig)
  return out
