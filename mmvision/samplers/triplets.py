"""Class triplets: an anchor, another row of its class, a row of another class
(or, for a fraction of them, an in-class negative: deep ranking's
fine-grained triplets)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from mmvision.samplers.class_index import ClassIndex, element_seed, epoch_draws


def class_triplets(
    labels: Sequence[int],
    n_triplets: int | None = None,
    seed: int | None = 0,
    resample: bool = True,
    what: str = "class_triplets",
    in_class_fraction: float = 0.0,
    relevance: np.ndarray | None = None,
) -> tf.data.Dataset:
    """Row-index triplets ``{"anchor", "positive", "negative"}`` (int64).

    The anchor comes from a class with 2+ rows, the positive is another row
    of its class, the negative uniform over the other classes' rows.
    ``n_triplets`` defaults to the number of rows; see ``epoch_draws`` for
    ``seed`` / ``resample``.

    With ``in_class_fraction`` ``f > 0`` each triplet is, with probability
    ``f``, an **in-class** triplet (Wang et al.'s deep ranking): two other
    rows of the anchor's class are drawn and the one nearer the anchor in
    ``relevance`` (``[n_rows, d]`` "golden" features, e.g. small
    thumbnails) is the positive, the other the negative; the remaining
    ``1 - f`` keep an out-of-class negative (the paper's advice: keep about
    20% of those). The two rows may coincide in a class of two rows.

    Raises:
        ValueError: ``f`` outside ``[0, 1)``, or ``f > 0`` without
            ``relevance`` of one row per label.
    """
    idx = ClassIndex(np.asarray(labels), what)
    _, anchor_multi, positive, negative = idx.graph_fns()
    f = float(in_class_fraction)
    if not 0.0 <= f < 1.0:
        raise ValueError(f"{what}: in_class_fraction must be in [0, 1), got {f!r}")
    if f > 0:
        if relevance is None or len(relevance) != idx.n:
            raise ValueError(
                f"{what}: in-class negatives need relevance features, one row per "
                f"label ({idx.n})"
            )
        gold = tf.constant(np.asarray(relevance, np.float32).reshape(idx.n, -1))

    def make(i, r):
        seeds = element_seed(i, r, 5 if f > 0 else 3)
        a = anchor_multi(seeds[0])
        p, n = positive(a, seeds[1]), negative(a, seeds[2])
        if f > 0:
            s4, s5 = seeds[3], seeds[4]
            c1, c2 = p, positive(a, s4)
            d1 = tf.reduce_sum(tf.square(gold[a] - gold[c1]))
            d2 = tf.reduce_sum(tf.square(gold[a] - gold[c2]))
            near, far = tf.where(d1 <= d2, c1, c2), tf.where(d1 <= d2, c2, c1)
            inside = tf.random.stateless_uniform([], seed=s5) < f
            p, n = tf.where(inside, near, p), tf.where(inside, far, n)
        return {"anchor": a, "positive": p, "negative": n}

    return epoch_draws(int(n_triplets or idx.n), make, seed, resample)
