"""Online triplet mining: numpy references, hand-made batches, empty batches."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from mmvision.losses import (
    METRICS,
    BatchAllTripletLoss,
    BatchHardTripletLoss,
    SemiHardTripletLoss,
    batch_all_triplet_loss,
    batch_hard_triplet_loss,
    hardest_fraction,
    mining,
    semi_hard_triplet_loss,
)

LABELS = np.array([0, 0, 1, 1, 2, 2, 0])
MARGINS = {"euclidean": 0.5, "squared_euclidean": 2.0, "cosine": 0.5}
MINERS = {
    "batch_all": batch_all_triplet_loss,
    "batch_hard": batch_hard_triplet_loss,
    "semi_hard": semi_hard_triplet_loss,
}
CLASSES = {
    "batch_all": BatchAllTripletLoss,
    "batch_hard": BatchHardTripletLoss,
    "semi_hard": SemiHardTripletLoss,
}


def _emb(seed: int = 0, n: int = len(LABELS), d: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype("float32")


def np_dist(x, y, metric) -> float:
    x, y = x.astype("float64"), y.astype("float64")
    if metric == "euclidean":
        return float(np.linalg.norm(x - y))
    if metric == "squared_euclidean":
        return float(np.sum((x - y) ** 2))
    return float(1.0 - x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))


def _pairs(labels):
    """(a, p, negatives of a) for every positive pair."""
    n = len(labels)
    for a in range(n):
        negs = [k for k in range(n) if labels[k] != labels[a]]
        for p in range(n):
            if p != a and labels[p] == labels[a] and negs:
                yield a, p, negs


def np_top(values, p) -> float:
    if not values:
        return 0.0
    k = max(1, math.ceil(p * len(values) - 1e-9))
    return float(np.mean(sorted(values, reverse=True)[:k]))


def np_batch_all(labels, emb, margin, metric, hardest_p=None):
    d = lambda i, j: np_dist(emb[i], emb[j], metric)
    per_anchor: dict[int, list[float]] = {}
    losses = []
    for a, p, negs in _pairs(labels):
        for n in negs:
            loss = max(0.0, margin + d(a, p) - d(a, n))
            losses.append(loss)
            per_anchor.setdefault(a, []).append(loss)
    positive = [v for v in losses if v > 0]
    fraction = len(positive) / len(losses) if losses else 0.0
    if hardest_p is not None:
        means = [
            np.mean([v for v in vs if v > 0] or [0.0]) for vs in per_anchor.values()
        ]
        return np_top(means, hardest_p), fraction
    return (float(np.mean(positive)) if positive else 0.0), fraction


def np_batch_hard(labels, emb, margin, metric, hardest_p=None):
    d = lambda i, j: np_dist(emb[i], emb[j], metric)
    per_anchor = {}
    for a, p, negs in _pairs(labels):
        hardest_neg = min(d(a, n) for n in negs)
        loss = max(0.0, margin + d(a, p) - hardest_neg)
        per_anchor[a] = max(per_anchor.get(a, 0.0), loss)  # farthest positive
    values = list(per_anchor.values())
    if hardest_p is not None:
        return np_top(values, hardest_p)
    return float(np.mean(values)) if values else 0.0


def np_semi_hard(labels, emb, margin, metric, hardest_p=None):
    """Written with the margin band, to check the equivalence the code relies on."""
    d = lambda i, j: np_dist(emb[i], emb[j], metric)
    values = []
    for a, p, negs in _pairs(labels):
        d_ap = d(a, p)
        band = [d(a, n) for n in negs if d_ap < d(a, n) < d_ap + margin]
        if band:  # semi-hard: the nearest one
            values.append(margin + d_ap - min(band))
        elif any(d(a, n) > d_ap for n in negs):  # only easy ones beyond the margin
            values.append(0.0)
        else:  # every negative is closer than the positive: the farthest one
            values.append(max(0.0, margin + d_ap - max(d(a, n) for n in negs)))
    if hardest_p is not None:
        return np_top(values, hardest_p)
    return float(np.mean(values)) if values else 0.0


# --- numpy references on random tiny batches ----------------------------------


@pytest.mark.parametrize("hardest_p", [None, 0.5])
@pytest.mark.parametrize("metric", METRICS)
def test_miners_match_numpy(metric, hardest_p):
    # seed 3: for every metric, the semi-hard pairs cover all three cases
    # (a negative in the band, only easy negatives, only closer negatives).
    emb, margin = _emb(3), MARGINS[metric]
    loss, fraction = batch_all_triplet_loss(
        LABELS, emb, margin, metric, hardest_p, return_fraction=True
    )
    want, want_fraction = np_batch_all(LABELS, emb, margin, metric, hardest_p)
    assert want > 0 and 0 < want_fraction < 1
    np.testing.assert_allclose(loss, want, rtol=1e-4)
    np.testing.assert_allclose(fraction, want_fraction, rtol=1e-6)
    want = np_batch_hard(LABELS, emb, margin, metric, hardest_p)
    got = batch_hard_triplet_loss(LABELS, emb, margin, metric, hardest_p)
    np.testing.assert_allclose(got, want, rtol=1e-4)
    want = np_semi_hard(LABELS, emb, margin, metric, hardest_p)
    got = semi_hard_triplet_loss(LABELS, emb, margin, metric, hardest_p)
    np.testing.assert_allclose(got, want, rtol=1e-4)


@pytest.mark.parametrize("name", sorted(MINERS))
def test_loss_classes_equal_their_functions(name):
    emb = _emb(2)
    loss = CLASSES[name](margin=0.8, metric="cosine", hardest_p=0.5)
    got = loss(LABELS.astype("float32")[:, None], emb)
    want = MINERS[name](LABELS, emb, 0.8, "cosine", 0.5)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    with pytest.raises(ValueError, match="sample_weight"):
        loss(LABELS, emb, sample_weight=np.ones(len(LABELS)))


# --- hand-made 1-D batches ----------------------------------------------------


def test_batch_hard_takes_the_farthest_positive_and_the_nearest_negative():
    labels = np.array([0, 0, 0, 1, 1])
    emb = np.array([[0.0], [0.5], [2.0], [2.5], [6.0]], "float32")
    # anchor:      0.0  0.5  2.0  2.5  6.0
    # farthest +:  2.0  1.5  2.0  3.5  3.5
    # nearest -:   2.5  2.0  0.5  0.5  4.0
    # 1 + (+) - (-): 0.5  0.5  2.5  4.0  0.5  -> mean 1.6
    got = batch_hard_triplet_loss(labels, emb, margin=1.0)
    np.testing.assert_allclose(got, 1.6, rtol=1e-6)
    hardest = batch_hard_triplet_loss(labels, emb, margin=1.0, hardest_p=0.2)
    np.testing.assert_allclose(hardest, 4.0, rtol=1e-6)  # anchor 2.5 alone
    top_two = batch_hard_triplet_loss(labels, emb, margin=1.0, hardest_p=0.4)
    np.testing.assert_allclose(top_two, (4.0 + 2.5) / 2, rtol=1e-6)


def test_semi_hard_takes_the_nearest_negative_inside_the_margin():
    # anchor 0 and positive 1 (d = 1); negatives at 0.5 (hard), 1.5 and 1.8
    # (semi-hard: inside (1, 2)) and 5 (easy), each its own class.
    labels = np.array([0, 0, 1, 2, 3, 4])
    emb = np.array([[0.0], [1.0], [0.5], [1.5], [1.8], [5.0]], "float32")
    # pair (0, 1): 1 + 1 - 1.5 = 0.5. pair (1, 0): negatives at 0.5, 0.5, 0.8,
    # 4 from the anchor: only 4 is farther than 1, and beyond the margin: 0.
    got = semi_hard_triplet_loss(labels, emb, margin=1.0)
    np.testing.assert_allclose(got, 0.25, rtol=1e-6)
    np.testing.assert_allclose(
        semi_hard_triplet_loss(labels, emb, margin=1.0, hardest_p=0.5), 0.5
    )
    # batch-hard on the same batch takes the hard negative 0.5 instead.
    np.testing.assert_allclose(
        batch_hard_triplet_loss(labels, emb, margin=1.0), (1.5 + 1.5) / 2
    )


def test_semi_hard_falls_back_to_the_farthest_negative():
    # positive at distance 3; both negatives (1 and 2) are closer: no negative
    # is farther, so the pair uses the farthest negative, d = 2: 1 + 3 - 2.
    labels = np.array([0, 0, 1, 2])
    emb = np.array([[0.0], [3.0], [1.0], [2.0]], "float32")
    got = semi_hard_triplet_loss(labels, emb, margin=1.0)
    np.testing.assert_allclose(got, 2.0, rtol=1e-6)  # the hardest would give 3


def test_batch_all_averages_over_positive_triplets_and_counts_them():
    labels = np.array([0, 0, 1, 2])
    emb = np.array([[0.0], [1.0], [1.5], [10.0]], "float32")
    # valid triplets: (0,1,2) 0.5, (0,1,3) 0, (1,0,2) 1.5, (1,0,3) 0.
    loss, fraction = batch_all_triplet_loss(labels, emb, 1.0, return_fraction=True)
    np.testing.assert_allclose(loss, 1.0, rtol=1e-6)  # (0.5 + 1.5) / 2, not / 4
    np.testing.assert_allclose(fraction, 0.5)
    easy = np.array([[0.0], [1.0], [20.0], [30.0]], "float32")
    loss, fraction = batch_all_triplet_loss(labels, easy, 1.0, return_fraction=True)
    assert float(loss) == 0.0 and float(fraction) == 0.0


# --- hardest_fraction -----------------------------------------------------------


def test_hardest_fraction():
    values = np.array([3.0, 1.0, 5.0, 2.0, 4.0], "float32")
    np.testing.assert_allclose(hardest_fraction(values, 0.5), 4.0)  # 5, 4, 3
    np.testing.assert_allclose(hardest_fraction(values, 1.0), 3.0)
    np.testing.assert_allclose(hardest_fraction(values, 0.01), 5.0)  # at least 1
    # float32(7 / 13) * 13 rounds to 7.0000005: still the top 7 (12..6), not 8.
    thirteen = np.arange(13, dtype="float32")
    np.testing.assert_allclose(hardest_fraction(thirteen, 7 / 13), 9.0)
    mask = np.array([True, True, False, True, False])
    np.testing.assert_allclose(hardest_fraction(values, 0.5, mask), 2.5)  # 3, 2
    np.testing.assert_allclose(hardest_fraction(-values, 0.4), -1.5)
    assert float(hardest_fraction(values, 0.5, np.zeros(5, bool))) == 0.0
    for p in (0.0, 1.5, -0.2):
        with pytest.raises(ValueError, match=r"\(0, 1\]"):
            hardest_fraction(values, p)


# --- empty batches ----------------------------------------------------------------

EMPTY = {"distinct": np.array([0, 1, 2, 3]), "one_class": np.array([5, 5, 5, 5])}


@pytest.mark.parametrize("hardest_p", [None, 0.5])
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("case", sorted(EMPTY))
@pytest.mark.parametrize("name", sorted(MINERS))
def test_empty_batches_give_zero_and_are_counted(name, case, metric, hardest_p):
    emb = tf.Variable(np.zeros((4, 3), "float32"))  # equal rows: sqrt at 0
    before = mining.EMPTY_BATCHES[name]
    with tf.GradientTape() as tape:
        loss = MINERS[name](EMPTY[case], emb, 1.0, metric, hardest_p)
    assert float(loss) == 0.0
    grad = tape.gradient(loss, emb)
    assert grad is not None and np.all(grad.numpy() == 0.0)
    assert mining.EMPTY_BATCHES[name] == before + 1


def test_non_empty_batches_are_not_counted_and_have_finite_gradients():
    emb = tf.Variable(np.array([[0.0], [0.0], [0.1], [0.1]], "float32"))
    before = dict(mining.EMPTY_BATCHES)
    for miner in MINERS.values():
        with tf.GradientTape() as tape:
            loss = miner([0, 0, 1, 1], emb)
        assert float(loss) > 0
        assert np.all(np.isfinite(tape.gradient(loss, emb).numpy()))
    assert dict(mining.EMPTY_BATCHES) == before


@pytest.mark.parametrize("name", sorted(MINERS))
def test_empty_batch_in_graph_mode_is_zero_and_not_counted(name):
    miner = MINERS[name]

    @tf.function
    def step(labels, emb):
        with tf.GradientTape() as tape:
            tape.watch(emb)
            loss = miner(labels, emb)
        return loss, tape.gradient(loss, emb)

    before = mining.EMPTY_BATCHES[name]
    labels = tf.constant([0, 1, 2])
    loss, grad = step(labels, tf.zeros((3, 2)))
    assert float(loss) == 0.0 and np.all(grad.numpy() == 0.0)
    assert mining.EMPTY_BATCHES[name] == before  # graph mode: no Python hook
    loss, _ = step(tf.constant([0, 0, 1]), tf.constant([[0.0, 0], [1, 0], [1.5, 0]]))
    assert float(loss) > 0  # the same graph still mines a non-empty batch


def test_eager_fit_counts_empty_batches():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile("sgd", loss=BatchHardTripletLoss(), run_eagerly=True)
    before = mining.EMPTY_BATCHES["batch_hard"]
    x, y = _emb(3, n=8, d=4), np.arange(8, dtype="float32")  # all distinct
    history = model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    assert history.history["loss"] == [0.0]
    assert mining.EMPTY_BATCHES["batch_hard"] == before + 2
