"""Image towers: raw pixels ``[B, H, W, 3]`` in ``[0, 255]`` -> features ``[B, D]``.

A registry of feature extractors by name. Every tower is a functional
``keras.Model`` with one input named ``"image"`` and three layers: an
``ImagePreprocessing`` layer named ``"preprocessing"`` (the backbone's own
pixel scaling, so saved models take raw pixels; ``"none"`` for the "caffe"
towers ``resnet50`` and ``vgg16``, whose backbone opens with that step), the
backbone named
``"backbone"`` (a nested functional model ending in global average pooling),
and nothing else. ``tower.output_shape[-1]`` is the feature width. Combine
towers by calling them (``feats = tower(image_input)``), which keeps each
tower's layer names in its own scope; give each tower a distinct ``name``.

Example:

```python
from mmvision.models import image_towers

tower = image_towers.get("small_cnn", input_shape=(64, 64, 3))
features = tower(np.random.uniform(0, 255, (2, 64, 64, 3)))  # [2, 128]
```
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

import keras
from keras import layers

from mmvision.layers.image_preprocessing import ImagePreprocessing
from mmvision.models.resnet18 import ResNet18
from mmvision.models.small_resnet import SmallResNet
from mmvision.models.truncate import truncate

BACKBONE_LAYER = "backbone"
PREPROCESSING_LAYER = "preprocessing"
INPUT_NAME = "image"

_MOBILENET_V2_ROWS = (96, 128, 160, 192, 224)


def SmallCNN(
    input_shape: tuple[int, int, int] = (64, 64, 3),
    filters: tuple[int, ...] = (16, 32, 64, 128),
    name: str = "small_cnn",
) -> keras.Model:
    """A fast ~100k-parameter CNN for tests, demos and small images.

    Four blocks of 3x3 convolution, batch normalisation, ReLU and 2x2 max
    pooling (16, 32, 64, 128 filters), then global average pooling: a
    128-d output. Inputs of at least 16 px.

    Example:

    ```python
    SmallCNN((64, 64, 3)).count_params()  # 98,160 (97,680 trainable)
    ```
    """
    inputs = keras.Input(shape=input_shape, name="input")
    x = inputs
    for i, width in enumerate(filters, start=1):
        x = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.Activation("relu", name=f"relu{i}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, x, name=name)


@dataclass(frozen=True)
class _TowerSpec:
    build: Callable[[tuple[int, int, int]], keras.Model]
    preprocessing: str
    min_size: int
    imagenet_file: Callable[[tuple[int, int, int]], str] | None = None


def _app(fn_name: str) -> Callable[[tuple[int, int, int]], keras.Model]:
    def build(input_shape):
        fn = getattr(keras.applications, fn_name)
        return fn(
            include_top=False,
            weights=None,
            input_shape=tuple(input_shape),
            pooling="avg",
            name=BACKBONE_LAYER,
        )

    return build


# keras.applications' "caffe" preprocess_input: RGB -> BGR, minus the ImageNet
# BGR channel means, no scaling.
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
_CAFFE_LAYERS = (
    "caffe_channels_first", "caffe_b", "caffe_g", "caffe_r", "caffe_bgr",
    "caffe_channels_last", "caffe_mean",
)  # fmt: skip


def _caffe_pixels(inputs):
    """The "caffe" step in weightless built-in layers (saved with the model).

    ``ImagePreprocessing`` has no "caffe" mode, so a caffe tower's
    preprocessing layer is ``"none"`` and this block opens its backbone.
    Channels are reversed by moving them first and cropping out B, G and R.
    """
    x = layers.Permute((3, 1, 2), name="caffe_channels_first")(inputs)
    bgr = [
        layers.Cropping2D(((c, 2 - c), (0, 0)), name=f"caffe_{n}")(x)
        for c, n in ((2, "b"), (1, "g"), (0, "r"))
    ]
    x = layers.Concatenate(axis=1, name="caffe_bgr")(bgr)
    x = layers.Permute((2, 3, 1), name="caffe_channels_last")(x)
    return layers.Normalization(
        mean=list(_CAFFE_MEAN_BGR), variance=[1.0, 1.0, 1.0], name="caffe_mean"
    )(x)


def _caffe_app(fn_name: str) -> Callable[[tuple[int, int, int]], keras.Model]:
    """Like ``_app``, with the caffe step inside the backbone, in front.

    ``input_tensor=`` keeps the backbone one flat model whose weighted layers
    are the application's, so official weights files load as they are.
    """

    def build(input_shape):
        inputs = keras.Input(shape=tuple(input_shape), name="input")
        app = getattr(keras.applications, fn_name)(
            include_top=False,
            weights=None,
            input_tensor=_caffe_pixels(inputs),
            input_shape=tuple(input_shape),
            pooling="avg",
        )
        # The same layers again, with one input tensor rather than a list.
        return keras.Model(inputs, app.output, name=BACKBONE_LAYER)

    return build


def _mobilenet_v2_file(input_shape) -> str:
    rows = input_shape[0]
    if rows != input_shape[1] or rows not in _MOBILENET_V2_ROWS:
        rows = 224  # What keras.applications falls back to (with a warning).
    return f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{rows}_no_top.h5"


_SPECS: dict[str, _TowerSpec] = {
    "resnet50v2": _TowerSpec(
        _app("ResNet50V2"),
        "tf",
        32,
        lambda s: "resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
    ),
    "inceptionv3": _TowerSpec(
        _app("InceptionV3"),
        "tf",
        75,
        lambda s: "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
    ),
    "mobilenetv2": _TowerSpec(_app("MobileNetV2"), "tf", 32, _mobilenet_v2_file),
    "xception": _TowerSpec(
        _app("Xception"),
        "tf",
        71,
        lambda s: "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
    ),
    "resnet50": _TowerSpec(
        _caffe_app("ResNet50"),
        "none",
        32,
        lambda s: "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
    ),
    "vgg16": _TowerSpec(
        _caffe_app("VGG16"),
        "none",
        32,
        lambda s: "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
    ),
    "resnet18": _TowerSpec(
        lambda s: ResNet18(tuple(s), pooling="avg", name=BACKBONE_LAYER), "unit", 32
    ),
    "small_cnn": _TowerSpec(
        lambda s: SmallCNN(tuple(s), name=BACKBONE_LAYER), "unit", 16
    ),
    "small_resnet": _TowerSpec(
        lambda s: SmallResNet(tuple(s), name=BACKBONE_LAYER), "unit", 16
    ),
}

NAMES: list[str] = list(_SPECS)
"""Registered tower names, in a stable order."""

KERAS_APPLICATIONS: list[str] = [n for n in NAMES if _SPECS[n].imagenet_file]
"""Towers backed by ``keras.applications`` (the ones with ImageNet weights)."""


def _check_name(name: str) -> _TowerSpec:
    if name not in _SPECS:
        raise ValueError(
            f"Unknown image tower {name!r}. Valid names: {', '.join(NAMES)}"
        )
    return _SPECS[name]


def keras_models_dirs() -> list[str]:
    """Directories searched for official weights files, in order.

    ``$KERAS_HOME/models`` (``~/.keras/models`` when unset), read when called,
    then ``<tmp>/.keras/models``, where Keras caches when its home is not
    writable.
    """
    home = os.environ.get("KERAS_HOME") or os.path.join(
        os.path.expanduser("~"), ".keras"
    )
    dirs = [os.path.join(home, "models")]
    fallback = os.path.join(tempfile.gettempdir(), ".keras", "models")
    if fallback not in dirs:
        dirs.append(fallback)
    return dirs


def imagenet_weights_file(name: str, input_shape: tuple[int, int, int]) -> str:
    """The official ``keras.applications`` no-top weights file name of a tower."""
    spec = _check_name(name)
    if spec.imagenet_file is None:
        raise ValueError(
            f"Image tower {name!r} has no ImageNet weights; towers with ImageNet "
            f"weights: {', '.join(KERAS_APPLICATIONS)}. Pass weights=None or a "
            "weights file path."
        )
    return spec.imagenet_file(tuple(input_shape))


def imagenet_weights_path(name: str, input_shape: tuple[int, int, int]) -> str:
    """Finds the official no-top ImageNet weights file of a tower, offline.

    Returns the first existing ``<dir>/<official file name>`` over
    ``keras_models_dirs()``. Never downloads.

    Raises:
        FileNotFoundError: the file is in none of the directories; the
            message names the full path to put it at.
    """
    file_name = imagenet_weights_file(name, input_shape)
    dirs = keras_models_dirs()
    for directory in dirs:
        path = os.path.join(directory, file_name)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"ImageNet weights for image tower {name!r} not found: put the file "
        f"{file_name!r} at {os.path.join(dirs[0], file_name)} (Keras's cache; "
        "$KERAS_HOME/models). mmvision does not download weights; copy it from "
        "a machine with network access (it is what keras.applications "
        "downloads), or pass weights=<path to the file> or weights=None."
    )


def _resolve_weights(name: str, weights, input_shape) -> str | None:
    if weights is None or (isinstance(weights, str) and weights.lower() == "none"):
        return None
    if isinstance(weights, str) and weights == "imagenet":
        return imagenet_weights_path(name, input_shape)
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(
            f"weights must be None, 'imagenet' or a file path, got {weights!r}"
        )
    path = os.fspath(weights)
    if not path.endswith((".h5", ".hdf5")):
        raise ValueError(
            f"weights file {path!r}: expected a .h5 or .weights.h5 file (the "
            "backbone's weights, e.g. an official keras.applications file)"
        )
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights file {path!r} does not exist")
    return path


def freeze_layers(model: keras.Model, fraction: float) -> int:
    """Freezes the first ``fraction`` of ``model``'s layers; returns how many.

    Input layers are not counted. Frozen BatchNormalization layers run in
    inference mode (Keras 3 behaviour for ``trainable=False``).
    """
    if not 0.0 <= float(fraction) <= 1.0:
        raise ValueError(f"freeze_fraction must be in [0, 1], got {fraction!r}")
    candidates = [
        layer
        for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer)
    ]
    count = int(math.floor(float(fraction) * len(candidates) + 1e-9))
    for layer in candidates[:count]:
        layer.trainable = False
    return count


def get(
    tower: str,
    input_shape: tuple[int, int, int] = (224, 224, 3),
    weights: str | os.PathLike | None = None,
    freeze_fraction: float = 0.0,
    name: str | None = None,
    cut_at: str | None = None,
) -> keras.Model:
    """Builds an image tower by name.

    Args:
        tower: one of ``NAMES``: ``resnet50v2``, ``inceptionv3``,
            ``mobilenetv2``, ``xception``, ``resnet50``, ``vgg16``
            (``keras.applications``, no top, average pooling; 2048, 2048,
            1280, 2048, 2048, 512 features), ``resnet18`` (512),
            ``small_cnn`` (128) and ``small_resnet`` (256). ``resnet50`` and
            ``vgg16`` use "caffe" pixels (BGR minus the ImageNet means, as
            their ``preprocess_input``): their ``preprocessing`` layer is
            ``"none"`` and the caffe step is the backbone's first layers.
        input_shape: ``(H, W, 3)``; at least 32 px (inceptionv3: 75,
            xception: 71, small_cnn and small_resnet: 16).
        weights: ``None`` (random init); ``"imagenet"``: the official no-top
            file from ``$KERAS_HOME/models`` (see ``imagenet_weights_path``;
            never downloaded); or a path to a ``.h5``/``.weights.h5`` file with
            the backbone's weights.
        freeze_fraction: fraction in ``[0, 1]`` of the backbone's layers,
            from the input on, to freeze (the WebVision study froze 0.5).
        name: name of the returned model (default ``"<tower>_tower"``);
            give distinct names when a model holds several towers.
        cut_at: a backbone layer name (e.g. ``"conv4_block6_out"`` of
            resnet50, ``"block4_pool"`` of vgg16, ``"pool3"`` of small_cnn):
            the backbone ends at that layer's output, then global average
            pooling (``truncate.truncate``), so ``D`` is that layer's
            channels. Weights load into the full backbone before the cut;
            ``freeze_fraction`` counts the layers of the cut one.

    Returns:
        A ``keras.Model`` mapping float pixels ``[B, H, W, 3]`` in ``[0, 255]``
        (input ``"image"``) to features ``[B, D]``, ``D = output_shape[-1]``.

    Raises:
        ValueError: unknown name (the message lists the valid ones), input
            too small, bad ``freeze_fraction`` or ``weights``, a ``cut_at``
            layer the backbone does not have (some valid ones are listed).
        FileNotFoundError: a weights file that is not there (named).
    """
    spec = _check_name(tower)
    input_shape = tuple(int(d) for d in input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (H, W, C), got {input_shape!r}")
    if min(input_shape[:2]) < spec.min_size:
        raise ValueError(
            f"Image tower {tower!r} needs inputs of at least {spec.min_size}x"
            f"{spec.min_size} px, got input_shape={input_shape!r}"
        )
    if not 0.0 <= float(freeze_fraction) <= 1.0:
        raise ValueError(f"freeze_fraction must be in [0, 1], got {freeze_fraction!r}")
    weights_path = _resolve_weights(tower, weights, input_shape)
    if weights_path is not None and input_shape[2] != 3 and weights == "imagenet":
        raise ValueError(f"ImageNet weights need 3 channels, got {input_shape!r}")

    backbone = spec.build(input_shape)
    if weights_path is not None:
        try:
            backbone.load_weights(weights_path)
        except Exception as err:
            raise ValueError(
                f"weights file {weights_path!r} does not fit image tower {tower!r} "
                f"with input_shape={input_shape!r}: {err}"
            ) from err
    if cut_at is not None:
        backbone = truncate(
            backbone, cut_at, exclude=_CAFFE_LAYERS, what=f"Image tower {tower!r}"
        )
    freeze_layers(backbone, freeze_fraction)

    inputs = keras.Input(shape=input_shape, name=INPUT_NAME)
    x = ImagePreprocessing(spec.preprocessing, name=PREPROCESSING_LAYER)(inputs)
    outputs = backbone(x)
    return keras.Model(inputs, outputs, name=name or f"{tower}_tower")
