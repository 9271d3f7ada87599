"""Distances between embeddings, written with ``keras.ops`` for losses.

Every loss in :mod:`mmvision.losses` measures embeddings with one of three
metrics:

- ``"euclidean"``: ``||x - y||``;
- ``"squared_euclidean"``: ``||x - y||^2``;
- ``"cosine"``: ``1 - cos(x, y)``, in ``[0, 2]`` (a zero vector has cosine
  similarity 0 with everything, so distance 1).

The Euclidean square root is *safe*: where the squared distance is 0 (an
embedding and itself, or two equal embeddings) the distance is exactly 0 and
its gradient is 0, never ``inf`` or NaN.
"""

from __future__ import annotations

from keras import ops

METRICS = ("euclidean", "squared_euclidean", "cosine")

# Squared distances at or below this are treated as 0 by the safe sqrt.
_SQRT_FLOOR = 1e-16
# Squared norms are clamped to this before normalising (cosine metric).
_NORM_FLOOR = 1e-12


def check_metric(metric: str) -> str:
    """Returns ``metric`` if it is one of :data:`METRICS`.

    Args:
        metric: the metric name.

    Returns:
        The same name.

    Raises:
        ValueError: for any other name, listing the known ones.
    """
    if metric not in METRICS:
        raise ValueError(
            f"unknown distance metric {metric!r}; expected one of {list(METRICS)}"
        )
    return metric


def safe_sqrt(squared):
    """Square root of a non-negative tensor with a zero gradient at 0.

    Negative inputs (floating-point round-off) are clamped to 0. Entries at or
    below ``1e-16`` give exactly 0 and a zero gradient, so ``sqrt`` never
    back-propagates ``inf * 0 = NaN``.

    Args:
        squared: a tensor of squared distances.

    Returns:
        A tensor of the same shape.
    """
    squared = ops.maximum(squared, 0.0)
    tiny = ops.less_equal(squared, _SQRT_FLOOR)
    root = ops.sqrt(ops.where(tiny, ops.ones_like(squared), squared))
    return ops.where(tiny, ops.zeros_like(squared), root)


def l2_normalize(x, axis: int = -1):
    """Divides ``x`` by its L2 norm along ``axis`` (zero vectors stay zero).

    Args:
        x: a tensor.
        axis: the axis to normalise.

    Returns:
        A tensor of the same shape.
    """
    squared_norm = ops.sum(ops.square(x), axis=axis, keepdims=True)
    return x * ops.rsqrt(ops.maximum(squared_norm, _NORM_FLOOR))


def pairwise_distances(a, b=None, metric: str = "euclidean"):
    """Distances between every row of ``a`` and every row of ``b``.

    The Euclidean metrics use ``||a||^2 + ||b||^2 - 2 a.b`` (memory
    ``O(N M)``, not ``O(N M D)``), clamped at 0 against round-off. With
    ``b=None`` the distances are among the rows of ``a`` and the diagonal is
    set to exactly 0 for every metric.

    Args:
        a: embeddings ``[N, D]``.
        b: embeddings ``[M, D]``; ``None`` means ``a``.
        metric: ``"euclidean"``, ``"squared_euclidean"`` or ``"cosine"``.

    Returns:
        A float tensor ``[N, M]``; entry ``(i, j)`` is ``D(a_i, b_j)``.

    Raises:
        ValueError: for an unknown metric.
    """
    check_metric(metric)
    a = ops.convert_to_tensor(a)
    self_distances = b is None
    b = a if self_distances else ops.convert_to_tensor(b, dtype=a.dtype)
    if metric == "cosine":
        similarity = ops.matmul(l2_normalize(a), ops.transpose(l2_normalize(b)))
        out = ops.clip(1.0 - similarity, 0.0, 2.0)
    else:
        a_sq = ops.sum(ops.square(a), axis=-1)
        b_sq = ops.sum(ops.square(b), axis=-1)
        squared = ops.maximum(
            ops.expand_dims(a_sq, 1)
            + ops.expand_dims(b_sq, 0)
            - 2.0 * ops.matmul(a, ops.transpose(b)),
            0.0,
        )
        out = squared if metric == "squared_euclidean" else safe_sqrt(squared)
    if self_distances:
        out = _zero_diagonal(out)
    return out


def distance(x, y, metric: str = "euclidean"):
    """Row-wise distance ``D(x_i, y_i)`` (any leading shape).

    Args:
        x: embeddings ``[..., D]``.
        y: embeddings of the same shape.
        metric: ``"euclidean"``, ``"squared_euclidean"`` or ``"cosine"``.

    Returns:
        A float tensor ``[...]`` (the last axis reduced).

    Raises:
        ValueError: for an unknown metric.
    """
    check_metric(metric)
    x = ops.convert_to_tensor(x)
    y = ops.convert_to_tensor(y, dtype=x.dtype)
    if metric == "cosine":
        similarity = ops.sum(l2_normalize(x) * l2_normalize(y), axis=-1)
        return ops.clip(1.0 - similarity, 0.0, 2.0)
    squared = ops.sum(ops.square(x - y), axis=-1)
    return squared if metric == "squared_euclidean" else safe_sqrt(squared)


def _zero_diagonal(matrix):
    """``matrix`` [N, N] with its diagonal replaced by exact zeros."""
    idx = ops.arange(ops.shape(matrix)[0])
    on_diagonal = ops.equal(ops.expand_dims(idx, 1), ops.expand_dims(idx, 0))
    return ops.where(on_diagonal, ops.zeros_like(matrix), matrix)
