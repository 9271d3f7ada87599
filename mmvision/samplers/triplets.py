"""Class triplets: an anchor, another row of its class, a row of another class."""

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
) -> tf.data.Dataset:
    """Row-index triplets ``{"anchor", "positive", "negative"}`` (int64).

    The anchor comes from a class with 2+ rows, the positive is another row
    of its class, the negative uniform over the other classes' rows.
    ``n_triplets`` defaults to the number of rows; see ``epoch_draws`` for
    ``seed`` / ``resample``.
    """
    idx = ClassIndex(np.asarray(labels), what)
    _, anchor_multi, positive, negative = idx.graph_fns()

    def make(i, r):
        s1, s2, s3 = element_seed(i, r, 3)
        a = anchor_multi(s1)
        return {"anchor": a, "positive": positive(a, s2), "negative": negative(a, s3)}

    return epoch_draws(int(n_triplets or idx.n), make, seed, resample)
