"""The nearest-neighbour captioning baseline: the caption of the closest
training image by cosine similarity of image features."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def nearest_neighbour_captions(
    train_feats: np.ndarray,
    train_captions: Sequence[str],
    query_feats: np.ndarray,
    chunk: int = 1024,
) -> list[str]:
    """For each query row, the caption of the most similar training row."""
    t, q = unit_rows(train_feats), unit_rows(query_feats)
    out: list[str] = []
    for i in range(0, len(q), chunk):
        nn = np.argmax(q[i : i + chunk] @ t.T, axis=1)
        out.extend(train_captions[j] for j in nn)
    return out
