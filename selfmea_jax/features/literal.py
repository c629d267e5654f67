"""Literal name channel: character n-gram TF-IDF, randomly projected to a fixed width.

Catches what a sentence encoder misses between two KGs' names: transliterations, shared
Latin strings, numbers, near-identical spellings. The TF-IDF vocabulary and IDF weights are
fitted on both KGs' names together (no labels involved); a seeded sparse random projection
(Johnson-Lindenstrauss) then maps the [n, |vocab|] sparse rows to dense [n, dim] rows whose
dot products approximate the TF-IDF cosines.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.random_projection import SparseRandomProjection

from selfmea_jax.features.text_encoders import l2_normalise


def literal_features(
  names1: Sequence[str],
  names2: Sequence[str],
  dim: int = 1024,
  ngram_range: tuple[int, int] = (2, 3),
  seed: int = 0,
):
  """Names of KG1 [n1] and KG2 [n2] -> ([n1, dim], [n2, dim]) float32 unit rows.

  A name with no n-gram (empty) gets a zero row: it is similar to nothing.
  """
  vectoriser = TfidfVectorizer(
    analyzer="char_wb", ngram_range=tuple(ngram_range), lowercase=True, sublinear_tf=True, dtype=np.float32
  )
  vectoriser.fit(list(names1) + list(names2))
  sparse = [vectoriser.transform(list(names)) for names in (names1, names2)]
  vocab = sparse[0].shape[1]
  if vocab <= dim:  # small vocabulary: exact TF-IDF rows, zero-padded to the fixed width
    return tuple(np.pad(x.toarray(), ((0, 0), (0, dim - vocab))).astype(np.float32) for x in sparse)
  projection = SparseRandomProjection(n_components=dim, dense_output=True, random_state=seed)
  projection.fit(sparse[0][:1])  # draws the [dim, vocab] matrix; needs only the width
  return tuple(l2_normalise(np.asarray(projection.transform(x), np.float32)) for x in sparse)
