"""Figures of an image embedder: triplet accuracy, retrieval mAP / P@5 / R@5.

Pure numpy over the embeddings of one split (``embed_split`` computes them
with the saved image -> unit vector model).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mmvision.metrics.embedding import query_scores, triplet_accuracy


def fixed_triplets(labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``[m, 3]`` row triplets (anchor, positive, negative), the same every call.

    Anchors come from classes with 2+ rows; ``m`` is ``n`` or 0 when no
    class has two rows or there is a single class.
    """
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    ok = np.isin(labels, classes[counts >= 2])
    if not ok.any() or len(classes) < 2 or n < 1:
        return np.zeros((0, 3), np.int64)
    rng = np.random.default_rng(seed)
    anchors = rng.choice(np.flatnonzero(ok), size=int(n))
    out = []
    for a in anchors:
        same = np.flatnonzero((labels == labels[a]) & (np.arange(len(labels)) != a))
        other = np.flatnonzero(labels != labels[a])
        out.append((a, rng.choice(same), rng.choice(other)))
    return np.asarray(out, np.int64)


def embed_split(model: Any, df, image_size: int, batch_size: int) -> np.ndarray:
    """Embeddings ``[n, dim]`` of the rows of ``df`` (in order)."""
    from mmvision.data import pipelines

    ds = pipelines.classification_dataset(
        df, image_size=image_size, batch_size=batch_size, fields=("image",),
        label_mode="none", shuffle=False,
    )  # fmt: skip
    parts = [np.asarray(model(x, training=False)) for x in ds]
    return np.concatenate(parts) if parts else np.zeros((0, 1), np.float32)


def split_figures(model, df, cfg, seed: int) -> dict[str, float]:
    """``triplet_acc``, ``map``, ``p5`` and ``recall5`` of one split."""
    d = cfg.data
    emb = embed_split(model, df, d.image_size, d.eval_batch_size)
    if len(emb) != len(df):
        raise ValueError(f"{len(df) - len(emb)} images of the split could not be read")
    labels = df["label"].to_numpy()
    trips = fixed_triplets(labels, d.val_triplets, seed)
    return {"triplet_acc": triplet_accuracy(emb, trips)} | query_scores(
        emb, labels, 5
    )
