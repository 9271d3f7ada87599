"""Every Keras layer, loss and metric mmvision defines: shape, values, round trips.

Adding a layer is one ``LayerCase`` line in ``LAYER_CASES``; a loss or metric,
one line in ``OBJECT_CASES``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import pytest
from helpers_models import make_tiny_keras_hub_preset, make_tiny_use, strings
from layer_testing import run_config_round_trip, run_layer_test

from mmvision.layers import (
    HubTextEncoder,
    ImagePreprocessing,
    KerasHubTextEncoder,
    LateFusion,
    ModalityDropout,
    ModalityPresence,
    PresenceGate,
    ProjectionHead,
)
from mmvision.models.captioner import (
    MaskedNextWordAccuracy,
    MaskedSparseCategoricalCrossentropy,
    MergeAdd,
)

B, D, T, C = 4, 6, 5, 3
TEXTS = ["a red circle", "", "the big blue square on white", "   "]


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _features(seed: int = 0, shape=(B, D)) -> np.ndarray:
    return _rng(seed).normal(size=shape).astype("float32")


def _pixels() -> np.ndarray:
    return _rng(1).uniform(0, 255, size=(B, 4, 4, 3)).astype("float32")


def _images_one_blank() -> np.ndarray:
    x = _rng(2).uniform(0, 255, size=(B, 4, 4, 3)).astype("float32")
    x[1] = 0.0
    return x


def _probabilities(seed: int) -> np.ndarray:
    p = _rng(seed).uniform(0.1, 1.0, size=(B, C)).astype("float32")
    return p / p.sum(axis=1, keepdims=True)


def _fusion_inputs() -> list[np.ndarray]:
    # Rows: both present, image only, text only, neither.
    w_image = np.array([[1], [1], [0], [0]], "float32")
    w_text = np.array([[1], [0], [1], [0]], "float32")
    return [_probabilities(3), _probabilities(4), w_image, w_text]


def _gate_inputs() -> list[np.ndarray]:
    return [_features(5), np.array([[1], [0], [1], [0]], "float32")]


def _merge_inputs(per_word: bool = False) -> list[np.ndarray]:
    shape = (B, D) if per_word else (B, T, D)
    return [_features(6), _features(7, shape)]


# ------------------------------------------------------------------ value checks


def _check_preprocessing(expected: Callable[[np.ndarray], np.ndarray]):
    def check(x, outs):
        np.testing.assert_allclose(outs[0], expected(x), rtol=1e-5, atol=1e-5)

    return check


def _torch_mode(x):
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    return (x / 255.0 - mean) / std


def _check_late_fusion(inputs, outs):
    p1, p2, w1, w2 = inputs
    expected = np.stack([(p1[0] + p2[0]) / 2, p1[1], p2[2], (p1[3] + p2[3]) / 2])
    np.testing.assert_allclose(outs[0], expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(outs[0].sum(axis=1), 1.0, rtol=1e-5)


def _check_identity(inputs, outs):
    for o, x in zip(outs, inputs):
        np.testing.assert_array_equal(o, x)


def _check_presence_gate(inputs, outs):
    features, presence = inputs
    present = presence[:, 0] == 1
    np.testing.assert_array_equal(outs[0][present], features[present])
    assert np.all(outs[0][~present] == 0)


def _expect_presence(expected: list[float]):
    def check(_, outs):
        np.testing.assert_array_equal(outs[0], np.array(expected, "float32")[:, None])

    return check


def _check_relu(_, outs):
    assert np.all(outs[0] >= 0) and np.any(outs[0] > 0)


def _check_unit_norm(_, outs):
    np.testing.assert_allclose(np.linalg.norm(outs[0], axis=1), 1.0, rtol=1e-5)


def _check_merge_add(inputs, outs):
    features, sequence = inputs
    if sequence.ndim == 3:
        features = features[:, None, :]
    np.testing.assert_allclose(outs[0], features + sequence, rtol=1e-6)


# ------------------------------------------------------------------------ cases


@dataclass(frozen=True)
class LayerCase:
    """One layer test. ``factory(assets)`` gets the ``assets`` fixture's dict
    when ``needs_assets`` (local model directories), else no argument."""

    factory: Callable[..., keras.layers.Layer]
    inputs: Callable[[], Any]
    expected_shape: Any
    check: Callable[[Any, list[np.ndarray]], None] | None = None
    positional: bool = False
    needs_assets: bool = False


def case(id_, *args, marks=(), **kwargs):
    return pytest.param(LayerCase(*args, **kwargs), id=id_, marks=marks)


LAYER_CASES = [
    case(
        "image_preprocessing_tf",
        lambda: ImagePreprocessing("tf"),
        _pixels,
        (B, 4, 4, 3),
        check=_check_preprocessing(lambda x: x / 127.5 - 1.0),
    ),
    case(
        "image_preprocessing_torch",
        lambda: ImagePreprocessing("torch"),
        _pixels,
        (B, 4, 4, 3),
        check=_check_preprocessing(_torch_mode),
    ),
    case(
        "late_fusion",
        LateFusion,
        _fusion_inputs,
        (B, C),
        check=_check_late_fusion,
    ),
    case(
        "modality_dropout",
        lambda: ModalityDropout(0.5, seed=1),
        lambda: [_features(8), _features(9, (B, 2))],
        [(B, D), (B, 2)],
        check=_check_identity,
    ),
    case(
        "modality_dropout_per_modality_rates",
        lambda: ModalityDropout([0.1, 0.9], seed=2),
        lambda: [_features(10), _features(11, (B, 2, 3))],
        [(B, D), (B, 2, 3)],
        check=_check_identity,
    ),
    case(
        "presence_gate",
        PresenceGate,
        _gate_inputs,
        (B, D),
        check=_check_presence_gate,
    ),
    case(
        "modality_presence_image",
        ModalityPresence,
        _images_one_blank,
        (B, 1),
        check=_expect_presence([1, 0, 1, 1]),
    ),
    case(
        "modality_presence_text",
        ModalityPresence,
        lambda: strings(TEXTS),
        (B, 1),
        check=_expect_presence([1, 0, 1, 0]),
    ),
    case(
        "projection_head",
        lambda: ProjectionHead(8, depth=2, dropout=0.1),
        _features,
        (B, 8),
        check=_check_relu,
    ),
    case(
        "projection_head_depth_0",
        lambda: ProjectionHead(8, depth=0),
        _features,
        (B, D),
        check=lambda x, outs: _check_identity([x], outs),
    ),
    case(
        "merge_add_sequence",
        lambda: MergeAdd(name="merge"),
        _merge_inputs,
        (B, T, D),
        check=_check_merge_add,
        positional=True,
    ),
    case(
        "merge_add_per_word",
        lambda: MergeAdd(name="merge"),
        functools.partial(_merge_inputs, per_word=True),
        (B, D),
        check=_check_merge_add,
        positional=True,
    ),
    case(
        "hub_text_encoder",
        lambda assets: HubTextEncoder(assets["use"]),
        lambda: strings(TEXTS),
        (B, 8),
        needs_assets=True,
    ),
    case(
        "keras_hub_text_encoder",
        lambda assets: KerasHubTextEncoder.from_preset(
            assets["preset"], sequence_length=8, pooling="mean", normalize=True
        ),
        lambda: strings(TEXTS),
        (B, 16),
        check=_check_unit_norm,
        needs_assets=True,
    ),
]


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """A tiny Universal-Sentence-Encoder-like SavedModel and keras-hub preset."""
    root = tmp_path_factory.mktemp("layer_assets")
    return {
        "use": make_tiny_use(root / "use", dim=8),
        "preset": make_tiny_keras_hub_preset(root / "preset", hidden_dim=16),
    }


@pytest.mark.parametrize("layer_case", LAYER_CASES)
def test_layer(layer_case: LayerCase, request, tmp_path):
    factory = layer_case.factory
    if layer_case.needs_assets:
        factory = functools.partial(factory, request.getfixturevalue("assets"))
    keras.utils.set_random_seed(0)
    run_layer_test(
        factory,
        layer_case.inputs(),
        layer_case.expected_shape,
        tmp_path,
        check=layer_case.check,
        positional=layer_case.positional,
    )


def test_merge_add_output_carries_no_mask():
    # The caption loss masks padding from its targets; a Keras mask on the
    # output would make Keras weight the loss a second time.
    tokens = np.array([[1, 2, 0], [3, 0, 0]], "int32")
    embedding = keras.layers.Embedding(5, D, mask_zero=True)
    sequence = embedding(tokens)
    assert getattr(sequence, "_keras_mask", None) is not None
    out = MergeAdd()(_features(12, (2, D)), sequence)
    assert getattr(out, "_keras_mask", None) is None
    symbolic = MergeAdd()(
        keras.Input((D,)), embedding(keras.Input((None,), dtype="int32"))
    )
    assert getattr(symbolic, "_keras_mask", None) is None


# ------------------------------------------------------------- losses, metrics

OBJECT_CASES = [
    pytest.param(MaskedSparseCategoricalCrossentropy, id="masked_loss"),
    pytest.param(
        functools.partial(MaskedSparseCategoricalCrossentropy, name="caption_loss"),
        id="masked_loss_named",
    ),
    pytest.param(
        functools.partial(MaskedSparseCategoricalCrossentropy, dtype="float64"),
        id="masked_loss_dtype",
    ),
    pytest.param(MaskedNextWordAccuracy, id="masked_accuracy"),
    pytest.param(
        functools.partial(MaskedNextWordAccuracy, name="word_acc", dtype="float64"),
        id="masked_accuracy_named",
    ),
]


@pytest.mark.parametrize("factory", OBJECT_CASES)
def test_loss_metric_config_round_trip(factory):
    obj = factory()
    clone = run_config_round_trip(obj)
    assert clone.name == obj.name
    assert clone.dtype == obj.dtype


def test_loss_metric_values_and_keras_round_trip(tmp_path):
    y_true = np.array([[2, 1, 0], [3, 0, 0]], "int32")
    probs = np.full((2, 3, 4), 0.1, "float32")
    probs[0, 0, 2] = probs[0, 1, 3] = probs[1, 0, 3] = 0.7
    loss = MaskedSparseCategoricalCrossentropy()
    # Mean over the 3 real tokens: two at p=0.7, one at p=0.1; padding ignored.
    expected = -(2 * np.log(0.7) + np.log(0.1)) / 3
    np.testing.assert_allclose(float(loss(y_true, probs)), expected, rtol=1e-5)
    metric = MaskedNextWordAccuracy()
    metric.update_state(y_true, probs)
    np.testing.assert_allclose(float(metric.result()), 2 / 3, rtol=1e-6)

    inputs = keras.Input((3, 4))
    model = keras.Model(inputs, keras.layers.Activation("softmax")(inputs))
    model.compile(loss=loss, metrics=[MaskedNextWordAccuracy()])
    logits = np.log(probs)
    before = model.evaluate(logits, y_true, verbose=0, return_dict=True)
    model.save(tmp_path / "compiled.keras")
    loaded = keras.saving.load_model(tmp_path / "compiled.keras")
    assert type(loaded.loss) is MaskedSparseCategoricalCrossentropy
    after = loaded.evaluate(logits, y_true, verbose=0, return_dict=True)
    assert after == pytest.approx(before, rel=1e-6)
    assert before["accuracy"] == pytest.approx(2 / 3, rel=1e-6)
