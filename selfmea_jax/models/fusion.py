"""SelfMEA multi-modal entity encoder: per-modality embeddings and softmax-weighted fusion."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from selfmea_jax.models.selfkg import SelfKGEncoder, l2_normalise

GRAPH = "graph"
EXTRA_MODALITIES = ("relation", "attribute", "image")  # besides the graph/name channel


class EntityEncoder(nn.Module):
  """Inputs -> {modality: [B, d_m] unit rows, 'joint': [B, sum_m d_m] unit rows}.

  inputs: 'neighbours' [B, K, D] and 'mask' [B, K] for the SelfKG graph/name embedding;
  optional 'relation' [B, R], 'attribute' [B, A], 'image' [B, I] raw features, each
  projected linearly (F_m = W_m x_m + b_m). Fusion (SelfMEA eq. 5): joint =
  normalise(concat_m softmax(w)_m * F_m) with learnable modality weights w.
  dtype: compute dtype of the dense layers (bfloat16 on accelerators); parameters and the
  unit-norm outputs stay float32.
  """

  extra_modalities: tuple[str, ...] = ()
  projection_dim: int = 128
  dropout_rate: float = 0.3
  identity_init: bool = True
  neighbour_scale: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, inputs: Mapping[str, jax.Array], deterministic: bool = True):
    encoder = SelfKGEncoder(
      self.dropout_rate, self.identity_init, self.neighbour_scale, self.dtype, name="selfkg"
    )
    out = {GRAPH: encoder(inputs["neighbours"], inputs["mask"], deterministic)}
    for modality in self.extra_modalities:
      projected = nn.Dense(self.projection_dim, dtype=self.dtype, name=f"{modality}_projection")(
        inputs[modality]
      )
      out[modality] = l2_normalise(projected.astype(jnp.float32))
    names = (GRAPH,) + tuple(self.extra_modalities)
    if len(names) == 1:
      out["joint"] = out[GRAPH]
      return out
    logits = self.param("modality_logits", nn.initializers.zeros, (len(names),))
    weights = jax.nn.softmax(logits)
    out["joint"] = l2_normalise(jnp.concatenate([w * out[m] for w, m in zip(weights, names)], -1))
    return out


def modality_weights(params, extra_modalities: tuple[str, ...]) -> dict[str, float]:
  """The fusion's softmax weights by modality ({} for a single-modality model)."""
  logits = params["params"].get("modality_logits")
  if logits is None:
    return {}
  return dict(zip((GRAPH,) + tuple(extra_modalities), map(float, jax.nn.softmax(logits))))
