"""Distances, the triplet / softmax-ratio / contrastive losses, and every Loss's
round trips (config, ``.keras`` file, ``model.fit``)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import mmvision.losses as losses
from mmvision.losses import (
    LOSSES,
    METRICS,
    ContrastiveLoss,
    SoftmaxRatioLoss,
    TripletHingeLoss,
    contrastive,
    distance,
    pairwise_distances,
    softmax_ratio,
    triplet_hinge,
)

B, D = 4, 3


def _x(seed: int, shape=(B, D)) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def np_distance(x: np.ndarray, y: np.ndarray, metric: str) -> float:
    x, y = x.astype("float64"), y.astype("float64")
    if metric == "euclidean":
        return float(np.sqrt(np.sum((x - y) ** 2)))
    if metric == "squared_euclidean":
        return float(np.sum((x - y) ** 2))
    return float(1.0 - x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))


def np_triplet_hinge(a, p, n, margin, metric) -> np.ndarray:
    out = []
    for i in range(len(a)):
        d_pos, d_neg = np_distance(a[i], p[i], metric), np_distance(a[i], n[i], metric)
        out.append(max(0.0, margin + d_pos - d_neg))
    return np.array(out)


def np_softmax_ratio(a, p, n, metric) -> np.ndarray:
    out = []
    for i in range(len(a)):
        dp, dn = np_distance(a[i], p[i], metric), np_distance(a[i], n[i], metric)
        s_pos, s_neg = (
            np.exp(dp) / (np.exp(dp) + np.exp(dn)),
            np.exp(dn) / (np.exp(dp) + np.exp(dn)),
        )
        out.append(((s_pos - 0.0) ** 2 + (s_neg - 1.0) ** 2) / 2.0)
    return np.array(out)


def np_contrastive(y, a, b, margin, squared) -> np.ndarray:
    out = []
    for i in range(len(y)):
        d = np_distance(a[i], b[i], "euclidean")
        pull, push = d, max(0.0, margin - d)
        if squared:
            pull, push = pull**2, push**2
        out.append(y[i] * pull + (1 - y[i]) * push)
    return np.array(out)


# --- distances ---------------------------------------------------------------


@pytest.mark.parametrize("metric", METRICS)
def test_pairwise_distances_match_numpy(metric):
    a, b = _x(0, (4, D)), _x(1, (5, D))
    want = np.array(
        [[np_distance(a[i], b[j], metric) for j in range(5)] for i in range(4)]
    )
    np.testing.assert_allclose(pairwise_distances(a, b, metric), want, atol=1e-5)
    own = np.array(
        [[np_distance(a[i], a[j], metric) for j in range(4)] for i in range(4)]
    )
    got = np.asarray(pairwise_distances(a, metric=metric))
    np.testing.assert_allclose(got, own, atol=1e-5)
    assert np.all(np.diag(got) == 0.0)


@pytest.mark.parametrize("metric", METRICS)
def test_distance_is_row_wise(metric):
    x, y = _x(2), _x(3)
    want = [np_distance(x[i], y[i], metric) for i in range(B)]
    np.testing.assert_allclose(distance(x, y, metric), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("metric", METRICS)
def test_distances_of_equal_rows_have_zero_finite_gradients(metric):
    x = tf.Variable(np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]], "float32"))
    with tf.GradientTape(persistent=True) as tape:
        pair = tf.reduce_sum(pairwise_distances(x, metric=metric))
        rows = tf.reduce_sum(distance(x[:1], x[1:], metric))
    for value in (pair, rows):
        grad = tape.gradient(value, x).numpy()
        assert np.all(np.isfinite(grad)), grad
        if metric != "cosine":  # cosine is flat along the direction, not at 0
            np.testing.assert_allclose(float(value), 0.0, atol=1e-5)
            assert np.all(grad == 0.0), grad


def test_unknown_metric_is_refused():
    with pytest.raises(ValueError, match="cosine"):
        pairwise_distances(_x(0), metric="manhattan")
    with pytest.raises(ValueError, match="euclidean"):
        TripletHingeLoss(metric="l1")


# --- the pure losses ---------------------------------------------------------


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("margin", [0.2, 1.0])
def test_triplet_hinge_matches_numpy(metric, margin):
    a, p, n = _x(4), _x(5), _x(6)
    want = np_triplet_hinge(a, p, n, margin, metric)
    assert 0 < np.count_nonzero(want)  # the batch exercises the hinge
    got = triplet_hinge(a, p, n, margin, metric, reduction="none")
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        triplet_hinge(a, p, n, margin, metric), want.mean(), rtol=1e-5
    )


def test_triplet_hinge_is_zero_past_the_margin():
    a = np.zeros((2, 2), "float32")
    p = np.array([[1.0, 0.0], [0.0, 1.0]], "float32")  # d+ = 1
    n = np.array([[3.0, 0.0], [0.0, 1.5]], "float32")  # d- = 3, 1.5
    got = triplet_hinge(a, p, n, margin=1.0, reduction="none")
    np.testing.assert_allclose(got, [0.0, 0.5], atol=1e-6)


@pytest.mark.parametrize("metric", METRICS)
def test_softmax_ratio_matches_numpy(metric):
    a, p, n = _x(7), _x(8), _x(9)
    want = np_softmax_ratio(a, p, n, metric)
    got = softmax_ratio(a, p, n, metric, reduction="none")
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(softmax_ratio(a, p, n, metric), want.mean(), rtol=1e-5)


@pytest.mark.parametrize("squared", [False, True])
def test_contrastive_matches_numpy(squared):
    a, b = _x(10), _x(11)
    y = np.array([1, 0, 1, 0])
    b[1] = a[1] + 0.1  # a close dissimilar pair: inside the margin m = 2
    want = np_contrastive(y, a, b, 2.0, squared)
    got = contrastive(y, a, b, squared=squared, reduction="none")
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert want[1] > 0 and want[3] < want[1]
    np.testing.assert_allclose(
        contrastive(y, a, b, squared=squared), want.mean(), rtol=1e-5
    )


def test_stacked_losses_equal_their_pure_functions():
    a, p, n = _x(12), _x(13), _x(14)
    stacked = np.stack([a, p, n], axis=1)
    zeros = np.zeros((B,), "float32")
    hinge = TripletHingeLoss(margin=0.5, metric="cosine")(zeros, stacked)
    np.testing.assert_allclose(hinge, triplet_hinge(a, p, n, 0.5, "cosine"), rtol=1e-6)
    ratio = SoftmaxRatioLoss()(zeros, stacked)
    np.testing.assert_allclose(ratio, softmax_ratio(a, p, n), rtol=1e-6)
    y = np.array([1, 0, 0, 1], "float32")
    pair = ContrastiveLoss(margin=3.0)(y[:, None], np.stack([a, p], axis=1))
    np.testing.assert_allclose(pair, contrastive(y, a, p, margin=3.0), rtol=1e-6)
    with pytest.raises(ValueError, match=r"\[batch, 3, dim\]"):
        TripletHingeLoss()(zeros, np.stack([a, p], axis=1))


# --- registry and round trips ------------------------------------------------

LABELS = np.array([0, 0, 1, 1, 2, 2, 0, 1])


def _case(name: str):
    """(input shape, y) of a tiny Dense(3) model trained with ``name``."""
    if name in ("triplet_hinge", "softmax_ratio"):  # [B, 3, D] stacked triplets
        return (3, 4), np.zeros((len(LABELS),), "float32")
    if name == "contrastive":  # [B, 2, D] stacked pairs, 0/1 labels
        return (2, 4), (LABELS % 2).astype("float32")
    return (4,), LABELS.astype("float32")  # mining: [B, D], class labels


CASES = {
    "triplet_hinge": {"margin": 0.7, "metric": "squared_euclidean"},
    "softmax_ratio": {"metric": "cosine"},
    "contrastive": {"margin": 1.5, "squared": True},
    "batch_all": {"margin": 0.3, "metric": "cosine", "hardest_p": 0.5},
    "batch_hard": {"margin": 0.5},
    "semi_hard": {"margin": 2.0, "metric": "squared_euclidean"},
}


def _model_and_data(name: str, seed: int = 0):
    shape, y = _case(name)
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input(shape), keras.layers.Dense(3)])
    x = _x(seed + 20, (len(LABELS), *shape))
    return model, x, y


def test_registry_names_and_get():
    assert sorted(LOSSES) == sorted(CASES)
    loss = losses.get("batch_hard", margin=0.25)
    assert isinstance(loss, LOSSES["batch_hard"]) and loss.margin == 0.25
    with pytest.raises(ValueError, match="batch_all.*triplet_hinge"):
        losses.get("quadruplet")


@pytest.mark.parametrize("name", sorted(CASES))
def test_config_round_trip(name):
    loss = losses.get(name, **CASES[name])
    config = loss.get_config()
    for key, value in CASES[name].items():
        assert config[key] == value
    again = type(loss).from_config(config)
    assert again.get_config() == config
    model, x, y = _model_and_data(name)
    pred = model(x)
    np.testing.assert_allclose(again(y, pred), loss(y, pred), rtol=1e-6)
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(restored) is type(loss) and restored.get_config() == config


@pytest.mark.parametrize("name", sorted(CASES))
def test_saved_model_keeps_the_loss_and_fits(name, tmp_path):
    model, x, y = _model_and_data(name)
    model.compile(keras.optimizers.SGD(0.01), loss=losses.get(name, **CASES[name]))
    before = model.evaluate(x, y, batch_size=len(y), verbose=0)
    assert np.isfinite(before) and before > 0
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.loss) is LOSSES[name]
    assert loaded.loss.get_config() == model.loss.get_config()
    after = loaded.evaluate(x, y, batch_size=len(y), verbose=0)
    np.testing.assert_allclose(after, before, rtol=1e-6)
    history = loaded.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
