"""Training curves from metrics.jsonl: loss and H@1 (validation / test) per epoch."""

from __future__ import annotations

import json
import os


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
  with open(path, encoding="utf-8") as f:
    records = [json.loads(line) for line in f if line.strip()]
  steps = [r for r in records if "loss" in r]
  evals = [r for r in records if "test/h1" in r]
  fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
  left.plot([r["step"] for r in steps], [r["loss"] for r in steps], lw=1)
  left.set(xlabel="step", ylabel="training loss", title="loss")
  for key, label in (
    ("valid/all/h1", "validation H@1 (all KG2)"),
    ("test/h1", "test H@1 (test cands)"),
    ("all/h1", "test H@1 (all KG2)"),
  ):
    right.plot([r.get("epoch", 0) for r in evals], [r[key] for r in evals], marker="o", label=label)
  if any("seeds/precision" in r for r in evals):
    seeded = [r for r in evals if "seeds/precision" in r]
    right.plot(
      [r["epoch"] for r in seeded],
      [r["seeds/precision"] for r in seeded],
      "k--",
      label="pseudo-seed precision",
    )
  right.set(xlabel="epoch (0 = untrained)", ylabel="H@1", title="alignment accuracy")
  right.legend(fontsize=8)
  fig.tight_layout()
  out = os.path.join(workdir, "curves.png")
  fig.savefig(out, dpi=110)
  plt.close(fig)
  return out
