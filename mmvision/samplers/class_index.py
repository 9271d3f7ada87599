"""Rows grouped by class, for drawing positives and negatives in-graph."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

# Dataset functions here have no Python control flow on tensors: skip AutoGraph.
_nc = tf.autograph.experimental.do_not_convert


class ClassIndex:
    """Rows sorted by label with per-class offsets, for in-graph sampling.

    Args:
        labels: one class label per row (any ints; they are compacted).
        what: the caller's name, for error messages.

    Raises ``ValueError`` when a row is unlabelled (-1), there are fewer
    than 2 classes, or no class has 2 or more rows.
    """

    def __init__(self, labels: np.ndarray, what: str):
        labels = np.asarray(labels, np.int64)
        if (labels < 0).any():
            raise ValueError(f"{what}: the manifest has unlabelled rows (label -1)")
        classes, compact = np.unique(labels, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"{what}: needs at least 2 classes, got {len(classes)}")
        self.order = np.argsort(compact, kind="stable")
        counts = np.bincount(compact)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        pos_in_class = np.empty(len(labels), np.int64)
        pos_in_class[self.order] = np.arange(len(labels)) - starts[compact[self.order]]
        self.compact, self.counts, self.starts = compact, counts, starts
        self.pos_in_class = pos_in_class
        self.multi = np.nonzero(counts[compact] >= 2)[0]  # rows that have a positive
        if len(self.multi) == 0:
            raise ValueError(f"{what}: no class has 2 or more images")
        self.n = len(labels)

    def graph_fns(self):
        """``(anchor_any, anchor_multi, positive, negative)`` in-graph samplers.

        ``anchor_any(seed)`` is a uniform row, ``anchor_multi(seed)`` a row of a
        class with 2+ rows, ``positive(a, seed)`` another row of ``a``'s class,
        ``negative(a, seed)`` a uniform row of the other classes; seeds are
        stateless ``[2]`` int32 seeds and rows int64.
        """
        order = tf.constant(self.order, tf.int64)
        compact = tf.constant(self.compact, tf.int64)
        counts = tf.constant(self.counts, tf.int64)
        starts = tf.constant(self.starts, tf.int64)
        pos = tf.constant(self.pos_in_class, tf.int64)
        multi = tf.constant(self.multi, tf.int64)
        n = self.n

        def u(seed):
            return tf.random.stateless_uniform([], seed=seed, dtype=tf.float32)

        def pick(seed, m):
            return tf.minimum(
                tf.cast(u(seed) * tf.cast(m, tf.float32), tf.int64), m - 1
            )

        def anchor_any(seed):
            return pick(seed, n)

        def anchor_multi(seed):
            return tf.gather(multi, pick(seed, tf.size(multi, out_type=tf.int64)))

        def positive(a, seed):
            c = compact[a]
            k = counts[c]
            off = (pos[a] + 1 + pick(seed, k - 1)) % k
            return order[starts[c] + off]

        def negative(a, seed):
            c = compact[a]
            r = pick(seed, n - counts[c])
            r = tf.where(r < starts[c], r, r + counts[c])
            return order[r]

        return anchor_any, anchor_multi, positive, negative


def element_seed(i: tf.Tensor, r: tf.Tensor, num: int) -> list[tf.Tensor]:
    """``num`` stateless seeds of element ``i`` of the epoch drawn ``r``."""
    s = tf.cast(tf.stack([r % (2**31 - 1), i]), tf.int32)
    return tf.unstack(tf.random.experimental.stateless_split(s, num))


def epoch_draws(
    n: int, make: Callable[[tf.Tensor, tf.Tensor], dict], seed, resample: bool
) -> tf.data.Dataset:
    """``make(i, r)`` for ``i`` in ``range(n)``, ``r`` one random draw per epoch.

    With ``resample`` each epoch draws a new ``r`` (the sequence of epochs is
    fixed by ``seed``); otherwise every epoch repeats the first draw.
    """
    epoch_seed = tf.data.Dataset.random(
        seed=seed, rerandomize_each_iteration=resample
    ).take(1)
    return epoch_seed.flat_map(
        _nc(lambda r: tf.data.Dataset.range(n).map(_nc(lambda i: make(i, r))))
    )
