"""The Keras triplet-accuracy metrics against numpy loops."""

import itertools

import keras
import numpy as np
import pytest

from mmvision.losses import batch_triplet_accuracy, triplet_accuracy

RNG = np.random.default_rng(0)


def test_triplet_accuracy_on_stacked_triplets():
    trip = RNG.normal(size=(6, 3, 4)).astype("float32")
    want = np.linalg.norm(trip[:, 0] - trip[:, 1], axis=1) < np.linalg.norm(
        trip[:, 0] - trip[:, 2], axis=1
    )
    got = np.asarray(triplet_accuracy(np.zeros(6), trip))
    np.testing.assert_array_equal(got, want.astype("float32"))


def _loop(labels, emb):
    right = total = 0
    for a, p, n in itertools.product(range(len(labels)), repeat=3):
        if a != p and labels[a] == labels[p] and labels[n] != labels[a]:
            total += 1
            right += np.sum((emb[a] - emb[p]) ** 2) < np.sum((emb[a] - emb[n]) ** 2)
    return right / max(total, 1)


@pytest.mark.parametrize("labels", [[0, 0, 1, 1, 2, 2, 0, 1], [3, 3, 3, 4]])
def test_batch_triplet_accuracy_counts_every_valid_triplet(labels):
    labels = np.asarray(labels)
    emb = RNG.normal(size=(len(labels), 3)).astype("float32")
    got = float(batch_triplet_accuracy(labels, emb))
    assert got == pytest.approx(_loop(labels, emb))


def test_batch_without_triplets_is_zero_and_the_metric_trains():
    assert float(batch_triplet_accuracy(np.arange(4), np.ones((4, 2)))) == 0.0
    x = RNG.normal(size=(32, 5)).astype("float32")
    y = np.repeat(np.arange(8), 4)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
    model.compile("adam", loss="mse", metrics=[batch_triplet_accuracy])
    hist = model.fit(x, y[:, None].astype("float32") * 0, batch_size=32, verbose=0)
    assert "batch_triplet_accuracy" in hist.history
