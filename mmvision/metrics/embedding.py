"""Metrics of an embedding: triplet accuracy, positive / negative pair
distances and the ROC of a distance threshold ("same class if closer than
t"), and per-query retrieval figures with each row querying the others.

Distances are Euclidean; for unit vectors ``d^2 = 2 - 2 cos``, so every
ranking equals the cosine ranking.

Example:
>>> import numpy as np
>>> emb = np.array([[1.0, 0], [0.9, 0.1], [0, 1.0], [0.1, 0.9]])
>>> labels = np.array([0, 0, 1, 1])
>>> triplet_accuracy(emb, np.array([[0, 1, 2], [2, 3, 0]]))
1.0
>>> distance_roc(emb, labels)["auc"]
1.0
"""

from __future__ import annotations

import numpy as np

from mmvision.metrics.retrieval import average_precision, precision_at_k, recall_at_k


def pairwise_distances(emb: np.ndarray) -> np.ndarray:
    """``[n, n]`` Euclidean distances of the rows of ``emb`` (float64)."""
    e = np.asarray(emb, np.float64)
    sq = (e**2).sum(1)
    return np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * e @ e.T, 0.0))


def triplet_accuracy(emb: np.ndarray, triplets: np.ndarray) -> float:
    """Fraction of row triplets ``(a, p, n)`` with ``D(a, p) < D(a, n)``.

    0.0 for no triplets.
    """
    t = np.asarray(triplets, np.int64).reshape(-1, 3)
    if len(t) == 0:
        return 0.0
    e = np.asarray(emb, np.float64)
    a, p, n = e[t[:, 0]], e[t[:, 1]], e[t[:, 2]]
    return float(np.mean(np.linalg.norm(a - p, axis=1) < np.linalg.norm(a - n, axis=1)))


def pair_distances(
    emb: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Distances of every positive pair (same label) and every negative pair,
    each unordered pair once: ``(positive [P], negative [N])``."""
    labels = np.asarray(labels)
    dist = pairwise_distances(emb)
    i, j = np.triu_indices(len(labels), k=1)
    same = labels[i] == labels[j]
    return dist[i, j][same], dist[i, j][~same]


def distance_roc(emb: np.ndarray, labels: np.ndarray) -> dict:
    """ROC of "same class when the distance is below a threshold".

    Returns ``{"fpr", "tpr", "thresholds", "auc", "positive", "negative"}``
    (scikit-learn's ``roc_curve`` on the negated distances; thresholds are
    distances; ``positive`` / ``negative`` are the pair distances of
    ``pair_distances``). ``auc`` is NaN when there are no positive or no
    negative pairs.
    """
    from sklearn.metrics import auc, roc_curve

    pos, neg = pair_distances(emb, labels)
    pairs = {"positive": pos, "negative": neg}
    if len(pos) == 0 or len(neg) == 0:
        return {"fpr": [], "tpr": [], "thresholds": [], "auc": float("nan")} | pairs
    y = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
    score = -np.concatenate([pos, neg])
    fpr, tpr, thr = roc_curve(y, score)
    roc = {"fpr": fpr, "tpr": tpr, "thresholds": -thr, "auc": float(auc(fpr, tpr))}
    return roc | pairs


def query_scores(emb: np.ndarray, labels: np.ndarray, k: int = 5) -> dict[str, float]:
    """Each row queries the rest: mean AP, P@``k`` and recall@``k``.

    Relevant results share the query's label; a query without any is
    skipped. Returns ``{"map", "p{k}", "recall{k}"}`` (0.0 with no query).
    """
    labels = np.asarray(labels)
    dist = pairwise_distances(emb)
    aps, pks, rks = [], [], []
    for q in range(len(labels)):
        order = np.argsort(dist[q], kind="stable")
        order = order[order != q]
        rel = labels[order] == labels[q]
        n_rel = int(rel.sum())
        if not n_rel:
            continue
        aps.append(average_precision(rel, n_rel))
        pks.append(precision_at_k(rel, k))
        rks.append(recall_at_k(rel, k, n_rel))
    if not aps:
        return {"map": 0.0, f"p{k}": 0.0, f"recall{k}": 0.0}
    return {
        "map": float(np.mean(aps)),
        f"p{k}": float(np.mean(pks)),
        f"recall{k}": float(np.mean(rks)),
    }
