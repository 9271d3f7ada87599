"""ResNet-18 (basic blocks, He et al. 2016) written with Keras layers."""

from __future__ import annotations

import keras
from keras import layers


def _basic_block(x, filters: int, stride: int, name: str):
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(
            filters, 1, strides=stride, use_bias=False, name=f"{name}_proj_conv"
        )(x)
        shortcut = layers.BatchNormalization(epsilon=1e-5, name=f"{name}_proj_bn")(
            shortcut
        )
    y = layers.Conv2D(
        filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv1"
    )(x)
    y = layers.BatchNormalization(epsilon=1e-5, name=f"{name}_bn1")(y)
    y = layers.Activation("relu", name=f"{name}_relu1")(y)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(
        y
    )
    y = layers.BatchNormalization(epsilon=1e-5, name=f"{name}_bn2")(y)
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.Activation("relu", name=f"{name}_out")(y)


def ResNet18(
    input_shape: tuple[int, int, int] = (224, 224, 3),
    pooling: str | None = "avg",
    name: str = "resnet18",
) -> keras.Model:
    """Standard ResNet-18 feature extractor: [2, 2, 2, 2] basic blocks, 512-d.

    The ImageNet stem (7x7/2 convolution, 3x3/2 max pooling) and four stages
    of two basic blocks (64, 128, 256, 512 filters; stride 2 from stage 2 on),
    without the classification layer. It expects already preprocessed
    inputs; works from 32 px (a 1x1 final map) up.

    Args:
        input_shape: ``(H, W, C)``.
        pooling: ``"avg"`` (``[B, 512]`` output), ``"max"``, or ``None``
            (the final feature map).
        name: model name.

    Example:

    ```python
    model = ResNet18(input_shape=(64, 64, 3))
    model.output_shape  # (None, 512)
    ```
    """
    if pooling not in ("avg", "max", None):
        raise ValueError(
            f"ResNet18: pooling must be 'avg', 'max' or None, got {pooling!r}"
        )
    inputs = keras.Input(shape=input_shape, name="input")
    x = layers.Conv2D(
        64, 7, strides=2, padding="same", use_bias=False, name="stem_conv"
    )(inputs)
    x = layers.BatchNormalization(epsilon=1e-5, name="stem_bn")(x)
    x = layers.Activation("relu", name="stem_relu")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    for stage, filters in enumerate((64, 128, 256, 512), start=1):
        for block in (1, 2):
            stride = 2 if stage > 1 and block == 1 else 1
            x = _basic_block(x, filters, stride, name=f"stage{stage}_block{block}")
    if pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)
    return keras.Model(inputs, x, name=name)
