"""Balanced image pairs: alternately same-class and different-class rows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from mmvision.samplers.class_index import ClassIndex, element_seed, epoch_draws


def balanced_pairs(
    labels: Sequence[int],
    n_pairs: int | None = None,
    seed: int | None = 0,
    resample: bool = True,
    what: str = "balanced_pairs",
) -> tf.data.Dataset:
    """Row-index pairs ``{"a", "b", "same"}``, alternating exactly 50/50.

    Even positions are positives (``b`` another row of ``a``'s class, ``a``
    from a class with 2+ rows), odd ones negatives (``b`` uniform over the
    rows of the other classes). ``a``, ``b`` are int64 rows of ``labels``;
    ``same`` is bool. ``n_pairs`` defaults to the number of rows; see
    ``epoch_draws`` for ``seed`` / ``resample``.
    """
    idx = ClassIndex(np.asarray(labels), what)
    anchor_any, anchor_multi, positive, negative = idx.graph_fns()

    def make(i, r):
        s1, s2 = element_seed(i, r, 2)
        pos = tf.equal(i % 2, 0)
        a = tf.cond(pos, lambda: anchor_multi(s1), lambda: anchor_any(s1))
        b = tf.cond(pos, lambda: positive(a, s2), lambda: negative(a, s2))
        return {"a": a, "b": b, "same": pos}

    return epoch_draws(int(n_pairs or idx.n), make, seed, resample)


def sample_pair_indices(
    labels: Sequence[int], n_pairs: int, seed: int = 0, epoch: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eager twin of the pair sampler: ``(a, b, same)`` row indices.

    50/50 alternating (even positions positive); deterministic in
    ``(seed, epoch)``.
    """
    idx = ClassIndex(np.asarray(labels), "sample_pair_indices")
    anchor_any, anchor_multi, positive, negative = idx.graph_fns()
    a_out, b_out, y_out = [], [], []
    base = tf.constant([seed, epoch], tf.int32)
    for i in range(n_pairs):
        s = tf.random.experimental.stateless_fold_in(base, i)
        s1, s2 = tf.unstack(tf.random.experimental.stateless_split(s, 2))
        if i % 2 == 0:
            a = anchor_multi(s1)
            b = positive(a, s2)
        else:
            a = anchor_any(s1)
            b = negative(a, s2)
        a_out.append(int(a))
        b_out.append(int(b))
        y_out.append(1 - i % 2)
    return np.array(a_out), np.array(b_out), np.array(y_out)
