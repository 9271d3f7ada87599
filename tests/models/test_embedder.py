"""mmvision.models.embedder and mmvision.layers.L2Normalize."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers_models import predict, run_layer_test

import mmvision.layers  # noqa: F401  (registers the layers for load_model)
from mmvision.layers import L2Normalize
from mmvision.losses import TripletHingeLoss
from mmvision.models import image_towers
from mmvision.models.embedder import build_embedder, stacked_model, triplet_net

S = 32


def _images(n, size=S, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, (n, size, size, 3)).astype("float32")


def _round_trip(model, x, tmp_path):
    path = tmp_path / "model.keras"
    expected = predict(model, x)
    model.save(path)
    loaded = keras.saving.load_model(path)  # no custom_objects
    np.testing.assert_allclose(predict(loaded, x), expected, atol=1e-5, rtol=0)
    return loaded


# ---------------------------------------------------------------- L2Normalize


def test_l2_normalize_values_config_and_round_trip(tmp_path):
    x = np.array([[3.0, 4.0], [0.0, 0.0]], "float32")
    np.testing.assert_allclose(np.asarray(L2Normalize()(x)), [[0.6, 0.8], [0, 0]])
    cols = np.asarray(L2Normalize(axis=0)(np.array([[3.0], [4.0]], "float32")))
    np.testing.assert_allclose(cols, [[0.6], [0.8]])
    layer = L2Normalize(axis=-1, epsilon=1e-6)
    assert layer.get_config()["axis"] == -1 and layer.get_config()["epsilon"] == 1e-6
    assert keras.saving.get_registered_name(L2Normalize) == "mmvision>L2Normalize"
    feats = np.random.default_rng(1).normal(size=(4, 5)).astype("float32")
    run_layer_test(L2Normalize(name="l2"), feats, (4, 5), tmp_path)
    with pytest.raises(ValueError, match="epsilon"):
        L2Normalize(epsilon=0)


# ---------------------------------------------------------------- build_embedder


def test_embedder_shapes_names_and_unit_norm(tmp_path):
    emb = build_embedder("small_cnn", S, 16, dropout=0.1)
    assert emb.input_shape == (None, S, S, 3) and emb.output_shape == (None, 16)
    assert list(emb.input) == ["image"]
    names = [layer.name for layer in emb.layers]
    assert names == [
        "image", "image_tower", "embedding_dropout", "embedding_dense", "embedding"
    ]  # fmt: skip
    out = predict(emb, {"image": _images(3)})
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    loaded = _round_trip(emb, {"image": _images(3)}, tmp_path)
    assert isinstance(loaded.get_layer("embedding"), L2Normalize)
    raw = build_embedder("small_cnn", S, 8, l2_normalize=False)
    assert raw.layers[-1].name == "embedding_dense"
    norms = np.linalg.norm(predict(raw, {"image": _images(2)}), axis=1)
    assert not np.allclose(norms, 1.0)


def test_embedder_takes_a_built_tower():
    tower = image_towers.get("small_resnet", (S, S, 3), name="mine")
    emb = build_embedder(tower, S, 8)
    assert emb.get_layer("image_tower") is tower
    with pytest.raises(ValueError, match="64 px"):
        build_embedder(image_towers.get("small_cnn", (S, S, 3)), 64, 8)
    with pytest.raises(ValueError, match="tower_weights"):
        build_embedder(tower, S, 8, tower_weights="w.h5")
    with pytest.raises(ValueError, match="dropout"):
        build_embedder("small_cnn", S, 8, dropout=1.0)


def test_multiscale_embedder(tmp_path):
    emb = build_embedder("small_cnn", S, 12, multiscale=True, shallow_filters=8)
    assert emb.output_shape == (None, 12)
    concat = emb.get_layer("multiscale_concat")
    assert concat.output.shape == (None, 128 + 8 + 8)  # deep + two shallow
    # Down-sampled 4x and 8x, then 2x2 max-pooled.
    assert emb.get_layer("shallow4_downsample").output.shape[1:3] == (8, 8)
    assert emb.get_layer("shallow8_downsample").output.shape[1:3] == (4, 4)
    assert emb.get_layer("shallow4_pool").output.shape[1:] == (4, 4, 8)
    assert emb.get_layer("shallow8_pool").output.shape[1:] == (2, 2, 8)
    x = {"image": _images(2)}
    np.testing.assert_allclose(np.linalg.norm(predict(emb, x), axis=1), 1, atol=1e-5)
    _round_trip(emb, x, tmp_path)
    with pytest.raises(ValueError, match="image_size >= 16"):
        build_embedder("small_cnn", 8, 4, multiscale=True)


# ---------------------------------------------------------------- triplet_net


def test_triplet_net_layers():
    net = triplet_net()
    convs = [x for x in net.layers if isinstance(x, keras.layers.Conv2D)]
    assert [c.kernel_size for c in convs] == [(5, 5), (3, 3), (3, 3), (2, 2)]
    assert [c.filters for c in convs] == [64, 128, 256, 128]
    assert all(c.padding == "valid" for c in convs)
    pools = [x for x in net.layers if isinstance(x, keras.layers.MaxPooling2D)]
    assert [p.name for p in pools] == ["pool1", "pool2", "pool3"]
    assert all(p.pool_size == (2, 2) for p in pools)
    names = [x.name for x in net.layers]
    assert names.index("pool3") < names.index("dropout") < names.index("conv4")
    assert net.get_layer("dropout").rate == 0.5
    assert net.get_layer("conv4").output.shape == (None, 1, 1, 128)
    assert net.output_shape == (None, 128)
    assert predict(net, {"image": _images(2)}).shape == (2, 128)
    assert triplet_net(64, dim=32).output_shape == (None, 32)
    with pytest.raises(ValueError, match=">= 32"):
        triplet_net(28)


# ---------------------------------------------------------------- stacked_model


def test_stacked_model_shares_one_embedder(tmp_path):
    emb = build_embedder("small_cnn", S, 8)
    net = stacked_model(emb, 3)
    assert sorted(net.input) == ["image_0", "image_1", "image_2"]
    assert net.output_shape == (None, 3, 8)
    assert net.count_params() == emb.count_params()
    assert len(net.weights) == len(emb.weights)
    xs = [_images(2, seed=i) for i in range(3)]
    out = predict(net, {f"image_{i}": x for i, x in enumerate(xs)})
    assert out.shape == (2, 3, 8)
    for i, x in enumerate(xs):
        np.testing.assert_allclose(out[:, i], predict(emb, {"image": x}), atol=1e-5)
    # The shape mmvision.losses takes: one train step of the triplet hinge.
    net.compile(keras.optimizers.SGD(0.01), loss=TripletHingeLoss())
    loss = net.train_on_batch({f"image_{i}": x for i, x in enumerate(xs)}, out)
    assert np.isfinite(float(np.asarray(loss)))
    _round_trip(net, {f"image_{i}": x for i, x in enumerate(xs)}, tmp_path)


def test_stacked_model_of_a_tower_and_of_triplet_net():
    tower = image_towers.get("small_cnn", (S, S, 3))
    assert stacked_model(tower, 2).output_shape == (None, 2, 128)
    assert stacked_model(triplet_net(dim=16), 1).output_shape == (None, 1, 16)
    with pytest.raises(ValueError, match="n must be"):
        stacked_model(tower, 0)
