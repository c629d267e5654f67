"""The one alignment writer: a decoded KG1 -> KG2 alignment as TSV (trainer and aligner)."""

from __future__ import annotations

import numpy as np

from selfmea_jax import files
from selfmea_jax.data.kg import AlignmentTask
from selfmea_jax.matching.decoding import Decoded, confident_pairs

HEADER = ("kg1_id", "kg1_name", "kg2_id", "kg2_name", "cosine", "margin", "mutual", "confidence", "decision")
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def tsv_field(text: str) -> str:
  """A field that cannot split a row: backslash, tab, newline and CR escaped (\\t, \\n, ...)."""
  return str(text).translate(_ESCAPES)


def alignment_rows(
  task: AlignmentTask, decoded: Decoded, decided: tuple[np.ndarray, np.ndarray]
) -> list[tuple]:
  """One row per KG1 entity: ids and names of both sides, the plain cosine of the pair, the
  rank-1 margin (best minus second-best candidate score of the row), whether the pair is
  also mutual best under the candidate scores, the confidence (matching/confidence.py: a
  probability) and the decision: decided is the (confidence [n1], match [n1]) of
  matching/confidence.decisions. An unmatched row has an empty KG2 side and confidence 0."""
  graph = decoded.graph
  cosine = dict(zip(graph.rows.astype(np.int64) * graph.num_cols + graph.cols, decoded.cosine.tolist()))
  mutual = {tuple(p) for p in confident_pairs(decoded).tolist()}
  confidence, match = decided
  rows = []
  for i, (j, margin) in enumerate(zip(decoded.assignment.tolist(), graph.row_margins.tolist())):
    left = (task.kg1.uris[i], task.kg1.names[i])
    decision = "match" if match[i] else "no_match"
    if j < 0:
      rows.append((*left, "", "", "", f"{margin:.6f}", "0", "0.000000", decision))
    else:
      pair = (task.kg2.uris[j], task.kg2.names[j], f"{cosine[i * graph.num_cols + j]:.6f}")
      flags = (str(int((i, j) in mutual)), f"{confidence[i]:.6f}", decision)
      rows.append((*left, *pair, f"{margin:.6f}", *flags))
  return rows


def write_alignment(
  task: AlignmentTask, decoded: Decoded, path: str, decided: tuple[np.ndarray, np.ndarray]
) -> str:
  """Writes `path`: alignment_rows as TSV with a header, atomically. Returns path."""
  rows = [HEADER, *alignment_rows(task, decoded, decided)]
  return files.write_text(path, "".join("\t".join(map(tsv_field, row)) + "\n" for row in rows))
