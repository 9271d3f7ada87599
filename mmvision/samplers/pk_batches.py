"""P x K class-balanced batches: P distinct classes, K rows of each.

The batch layout of batch-hard / batch-all triplet mining (Hermans et al.,
"In Defense of the Triplet Loss"): every batch holds ``p`` different classes
and ``k`` different rows of each, so every row has ``k - 1`` positives and
``(p - 1) * k`` negatives in its batch.

Example:

```python
ds = pk_batches(labels, p=8, k=4, seed=0)   # elements: int64 [32] row indices
rows = next(iter(ds)).numpy().reshape(8, 4)  # one class per row of this view
```
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from mmvision.samplers.class_index import element_seed, epoch_draws

_SHOWN = 10  # short classes named in an error message


@dataclass(frozen=True)
class PKClasses:
    """The classes P x K batches draw from (what ``pk_classes`` returns).

    Attributes:
        classes: labels of the eligible classes (``k`` or more rows), sorted.
        counts: rows of each eligible class, aligned with ``classes``.
        left_out: ``{label: rows}`` of the classes with fewer than ``k``
            rows, which ``strict=False`` leaves out (empty otherwise).
        rows: number of rows of the eligible classes.
    """

    classes: tuple[int, ...]
    counts: tuple[int, ...]
    left_out: dict[int, int] = field(default_factory=dict)
    rows: int = 0


def _check_pk(p, k, what: str) -> tuple[int, int]:
    for key, value in (("p", p), ("k", k)):
        if isinstance(value, bool) or int(value) != value or int(value) < 1:
            raise ValueError(f"{what}: {key} must be an integer >= 1, got {value!r}")
    return int(p), int(k)


def _labels(labels, what: str) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 1 or not (arr.size == 0 or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{what}: labels must be a 1-D sequence of ints")
    arr = arr.astype(np.int64)
    if (arr < 0).any():
        raise ValueError(f"{what}: the manifest has unlabelled rows (label -1)")
    return arr


def _short_list(short: dict[int, int], names: Sequence[str] | None = None) -> str:
    items = [
        f"class {c}{f' ({names[c]!r})' if names is not None else ''}: {n} rows"
        for c, n in list(short.items())[:_SHOWN]
    ]
    more = len(short) - _SHOWN
    return ", ".join(items) + (f", and {more} more" if more > 0 else "")


def pk_classes(
    labels: Sequence[int],
    p: int,
    k: int,
    strict: bool = True,
    what: str = "pk_batches",
    names: Sequence[str] | None = None,
) -> PKClasses:
    """Checks ``labels`` for P x K batches and returns the eligible classes.

    Args:
        labels: one class label per row (ints >= 0).
        p: classes per batch.
        k: rows per class per batch.
        strict: raise on a class with fewer than ``k`` rows (the default);
            ``False`` leaves such classes out and lists them in ``left_out``.
        what: the caller's name, for error messages.
        names: class names by label, named in error messages.

    Returns:
        A ``PKClasses``; ``pk_batches`` with the same arguments draws from
        exactly these classes.

    Raises:
        ValueError: bad ``p`` / ``k`` / labels; with ``strict``, a class with
            fewer than ``k`` rows (the message names each such class label
            and its row count); fewer than ``p`` eligible classes.
    """
    p, k = _check_pk(p, k, what)
    arr = _labels(labels, what)
    classes, counts = np.unique(arr, return_counts=True)
    short = {int(c): int(n) for c, n in zip(classes, counts) if n < k}
    if short and strict:
        raise ValueError(
            f"{what}: {len(short)} class(es) have fewer than k={k} rows "
            f"({_short_list(short, names)}); pass strict=False to leave them out"
        )
    keep = counts >= k
    if int(keep.sum()) < p:
        left = (
            f"; left out for fewer than k rows: {_short_list(short, names)}"
            if short
            else ""
        )
        raise ValueError(
            f"{what}: needs at least p={p} classes with k={k} or more rows, got "
            f"{int(keep.sum())}{left}"
        )
    return PKClasses(
        classes=tuple(int(c) for c in classes[keep]),
        counts=tuple(int(n) for n in counts[keep]),
        left_out=short,
        rows=int(counts[keep].sum()),
    )


def pk_batches(
    labels: Sequence[int],
    p: int,
    k: int,
    n_batches: int | None = None,
    seed: int | None = 0,
    resample: bool = True,
    strict: bool = True,
    what: str = "pk_batches",
    names: Sequence[str] | None = None,
) -> tf.data.Dataset:
    """Row-index batches ``int64 [p * k]`` of ``p`` classes x ``k`` rows.

    Each element is one batch, laid out class by class: rows ``[j*k:(j+1)*k]``
    are ``k`` different rows (drawn without replacement) of the ``j``-th of
    ``p`` distinct classes. The classes are a uniform draw of ``p`` eligible
    classes in random order and the ``k`` rows a uniform ``k``-subset of the
    class, also in random order. Batches are independent draws, so a row can
    come back in a later batch of the same epoch.

    Args:
        labels: one class label per row (ints >= 0).
        p: classes per batch.
        k: rows per class per batch.
        n_batches: batches per epoch; default ``rows // (p * k)`` (at least
            1), about one pass over the eligible rows.
        seed: fixes the sequence of epochs (see ``epoch_draws``).
        resample: draw new batches every epoch; ``False`` repeats the first.
        strict: a class with fewer than ``k`` rows is an error (the default)
            that names it and its count; ``False`` leaves such classes out:
            ``pk_classes(labels, p, k, strict=False).left_out`` lists them.
        what: the caller's name, for error messages.
        names: class names by label, named in error messages.

    Returns:
        A ``tf.data.Dataset`` of ``int64 [p * k]`` tensors, ``n_batches`` per
        epoch, stateless and reproducible from ``seed``.

    Raises:
        ValueError: see ``pk_classes``.
    """
    info = pk_classes(labels, p, k, strict, what, names)
    p, k = int(p), int(k)
    arr = _labels(labels, what)
    eligible = np.isin(arr, np.asarray(info.classes, np.int64))
    rows_np = np.nonzero(eligible)[0]
    rows_np = rows_np[np.argsort(arr[rows_np], kind="stable")]  # grouped by class
    counts_np = np.asarray(info.counts, np.int64)
    starts_np = np.concatenate([[0], np.cumsum(counts_np)[:-1]]).astype(np.int64)

    rows = tf.constant(rows_np, tf.int64)
    counts = tf.constant(counts_np, tf.int64)
    starts = tf.constant(starts_np, tf.int64)
    n_classes = len(info.classes)

    def make(i, r):
        s_cls, s_rows, s_order = element_seed(i, r, 3)
        keys = tf.random.stateless_uniform([n_classes], seed=s_cls)
        cls = tf.argsort(keys)[:p]  # p distinct classes, random order
        n = tf.gather(counts, cls)
        u = tf.random.stateless_uniform([p, k], seed=s_rows, dtype=tf.float64)
        # Floyd's algorithm, vectorised over the p classes: a uniform k-subset
        # of range(n) in k steps, each pick unique within its class.
        picked: list[tf.Tensor] = []
        for t in range(k):
            top = n - k + t  # step t picks from [0, top]
            v = tf.cast(u[:, t] * tf.cast(top + 1, tf.float64), tf.int64)
            v = tf.minimum(v, top)
            if picked:
                seen = tf.reduce_any(tf.stack(picked, 1) == v[:, None], axis=1)
                v = tf.where(seen, top, v)
            picked.append(v)
        pos = tf.stack(picked, axis=1)  # [p, k]
        shuffle = tf.argsort(tf.random.stateless_uniform([p, k], seed=s_order), 1)
        pos = tf.gather(pos, shuffle, batch_dims=1)
        batch = tf.gather(rows, tf.gather(starts, cls)[:, None] + pos)
        return tf.reshape(batch, [p * k])

    n = int(n_batches) if n_batches is not None else max(1, info.rows // (p * k))
    if n < 1:
        raise ValueError(f"{what}: n_batches must be >= 1, got {n_batches!r}")
    return epoch_draws(n, make, seed, resample)


def pk_sampler(
    labels: Sequence[int],
    n_batches: int | None = None,
    seed: int | None = 0,
    resample: bool = True,
    *,
    p: int = 8,
    k: int = 4,
    strict: bool = True,
) -> tf.data.Dataset:
    """``pk_batches`` in the ``SAMPLERS`` signature ``(labels, n, seed=, resample=)``.

    The ``"pk"`` entry of ``SAMPLERS``. ``n`` counts batches (each element
    is a whole ``[p * k]`` batch, not one row); ``p`` (default 8) and ``k``
    (default 4, a batch of 32) are keyword-only.
    """
    return pk_batches(labels, p, k, n_batches, seed, resample, strict)
