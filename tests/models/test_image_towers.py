"""Tests of mmvision.models.image_towers (and resnet18)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings

import keras
import numpy as np
import pytest
from helpers_models import predict, run_model_saving_test, run_train_step

from mmvision.layers import ImagePreprocessing
from mmvision.models import image_towers
from mmvision.models.resnet18 import ResNet18

SIZES = {"inceptionv3": 75, "xception": 71}
DIMS = {
    "resnet50v2": 2048,
    "inceptionv3": 2048,
    "mobilenetv2": 1280,
    "xception": 2048,
    "resnet50": 2048,
    "vgg16": 512,
    "resnet18": 512,
    "small_cnn": 128,
    "small_resnet": 256,
}
FAST = ("resnet18", "small_cnn", "small_resnet")


def _params():
    return [
        n if n in FAST else pytest.param(n, marks=pytest.mark.large)
        for n in image_towers.NAMES
    ]


def _images(n, size, seed=0):
    return (
        np.random.default_rng(seed)
        .uniform(0, 255, (n, size, size, 3))
        .astype("float32")
    )


def test_registry_lists_every_tower():
    assert image_towers.NAMES == list(DIMS)
    assert image_towers.KERAS_APPLICATIONS == [
        "resnet50v2",
        "inceptionv3",
        "mobilenetv2",
        "xception",
        "resnet50",
        "vgg16",
    ]


@pytest.mark.parametrize("name", _params())
def test_tower_build_train_save(name, tmp_path):
    size = SIZES.get(name, 32)
    tower = image_towers.get(name, input_shape=(size, size, 3), name="t")
    assert tower.name == "t"
    assert tower.input.name == "image" or tower.input_names == ["image"]
    assert tower.output_shape == (None, DIMS[name])
    assert isinstance(tower.get_layer("preprocessing"), ImagePreprocessing)
    x = _images(4, size)
    assert predict(tower, x).shape == (4, DIMS[name])
    # Tracing the train step of the big graphs takes minutes on a busy CPU;
    # small_cnn is also trained in graph mode (test_small_cnn_learns_64px_shapes).
    run_train_step(tower, x, run_eagerly=name != "small_cnn")
    run_model_saving_test(tower, x, tmp_path)


def test_unknown_tower_lists_valid_names():
    with pytest.raises(ValueError, match="resnet50v2, inceptionv3, .*small_cnn"):
        image_towers.get("resnet51")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"tower": "inceptionv3", "input_shape": (64, 64, 3)}, "at least 75x75"),
        ({"tower": "small_cnn", "input_shape": (64, 64)}, "input_shape"),
        ({"tower": "small_cnn", "freeze_fraction": 1.5}, "freeze_fraction"),
        ({"tower": "small_cnn", "weights": 3}, "weights must be"),
        ({"tower": "small_cnn", "weights": "weights.bin"}, "weights.bin"),
        ({"tower": "small_cnn", "weights": "imagenet"}, "no ImageNet weights"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        image_towers.get(**kwargs)


def test_preprocessing_modes():
    assert image_towers.get("small_cnn", (32, 32, 3)).get_layer(
        "preprocessing"
    ).mode == ("unit")
    assert image_towers.get("mobilenetv2", (32, 32, 3)).get_layer(
        "preprocessing"
    ).mode == ("tf")


def test_small_cnn_size_and_shapes():
    tower = image_towers.get("small_cnn", (64, 64, 3))
    backbone = tower.get_layer("backbone")
    # 3x3 convs without bias: 27*16 + 144*32 + 288*64 + 576*128; BN gamma/beta.
    convs = 27 * 16 + 144 * 32 + 288 * 64 + 576 * 128
    bn = 2 * (16 + 32 + 64 + 128)
    trainable = sum(int(np.prod(w.shape)) for w in backbone.trainable_weights)
    assert trainable == convs + bn
    assert image_towers.get("small_cnn", (16, 16, 3)).output_shape == (None, 128)


def test_small_resnet_layout():
    from mmvision.models.small_resnet import SmallResNet

    net = SmallResNet((64, 64, 3))
    assert net.output_shape == (None, 256)
    # Stem at 32 px, stages at 32, 16, 8, 4 px; projections where widths change.
    sizes = {
        layer.name: layer.output.shape[1]
        for layer in net.layers
        if layer.name.endswith("_out") or layer.name == "stem_relu"
    }
    assert sizes == {
        "stem_relu": 32, "stage1_block1_out": 32, "stage2_block1_out": 16,
        "stage3_block1_out": 8, "stage4_block1_out": 4,
    }  # fmt: skip

    # Hand count: stem 3x3x3x32 + BN; one basic block per stage; 1x1 projections
    # (none in stage 1: 32 -> 32 at stride 1).
    def block(i, o, proj):
        return 9 * i * o + 9 * o * o + 4 * o * 2 + ((i * o + 4 * o) if proj else 0)

    want = 9 * 3 * 32 + 4 * 32 + block(32, 32, False) + block(32, 64, True)
    want += block(64, 128, True) + block(128, 256, True)
    assert net.count_params() == want
    two = SmallResNet((32, 32, 3), filters=(8, 16), blocks=2)
    assert two.output_shape == (None, 16)
    assert "stage2_block2_out" in [layer.name for layer in two.layers]
    with pytest.raises(ValueError, match="blocks"):
        SmallResNet((32, 32, 3), blocks=0)


def test_resnet18_matches_reference_parameter_count():
    model = ResNet18((64, 64, 3))
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    # torchvision resnet18: 11,689,512 parameters, minus its 512*1000+1000 fc.
    assert trainable == 11_689_512 - 513_000
    convs = [x for x in model.layers if isinstance(x, keras.layers.Conv2D)]
    assert len(convs) == 1 + 16 + 3  # stem, 8 blocks x 2, 3 projections
    for size in (32, 224):
        assert ResNet18((size, size, 3)).output_shape == (None, 512)
    assert ResNet18((32, 32, 3), pooling=None).output_shape == (None, 1, 1, 512)
    out = ResNet18((224, 224, 3))(_images(1, 224))
    assert tuple(out.shape) == (1, 512)
    with pytest.raises(ValueError, match="pooling"):
        ResNet18(pooling="mean")


def test_freeze_fraction_freezes_first_layers_and_batchnorm_inference():
    tower = image_towers.get("small_cnn", (32, 32, 3), freeze_fraction=0.5)
    layers = tower.get_layer("backbone").layers[1:]  # without the InputLayer
    frozen = [not layer.trainable for layer in layers]
    n = len(layers) // 2
    assert frozen == [True] * n + [False] * (len(layers) - n)
    # Fully frozen: BatchNorm runs in inference mode even when training=True.
    x = _images(8, 32)
    full = image_towers.get("small_cnn", (32, 32, 3), freeze_fraction=1.0)
    assert full.trainable_weights == []
    np.testing.assert_allclose(
        np.asarray(full(x, training=True)),
        np.asarray(full(x, training=False)),
        atol=1e-5,
    )
    # Not frozen: training=True uses batch statistics, outputs differ.
    free = image_towers.get("small_cnn", (32, 32, 3))
    diff = np.abs(
        np.asarray(free(x, training=True)) - np.asarray(free(x, training=False))
    )
    assert diff.max() > 1e-3


def _write_legacy_h5(model: keras.Model, path: str) -> None:
    """Writes weights the way the official keras.applications files are stored."""
    model.save(path)  # legacy HDF5 full-model file; load_weights reads its weights


def test_imagenet_weights_from_keras_home(tmp_path, monkeypatch):
    home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    shape = (32, 32, 3)
    expected = (
        home
        / "models"
        / ("mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5")
    )
    assert image_towers.imagenet_weights_file("mobilenetv2", shape) == expected.name
    # Absent: a clear error naming the full path; the network guard would fail
    # this test on any download attempt.
    with pytest.raises(FileNotFoundError) as err:
        image_towers.get("mobilenetv2", shape, weights="imagenet")
    assert str(expected) in str(err.value) and "does not download" in str(err.value)
    # Present: loaded, and the tower gives the same outputs as the source.
    source = image_towers.get("mobilenetv2", shape)
    expected.parent.mkdir(parents=True)
    _write_legacy_h5(source.get_layer("backbone"), str(expected))
    loaded = image_towers.get("mobilenetv2", shape, weights="imagenet")
    fresh = image_towers.get("mobilenetv2", shape)
    x = _images(3, 32)
    np.testing.assert_allclose(predict(loaded, x), predict(source, x), atol=1e-5)
    for a, b in zip(source.weights, loaded.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # A random init differs (so the check above can fail).
    assert any(
        not np.array_equal(np.asarray(a), np.asarray(c))
        for a, c in zip(source.weights, fresh.weights)
    )
    # Same file given as a path.
    by_path = image_towers.get("mobilenetv2", shape, weights=str(expected))
    np.testing.assert_allclose(predict(by_path, x), predict(source, x), atol=1e-5)


def test_weights_path_round_trip_and_mismatch(tmp_path):
    source = image_towers.get("small_cnn", (32, 32, 3))
    path = tmp_path / "backbone.weights.h5"
    source.get_layer("backbone").save_weights(path)
    tower = image_towers.get(
        "small_cnn", (32, 32, 3), weights=path, freeze_fraction=0.5
    )
    x = _images(2, 32)
    np.testing.assert_allclose(predict(tower, x), predict(source, x), atol=1e-6)
    with warnings.catch_warnings():  # Keras warns per unmatched layer first
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="backbone.weights.h5"):
            image_towers.get("resnet18", (32, 32, 3), weights=path)
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        image_towers.get("small_cnn", weights=tmp_path / "missing.h5")


@pytest.mark.large
@pytest.mark.parametrize("name", image_towers.KERAS_APPLICATIONS)
def test_imagenet_file_names_match_keras_applications(name, monkeypatch):
    """The file Keras itself would fetch is the one mmvision looks for."""
    from keras.src.utils import file_utils

    requested = []

    def fake_get_file(fname=None, origin=None, **kwargs):
        requested.append(fname)
        raise RuntimeError("stop")

    monkeypatch.setattr(file_utils, "get_file", fake_get_file)
    fn = {
        "resnet50v2": keras.applications.ResNet50V2,
        "inceptionv3": keras.applications.InceptionV3,
        "mobilenetv2": keras.applications.MobileNetV2,
        "xception": keras.applications.Xception,
        "resnet50": keras.applications.ResNet50,
        "vgg16": keras.applications.VGG16,
    }[name]
    shape = (96, 96, 3)
    with pytest.raises(RuntimeError, match="stop"):
        fn(include_top=False, weights="imagenet", input_shape=shape)
    assert requested == [image_towers.imagenet_weights_file(name, shape)]


def test_small_cnn_learns_64px_shapes():
    """Vertical vs horizontal bars of random colour and position at 64 px."""
    rng = np.random.default_rng(0)
    n, size = 192, 64
    x = np.zeros((n, size, size, 3), "float32")
    y = rng.integers(0, 2, n)
    for i in range(n):
        c = rng.uniform(80, 255, 3)
        a, b = rng.integers(4, 44, 2)
        if y[i]:
            x[i, a : a + 16, b : b + 4] = c
        else:
            x[i, a : a + 4, b : b + 16] = c
    keras.utils.set_random_seed(0)
    tower = image_towers.get("small_cnn", (size, size, 3))
    model = keras.Sequential([tower, keras.layers.Dense(2)])
    model.compile(
        keras.optimizers.Adam(3e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x[:128], y[:128], epochs=8, batch_size=32, verbose=0)
    _, acc = model.evaluate(x[128:], y[128:], verbose=0)
    assert acc >= 0.9


EXPORT_SCRIPT = textwrap.dedent(
    """
    import os, sys, json
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import numpy as np
    import tensorflow as tf
    root = sys.argv[1]
    for name in ("image", "text"):
        reloaded = tf.saved_model.load(os.path.join(root, name))
        fn = reloaded.signatures["serving_default"]
        data = np.load(os.path.join(root, name + "_x.npy"), allow_pickle=True)
        key = list(fn.structured_input_signature[1])[0]
        arg = tf.constant(data) if data.dtype != object else tf.constant(data.tolist())
        out = list(fn(**{key: arg}).values())[0].numpy()
        np.save(os.path.join(root, name + "_y.npy"), out)
    print("ok")
    """
)


def test_export_small_cnn_and_bow_in_fresh_process(tmp_path):
    from mmvision.models import text_towers

    image = image_towers.get("small_cnn", (32, 32, 3))
    text = text_towers.get(
        "bow", adapt_texts=["a red circle", "a blue square", "green star"], output_dim=8
    )
    xi = _images(3, 32)
    xt = np.asarray(["a red square", "", "blue blue star"], dtype=object)
    image.export(str(tmp_path / "image"), format="tf_saved_model", verbose=False)
    text.export(str(tmp_path / "text"), format="tf_saved_model", verbose=False)
    np.save(tmp_path / "image_x.npy", xi)
    np.save(tmp_path / "text_x.npy", xt, allow_pickle=True)
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(
        [sys.executable, "-c", EXPORT_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_allclose(
        np.load(tmp_path / "image_y.npy"), predict(image, xi), atol=1e-5
    )
    np.testing.assert_allclose(
        np.load(tmp_path / "text_y.npy"), predict(text, xt), atol=1e-5
    )


# ---------------------------------------------------------------- caffe towers, cut_at

CAFFE = {
    "resnet50": (keras.applications.ResNet50, keras.applications.resnet50, 2048),
    "vgg16": (keras.applications.VGG16, keras.applications.vgg16, 512),
}


@pytest.mark.parametrize(
    "name", ["vgg16", pytest.param("resnet50", marks=pytest.mark.large)]
)  # resnet50: ~13 s on a busy CPU
def test_caffe_tower_smoke_and_preprocessing(name, tmp_path):
    fn, module, dim = CAFFE[name]
    tower = image_towers.get(name, (32, 32, 3), name="t")
    assert tower.output_shape == (None, dim)
    assert [layer.name for layer in tower.layers] == [
        "image",
        "preprocessing",
        "backbone",
    ]
    assert tower.get_layer("preprocessing").mode == "none"
    x = _images(2, 32)
    assert predict(tower, x).shape == (2, dim)
    # The backbone opens with keras.applications' own "caffe" preprocess_input.
    backbone = tower.get_layer("backbone")
    caffe = keras.Model(backbone.input, backbone.get_layer("caffe_mean").output)
    np.testing.assert_allclose(
        np.asarray(caffe(x)), module.preprocess_input(x.copy()), atol=1e-4
    )
    # An official-format no-top file loads into it by the official file name.
    ref = fn(include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg")
    path = tmp_path / image_towers.imagenet_weights_file(name, (32, 32, 3))
    _write_legacy_h5(ref, str(path))
    loaded = image_towers.get(name, (32, 32, 3), weights=path)
    expected = np.asarray(ref(module.preprocess_input(x.copy())))
    np.testing.assert_allclose(predict(loaded, x), expected, atol=1e-4, rtol=1e-4)


def test_caffe_tower_file_names():
    shape = (32, 32, 3)
    assert image_towers.imagenet_weights_file("resnet50", shape) == (
        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    )
    assert image_towers.imagenet_weights_file("vgg16", shape) == (
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    )
    assert {"resnet50", "vgg16"} <= set(image_towers.KERAS_APPLICATIONS)


@pytest.mark.large
@pytest.mark.parametrize("name", list(CAFFE))
def test_caffe_tower_file_names_match_keras_applications(name, monkeypatch):
    from keras.src.utils import file_utils

    requested = []

    def fake_get_file(fname=None, origin=None, **kwargs):
        requested.append(fname)
        raise RuntimeError("stop")

    monkeypatch.setattr(file_utils, "get_file", fake_get_file)
    shape = (32, 32, 3)
    with pytest.raises(RuntimeError, match="stop"):
        CAFFE[name][0](include_top=False, weights="imagenet", input_shape=shape)
    assert requested == [image_towers.imagenet_weights_file(name, shape)]


def test_vgg16_keras_round_trip(tmp_path):
    tower = image_towers.get("vgg16", (32, 32, 3))
    run_model_saving_test(tower, _images(2, 32), tmp_path)


@pytest.mark.parametrize(
    "name, layer, channels",
    [
        ("small_cnn", "pool2", 32),
        ("small_cnn", "relu3", 64),
        ("vgg16", "block3_pool", 256),
        ("resnet50", "conv3_block4_out", 512),
    ],
)
def test_cut_at_gives_a_shorter_tower(name, layer, channels):
    full = image_towers.get(name, (32, 32, 3))
    cut = image_towers.get(name, (32, 32, 3), cut_at=layer)
    assert cut.output_shape == (None, channels)
    assert [x.name for x in cut.layers] == ["image", "preprocessing", "backbone"]
    backbone = cut.get_layer("backbone")
    assert backbone.layers[-1].name == "cut_avg_pool"
    assert len(backbone.layers) < len(full.get_layer("backbone").layers)
    assert predict(cut, _images(2, 32)).shape == (2, channels)


def test_cut_at_same_weights_and_round_trip(tmp_path):
    source = image_towers.get("small_cnn", (32, 32, 3))
    path = tmp_path / "backbone.weights.h5"
    source.get_layer("backbone").save_weights(path)
    cut = image_towers.get(
        "small_cnn", (32, 32, 3), weights=path, cut_at="relu2", freeze_fraction=1.0
    )
    assert cut.trainable_weights == []
    x = _images(3, 32)
    inner = source.get_layer("backbone")
    ref = keras.Model(inner.input, inner.get_layer("relu2").output)
    pre = source.get_layer("preprocessing")
    expected = np.asarray(ref(pre(x))).mean(axis=(1, 2))
    np.testing.assert_allclose(predict(cut, x), expected, atol=1e-5)
    run_model_saving_test(cut, x, tmp_path)
    # Cutting at the pooled output keeps it as it is.
    pooled = image_towers.get("small_cnn", (32, 32, 3), cut_at="avg_pool")
    assert pooled.get_layer("backbone").layers[-1].name == "avg_pool"


def test_cut_at_unknown_layer_lists_valid_names():
    with pytest.raises(
        ValueError, match=r"'conv9'.*did you mean conv4, .*: conv1, bn1"
    ):
        image_towers.get("small_cnn", (32, 32, 3), cut_at="conv9")
    with pytest.raises(ValueError, match=r"caffe_mean.*conv1_pad, conv1_conv"):
        image_towers.get("resnet50", (32, 32, 3), cut_at="caffe_mean")
