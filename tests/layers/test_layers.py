"""Tests of mmvision.layers."""

from __future__ import annotations

import hashlib
import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers_models import (
    TINY_VOCAB,
    make_tiny_bert,
    make_tiny_keras_hub_preset,
    make_tiny_use,
    predict,
    run_layer_test,
    run_model_saving_test,
    strings,
)

from mmvision.layers import (
    HubTextEncoder,
    ImagePreprocessing,
    KerasHubTextEncoder,
    ModalityDropout,
    ProjectionHead,
    resolve_hub_handle,
)
from mmvision.layers.keras_hub_text_encoder import set_exact_gelu

TEXTS = ["a red circle", "the big blue square on white", "", "small black star ."]


@pytest.fixture(scope="module")
def hub_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    use = make_tiny_use(root / "use")
    pre, enc = make_tiny_bert(root / "bert")
    return {"use": use, "bert_pre": pre, "bert_enc": enc}


@pytest.fixture(scope="module")
def preset_dir(tmp_path_factory):
    return make_tiny_keras_hub_preset(tmp_path_factory.mktemp("preset") / "bert_tiny")


# ------------------------------------------------------------------ ProjectionHead


def test_projection_head_layer(tmp_path):
    x = np.random.default_rng(0).normal(size=(4, 12)).astype("float32")
    run_layer_test(ProjectionHead(8, depth=2, dropout=0.1), x, (4, 8), tmp_path)


def test_projection_head_matches_hand_computation():
    x = np.random.default_rng(1).normal(size=(5, 6)).astype("float32")
    head = ProjectionHead(units=4, depth=2, dropout=0.5)
    out = np.asarray(head(x, training=False))
    (w1, b1), (w2, b2) = [
        (np.asarray(b.kernel), np.asarray(b.bias)) for b in head.blocks
    ]
    h = np.maximum(x @ w1 + b1, 0)
    np.testing.assert_allclose(out, np.maximum(h @ w2 + b2, 0), atol=1e-5)
    # Training mode applies dropout: some activations are zeroed.
    trained = np.asarray(head(np.abs(x) + 1, training=True))
    assert trained.shape == (5, 4)


def test_projection_head_depth_zero_is_identity():
    x = np.arange(6, dtype="float32").reshape(2, 3)
    head = ProjectionHead(units=7, depth=0)
    np.testing.assert_array_equal(np.asarray(head(x)), x)
    assert head.compute_output_shape((2, 3)) == (2, 3)


@pytest.mark.parametrize(
    "kwargs", [{"units": 0}, {"depth": -1}, {"dropout": 1.0}, {"dropout": -0.1}]
)
def test_projection_head_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        ProjectionHead(**kwargs)


# -------------------------------------------------------------- ImagePreprocessing


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("tf", lambda x: x / 127.5 - 1.0),
        ("unit", lambda x: x / 255.0),
        (
            "torch",
            lambda x: (
                (x / 255.0 - np.array([0.485, 0.456, 0.406]))
                / np.array([0.229, 0.224, 0.225])
            ),
        ),
        ("none", lambda x: x),
    ],
)
def test_image_preprocessing_values(mode, expected, tmp_path):
    x = np.random.default_rng(2).uniform(0, 255, size=(2, 4, 4, 3)).astype("float32")
    layer = ImagePreprocessing(mode)
    np.testing.assert_allclose(np.asarray(layer(x)), expected(x), rtol=1e-5, atol=1e-5)
    # Same values inside tf.data.
    ds = tf.data.Dataset.from_tensor_slices(x).batch(2).map(layer)
    np.testing.assert_allclose(
        next(iter(ds)).numpy(), expected(x), rtol=1e-5, atol=1e-5
    )
    run_layer_test(layer, x, (2, 4, 4, 3), tmp_path)


def test_image_preprocessing_tf_mode_range_and_uint8():
    x = np.array([0, 255], dtype="uint8").reshape(1, 1, 2, 1)
    np.testing.assert_allclose(np.asarray(ImagePreprocessing("tf")(x)).ravel(), [-1, 1])


def test_image_preprocessing_unknown_mode_lists_valid():
    with pytest.raises(ValueError, match="tf, unit, torch, none"):
        ImagePreprocessing("caffe2")


# ---------------------------------------------------------------- ModalityDropout


def _modalities(batch, dims=(3, 5, 2)):
    rng = np.random.default_rng(3)
    return [rng.uniform(1, 2, size=(batch, d)).astype("float32") for d in dims]


def test_modality_dropout_rate_zero_and_inference_are_identity():
    xs = _modalities(64)
    for out, x in zip(ModalityDropout(0.0)(xs, training=True), xs):
        np.testing.assert_array_equal(np.asarray(out), x)
    for out, x in zip(ModalityDropout(0.9)(xs, training=False), xs):
        np.testing.assert_array_equal(np.asarray(out), x)
    for out, x in zip(ModalityDropout(0.9)(xs), xs):
        np.testing.assert_array_equal(np.asarray(out), x)


@pytest.mark.parametrize("rate, num", [(0.3, 2), (0.5, 3), (1.0, 3)])
def test_modality_dropout_frequencies_and_never_all(rate, num):
    batch = 20000
    xs = _modalities(batch, dims=(3, 4, 2)[:num])
    outs = [np.asarray(o) for o in ModalityDropout(rate, seed=1)(xs, training=True)]
    dropped = np.stack([np.all(o == 0, axis=1) for o in outs], axis=1)
    kept = ~dropped
    # A modality is either dropped entirely or passed unchanged.
    for o, x, k in zip(outs, xs, kept.T):
        np.testing.assert_array_equal(o[k], x[k])
        assert np.all(o[~k] == 0)
    assert kept.any(axis=1).all(), "an example lost every modality"
    expected = rate - rate**num / num
    np.testing.assert_allclose(dropped.mean(axis=0), expected, atol=0.015)


def test_modality_dropout_single_modality_never_dropped():
    (x,) = _modalities(100, dims=(4,))
    (out,) = ModalityDropout(1.0)([x], training=True)
    np.testing.assert_array_equal(np.asarray(out), x)


def test_modality_dropout_rank3_and_rejects_bad_input():
    x = np.ones((1000, 3, 2), "float32")
    y = np.ones((1000, 5), "float32")
    ox, oy = ModalityDropout(0.5, seed=2)([x, y], training=True)
    ox = np.asarray(ox)
    per_example = ox.reshape(1000, -1)
    assert set(np.unique(per_example.min(axis=1) + per_example.max(axis=1))) <= {0, 2}
    with pytest.raises(ValueError):
        ModalityDropout(1.5)
    with pytest.raises(ValueError, match="list of modality tensors"):
        ModalityDropout(0.5)(np.ones((2, 3), "float32"))


def test_modality_dropout_layer_serialization(tmp_path):
    xs = _modalities(4)
    run_layer_test(ModalityDropout(0.4, seed=3), xs, [(4, 3), (4, 5), (4, 2)], tmp_path)


def test_modality_dropout_in_fit_on_dataset():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(64, 4)), rng.normal(size=(64, 3))
    y = (a[:, 0] > 0).astype("int32")
    ia, ib = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    da, db = ModalityDropout(0.5, seed=5)([ia, ib])
    out = keras.layers.Dense(2)(keras.layers.Concatenate()([da, db]))
    model = keras.Model([ia, ib], out)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ds = tf.data.Dataset.from_tensor_slices(
        ({"a": a.astype("float32"), "b": b.astype("float32")}, y)
    ).batch(16)
    history = model.fit(ds, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    # Inference: deterministic.
    np.testing.assert_array_equal(predict(model, ds), predict(model, ds))


# --------------------------------------------------------------- HubTextEncoder


def test_hub_text_encoder_use_signature(hub_dir, tmp_path):
    import tensorflow_hub as hub

    layer = HubTextEncoder(hub_dir["use"])
    assert layer.output_dim == 512 and not layer.trainable
    x = strings(TEXTS)
    expected = hub.load(hub_dir["use"])(tf.constant(TEXTS)).numpy()
    np.testing.assert_allclose(np.asarray(layer(x)), expected, atol=1e-6)
    # Batch of one keeps its batch axis; [B, 1] is squeezed on the last axis.
    assert tuple(layer(strings(TEXTS[:1])).shape) == (1, 512)
    assert tuple(layer(x.reshape(-1, 1)).shape) == (4, 512)
    assert layer.weights == []  # hub variables are not Keras weights
    run_layer_test(HubTextEncoder(hub_dir["use"]), x, (4, 512), tmp_path)


def test_hub_text_encoder_bert_pair(hub_dir):
    import tensorflow_hub as hub

    layer = HubTextEncoder(hub_dir["bert_enc"], preprocessor=hub_dir["bert_pre"])
    assert layer.output_dim == 768
    pre, enc = hub.load(hub_dir["bert_pre"]), hub.load(hub_dir["bert_enc"])
    expected = enc(pre(tf.constant(TEXTS)))["pooled_output"].numpy()
    np.testing.assert_allclose(np.asarray(layer(strings(TEXTS))), expected, atol=1e-6)
    with pytest.raises(ValueError, match="not in the model's outputs"):
        HubTextEncoder(
            hub_dir["bert_enc"], preprocessor=hub_dir["bert_pre"], output_key="x"
        )
    with pytest.raises(ValueError, match="single tensor"):
        HubTextEncoder(hub_dir["use"], output_key="pooled_output")


def test_hub_handle_errors_and_no_network(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        resolve_hub_handle(str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="saved_model.pb"):
        resolve_hub_handle(str(tmp_path))
    monkeypatch.delenv("MMVISION_ALLOW_DOWNLOADS", raising=False)
    url = "https://tfhub.dev/google/universal-sentence-encoder/4"
    with pytest.raises(ValueError, match="MMVISION_ALLOW_DOWNLOADS=1"):
        HubTextEncoder(url)


def test_hub_remote_handle_served_from_cache(hub_dir, tmp_path, monkeypatch):
    url = "https://tfhub.dev/google/universal-sentence-encoder/4"
    cache = tmp_path / "tfhub"
    shutil.copytree(hub_dir["use"], cache / hashlib.sha1(url.encode()).hexdigest())
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(cache))
    layer = HubTextEncoder(url)  # the network guard fails the test on any download
    np.testing.assert_allclose(
        np.asarray(layer(strings(TEXTS))),
        np.asarray(HubTextEncoder(hub_dir["use"])(strings(TEXTS))),
        atol=1e-6,
    )
    assert resolve_hub_handle(url) == os.path.join(
        str(cache), hashlib.sha1(url.encode()).hexdigest()
    )


# ---------------------------------------------------------- KerasHubTextEncoder


def test_keras_hub_text_encoder_pooling(preset_dir, tmp_path):
    enc = KerasHubTextEncoder.from_preset(preset_dir, sequence_length=12)
    x = strings(TEXTS)
    features = enc.preprocessor(tf.constant(TEXTS))
    outputs = enc.backbone(features)
    np.testing.assert_allclose(
        np.asarray(enc(x)), np.asarray(outputs["pooled_output"]), atol=1e-6
    )
    mean = KerasHubTextEncoder(
        enc.backbone, enc.preprocessor, pooling="mean", normalize=True
    )
    seq = np.asarray(outputs["sequence_output"])
    mask = np.asarray(features["padding_mask"]).astype("float32")[..., None]
    ref = (seq * mask).sum(1) / mask.sum(1)
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    np.testing.assert_allclose(np.asarray(mean(x)), ref, atol=1e-5)
    cls = KerasHubTextEncoder(enc.backbone, enc.preprocessor, pooling="cls")
    np.testing.assert_allclose(np.asarray(cls(x)), seq[:, 0], atol=1e-6)
    assert not enc.trainable and enc.output_dim == 16
    run_layer_test(mean, x, (4, 16), tmp_path)


def test_keras_hub_text_encoder_tokenizes_vocab(preset_dir):
    enc = KerasHubTextEncoder.from_preset(preset_dir, sequence_length=8)
    ids = np.asarray(enc.preprocessor(tf.constant(["Red circle"]))["token_ids"])[0]
    vocab = {w: i for i, w in enumerate(TINY_VOCAB)}
    assert list(ids[:4]) == [
        vocab["[CLS]"],
        vocab["red"],
        vocab["circle"],
        vocab["[SEP]"],
    ]


def test_keras_hub_text_encoder_exact_gelu_survives_saving(preset_dir, tmp_path):
    enc = KerasHubTextEncoder.from_preset(
        preset_dir, sequence_length=8, exact_gelu=True
    )
    approx = KerasHubTextEncoder.from_preset(preset_dir, sequence_length=8)
    x = strings(TEXTS)

    def ffn_activation(layer):
        return layer.backbone.transformer_layers[
            0
        ]._feedforward_intermediate_dense.activation

    assert ffn_activation(enc) is keras.activations.gelu
    assert ffn_activation(approx) is not keras.activations.gelu
    inputs = keras.Input((), dtype="string")
    model = keras.Model(inputs, enc(inputs))
    loaded = run_model_saving_test(model, x, tmp_path)
    assert ffn_activation(loaded.layers[-1]) is keras.activations.gelu


def test_keras_hub_text_encoder_errors(preset_dir, tmp_path):
    with pytest.raises(ValueError, match="pooled, mean, cls"):
        KerasHubTextEncoder.from_preset(preset_dir, pooling="max")
    with pytest.raises(FileNotFoundError, match="no such directory"):
        KerasHubTextEncoder.from_preset(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="no transformer"):
        set_exact_gelu(keras.Sequential([keras.layers.Dense(2)]))
