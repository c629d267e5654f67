"""Per-KG model inputs and the host-side gather of a batch (works on memory-mapped arrays)."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class GraphInputs:
  """Everything the encoder reads for one KG, row = local entity index.

  names: [N, D] name embeddings (may be a np.memmap, used in place, never copied).
  name_rows: optional [n] row of `names` for each local entity (None = identity), so a
    cache stored in source-file order is read through the shuffled local indices.
  neighbour_ids: [n, K] int32, slot 0 = centre.  neighbour_mask: [n, K] bool.
  extras: modality -> [n, d_m] raw features of the extra modalities (relation / attribute
    bags, image features).
  """

  names: np.ndarray
  neighbour_ids: np.ndarray
  neighbour_mask: np.ndarray
  extras: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
  name_rows: np.ndarray | None = None

  @property
  def num_entities(self) -> int:
    return self.neighbour_ids.shape[0]

  def name_matrix(self) -> np.ndarray:
    """[n, D] name embeddings in local order (materialised; for baselines)."""
    rows = np.arange(self.num_entities) if self.name_rows is None else self.name_rows
    return np.asarray(self.names[rows], dtype=np.float32)

  def gather(self, ids: np.ndarray) -> dict[str, np.ndarray]:
    """ids [B] -> {'neighbours': [B, K, D] f32, 'mask': [B, K], modality: [B, d_m] f32}."""
    slots = self.neighbour_ids[ids]
    unique, inverse = np.unique(slots, return_inverse=True)  # read each row once (memmap friendly)
    table_rows = unique if self.name_rows is None else self.name_rows[unique]
    rows = np.asarray(self.names[table_rows], dtype=np.float32)
    batch = {"neighbours": rows[inverse.reshape(slots.shape)], "mask": self.neighbour_mask[ids]}
    for modality, table in self.extras.items():
      batch[modality] = np.asarray(table[ids], dtype=np.float32)
    return batch
