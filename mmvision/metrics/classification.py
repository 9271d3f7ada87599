"""Classification metrics on integer labels and class scores (numpy only)."""

from __future__ import annotations

from typing import Any

import numpy as np

_NORMALIZE = (None, "true", "pred", "all")


def _labels(y: Any, name: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D integer labels, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        as_int = arr.astype(np.int64)
        if not np.array_equal(as_int, arr):
            raise ValueError(f"{name} must hold integer labels, got {arr.dtype}")
        arr = as_int
    return arr.astype(np.int64)


def _check_range(y: np.ndarray, n_classes: int, name: str) -> None:
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        bad = y[(y < 0) | (y >= n_classes)][0]
        raise ValueError(
            f"{name} holds label {int(bad)} outside [0, {n_classes}) "
            f"(n_classes={n_classes})"
        )


def _same_length(a: np.ndarray, b: np.ndarray, na: str, nb: str) -> None:
    if len(a) != len(b):
        raise ValueError(f"{na} and {nb} differ in length: {len(a)} vs {len(b)}")
    if len(a) == 0:
        raise ValueError(f"{na} and {nb} are empty")


def top_k_accuracy(y_true: Any, probs: Any, k: int = 5) -> float:
    """Fraction of examples whose true class is among the ``k`` highest scores.

    Ties are broken like ``sklearn.metrics.top_k_accuracy_score`` (a stable
    sort, then reversed: among equal scores the higher class index ranks
    first), so the two agree exactly. ``k >= n_classes`` gives 1.0.

    Args:
        y_true: ``[N]`` integer labels in ``[0, C)``.
        probs: ``[N, C]`` scores (probabilities or logits).
        k: how many top classes count as a hit.

    Example:
    >>> top_k_accuracy([0, 1], [[0.5, 0.3, 0.2], [0.6, 0.1, 0.3]], k=2)
    0.5
    """
    y = _labels(y_true, "y_true")
    scores = np.asarray(probs, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(f"probs must be [N, n_classes], got shape {scores.shape}")
    _same_length(y, scores, "y_true", "probs")
    if int(k) < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    _check_range(y, scores.shape[1], "y_true")
    k = min(int(k), scores.shape[1])
    order = np.argsort(scores, axis=1, kind="mergesort")[:, ::-1][:, :k]
    return float(np.mean(np.any(order == y[:, None], axis=1)))


def confusion_matrix(
    y_true: Any,
    y_pred: Any,
    n_classes: int | None = None,
    normalize: str | None = None,
) -> np.ndarray:
    """``[C, C]`` counts: row = true class, column = predicted class.

    Same layout and ``normalize`` options as
    ``sklearn.metrics.confusion_matrix(..., labels=range(C))``: ``"true"``
    divides rows by their sums, ``"pred"`` columns, ``"all"`` the total; an
    all-zero row/column stays 0.

    Args:
        y_true, y_pred: ``[N]`` integer labels in ``[0, C)``.
        n_classes: ``C``; default ``max(label) + 1``.
        normalize: ``None``, ``"true"``, ``"pred"`` or ``"all"``.
    """
    yt, yp = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    _same_length(yt, yp, "y_true", "y_pred")
    if normalize not in _NORMALIZE:
        raise ValueError(f"unknown normalize {normalize!r}; valid: {list(_NORMALIZE)}")
    if n_classes is None:
        n_classes = int(max(yt.max(), yp.max())) + 1
    n_classes = int(n_classes)
    if n_classes < 1:
        raise ValueError(f"n_classes must be >= 1, got {n_classes}")
    _check_range(yt, n_classes, "y_true")
    _check_range(yp, n_classes, "y_pred")
    cm = np.bincount(yt * n_classes + yp, minlength=n_classes * n_classes)
    cm = cm.reshape(n_classes, n_classes).astype(np.int64)
    if normalize is None:
        return cm
    cm = cm.astype(np.float64)
    if normalize == "true":
        denom = cm.sum(axis=1, keepdims=True)
    elif normalize == "pred":
        denom = cm.sum(axis=0, keepdims=True)
    else:
        denom = np.array(cm.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(denom > 0, cm / np.where(denom > 0, denom, 1), 0.0)
    return out


def per_class_accuracy(y_true: Any, y_pred: Any, n_classes: int) -> np.ndarray:
    """Accuracy (recall) of every class; NaN for classes with no example.

    Returns:
        ``[n_classes]`` float64: correct / examples of each true class.

    Example:
    >>> per_class_accuracy([0, 0, 1], [0, 1, 1], n_classes=3).tolist()
    [0.5, 1.0, nan]
    """
    cm = confusion_matrix(y_true, y_pred, n_classes=n_classes)
    support = cm.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(support > 0, np.diag(cm) / np.maximum(support, 1), np.nan)
