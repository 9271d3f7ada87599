"""Pixel-level ops: resize / crop to the model size, normalise, statistics.

In-graph (usable inside ``Dataset.map``); images come in as ``uint8`` or
float ``[H, W, C]`` and leave as ``float32`` (raw ``[0, 255]`` after a
resize). Re-exported by ``mmvision.data.images``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import tensorflow as tf

#: Normalisation modes: raw [0,255], unit [0,1], symmetric [-1,1], standardize.
NORMALIZATIONS = ("raw", "unit", "symmetric", "standardize")
#: Crop modes of ``resize_image``.
CROPS = ("none", "center", "random")


# ------------------------------------------------------------------- resize
def _shorter_side_size(shape, target):
    h = tf.cast(shape[0], tf.float32)
    w = tf.cast(shape[1], tf.float32)
    scale = tf.maximum(target[0] / h, target[1] / w)
    return tf.cast(tf.math.ceil(h * scale), tf.int32), tf.cast(
        tf.math.ceil(w * scale), tf.int32
    )


def resize_image(
    image: tf.Tensor,
    size: int | tuple[int, int],
    crop: str = "none",
    seed: tf.Tensor | None = None,
    antialias: bool = False,
    random_scale: float = 1.0 / 0.875,
) -> tf.Tensor:
    """Resizes ``image`` [H,W,C] to ``size`` as ``float32`` raw [0,255].

    Args:
        image: uint8 or float image.
        size: ``(height, width)`` or one int.
        crop: ``"none"``: bilinear resize to ``size`` (aspect not kept, as
            ``keras.utils.load_img(target_size=...)`` in the references);
            ``"center"``: resize the shorter side to fit, then central crop;
            ``"random"``: resize so that the image covers ``size *
            random_scale`` (256 for 224), then a random ``size`` crop.
        seed: shape ``[2]`` int seed of the stateless random crop; ``None``
            draws one.
        antialias: antialiased resize (slower; better when shrinking a lot).

    Resizing to the same size returns the same pixel values.
    """
    if crop not in CROPS:
        raise ValueError(f"unknown crop {crop!r}; valid: {list(CROPS)}")
    h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    image = tf.convert_to_tensor(image)
    shape = tf.shape(image)
    f32 = tf.cast(image, tf.float32)

    def rs(hw):
        return lambda: tf.image.resize(f32, hw, antialias=antialias)

    # No "already at size" shortcut: a tf.cond costs about as much as the
    # resize inside tf.data, and resizing to the same size is the identity.
    if crop == "none":
        out = rs((h, w))()
    elif crop == "center":
        nh, nw = _shorter_side_size(shape, (float(h), float(w)))
        big = rs(tf.stack([nh, nw]))()
        top = (nh - h) // 2
        left = (nw - w) // 2
        out = big[top : top + h, left : left + w]
    else:
        nh, nw = _shorter_side_size(
            shape, (float(h) * random_scale, float(w) * random_scale)
        )
        big = tf.image.resize(f32, tf.stack([nh, nw]), antialias=antialias)
        if seed is None:
            seed = tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int32)
        out = tf.image.stateless_random_crop(big, [h, w, shape[2]], seed=seed)
    return tf.ensure_shape(out, [h, w, None])


# ---------------------------------------------------------------- normalise
def normalize_image(
    image: tf.Tensor,
    mode: str = "raw",
    mean: Iterable[float] | None = None,
    std: Iterable[float] | None = None,
) -> tf.Tensor:
    """Maps raw [0,255] pixels: ``raw`` as is, ``unit`` [0,1], ``symmetric``
    [-1,1], ``standardize`` ``(x - mean) / std`` per channel (raw scale)."""
    if mode not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {mode!r}; valid: {NORMALIZATIONS}")
    x = tf.cast(image, tf.float32)
    if mode == "raw":
        return x
    if mode == "unit":
        return x / 255.0
    if mode == "symmetric":
        return x / 127.5 - 1.0
    if mean is None or std is None:
        raise ValueError("normalization='standardize' needs mean and std")
    mean_t = tf.constant(list(mean), tf.float32)
    std_t = tf.maximum(tf.constant(list(std), tf.float32), 1e-6)
    return (x - mean_t) / std_t


def compute_mean_std(images: Iterable[Any]) -> tuple[list[float], list[float]]:
    """Per-channel mean and std over all pixels of ``images`` (arrays or batches).

    Streams (sums in float64), so it works over a whole dataset.
    """
    total = np.zeros(3)
    total_sq = np.zeros(3)
    count = 0
    for img in images:
        arr = np.asarray(img, dtype=np.float64).reshape(-1, 3)
        total += arr.sum(0)
        total_sq += (arr**2).sum(0)
        count += arr.shape[0]
    if count == 0:
        raise ValueError("compute_mean_std: no images")
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    return [float(v) for v in mean], [float(v) for v in std]
