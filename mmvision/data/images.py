"""Robust image decode / resize / normalise: tf ops usable inside ``Dataset.map``.

``bytes_to_pixels`` is the one function that turns encoded image bytes into
model pixels (decode, RGB, resize, float32 raw ``[0, 255]``); the pipelines,
``file_to_pixels`` and exported models all go through it. Decoding decisions
(tested in ``tests/test_images.py``):

* **Formats.** JPEG, PNG, GIF and BMP are decoded by TensorFlow
  (``tf.io.decode_image``), in-graph and in parallel. Anything TensorFlow
  cannot decode (WebP, TIFF, ... or a file TF rejects) falls back to Pillow
  (``mmvision.data.images_py``) inside ``tf.numpy_function``; only failing
  files pay for the fallback.
* **Grayscale / palette** images are expanded to 3 channels.
* **Alpha** (RGBA / LA PNG, palette PNG with transparency, 32-bit BMP) is
  composited on a white background, so transparent regions do not turn into
  whatever colour the encoder stored under alpha 0 (often black).
* **16-bit PNG** is scaled to 8 bit (``v * 255 / 65535`` rounded, as libpng
  does). Pillow's own ``convert("RGB")`` clips 16-bit values at 255, so the
  fallback scales explicitly.
* **CMYK JPEG** (and YCCK) is converted to RGB by TensorFlow's libjpeg.
* **EXIF orientation** (``mmvision.data.exif``) is applied by default, so
  images look the way a camera or a browser shows them. TensorFlow ignores
  EXIF and so does ``keras.utils.load_img`` (which the reference notebooks
  use): pass ``apply_exif=False`` to reproduce them. In pipelines a JPEG
  takes the EXIF-aware path when an ``Exif`` marker occurs in its first
  4 KiB (the Exif standard puts APP1 right after SOI or the JFIF APP0
  segment); others are decoded as plain JPEGs.
* **Speed.** ``load_image_dataset`` tries, in order: the fast decode
  (``decode_jpeg_fast``: plain JPEG, no control flow: a ``tf.cond`` inside
  ``tf.data`` costs about as much as decoding a small JPEG), ``decode_image``
  (all of the above), the Pillow fallback; each only when the one before
  failed.
* **Animated GIF**: the first frame.
* **Truncated or corrupt files** are errors (no partial grey images); inside
  a pipeline they become counted skips (``load_image_dataset``), or, with
  ``strict=True``, an error naming the file.

Images leave this module as ``uint8 [H, W, 3]`` (decode) or ``float32
[H, W, 3]`` raw ``[0, 255]`` (resize); normalisation is a separate step.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from mmvision.data.exif import (
    EXIF_FAST_BYTES,
    EXIF_MARKER,
    apply_orientation,
    exif_orientation,
)
from mmvision.data.images_py import (
    ImageDecodeError,
    encode_jpeg_py,
    load_image_py,
    pil_decode,
    pil_to_rgb,
    read_bytes,
    resize_py,
)
from mmvision.data.pixels import (
    CROPS,
    NORMALIZATIONS,
    compute_mean_std,
    normalize_image,
    resize_image,
)
from mmvision.data.skips import DropCounter, PipelineStats, SkipCounter

__all__ = [
    "CROPS",
    "NORMALIZATIONS",
    "DropCounter",
    "ImageDecodeError",
    "PipelineStats",
    "SkipCounter",
    "apply_orientation",
    "bytes_to_pixels",
    "compute_mean_std",
    "decode_image",
    "decode_jpeg_fast",
    "encode_jpeg_py",
    "exif_orientation",
    "file_to_pixels",
    "load_image_dataset",
    "load_image_py",
    "normalize_image",
    "pil_decode",
    "pil_to_rgb",
    "read_bytes",
    "resize_image",
    "resize_py",
]

# Dataset functions here have no Python control flow on tensors: skip AutoGraph.
_nc = tf.autograph.experimental.do_not_convert


# ------------------------------------------------------------------- decode
def _composite_white(rgba: tf.Tensor) -> tf.Tensor:
    rgba = tf.cast(rgba, tf.float32)
    alpha = rgba[..., 3:] / 255.0
    rgb = rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)
    return tf.cast(tf.round(rgb), tf.uint8)


def decode_image(data: tf.Tensor, apply_exif: bool = True) -> tf.Tensor:
    """Decodes JPEG/PNG/GIF/BMP bytes to ``uint8 [H, W, 3]`` in-graph.

    Grayscale and palette expanded, alpha composited on white, 16-bit scaled
    to 8 bit, CMYK converted, first GIF frame, EXIF orientation applied
    (unless ``apply_exif=False``). Raises ``tf.errors.InvalidArgumentError``
    on bytes it cannot decode; use ``load_image_dataset`` (or
    ``pil_decode``) to skip-and-count instead.

    Example:
    >>> img = decode_image(tf.io.read_file("photo.jpg"))  # doctest: +SKIP
    """
    data = tf.convert_to_tensor(data, tf.string)
    magic = tf.strings.substr(data, 0, 2)
    has_alpha_format = tf.logical_or(
        tf.equal(magic, b"\x89P"),  # PNG
        tf.equal(magic, b"BM"),  # BMP
    )

    def with_alpha():
        rgba = tf.io.decode_image(data, channels=4, expand_animations=False)
        return _composite_white(rgba)

    def without_alpha():
        return tf.io.decode_image(data, channels=3, expand_animations=False)

    image = tf.cond(has_alpha_format, with_alpha, without_alpha)
    image = tf.ensure_shape(image, [None, None, 3])
    if apply_exif:
        orientation = exif_orientation(data)
        image = tf.cond(
            tf.equal(orientation, 1),
            lambda: image,
            lambda: apply_orientation(image, orientation),
        )
    return image


def decode_jpeg_fast(data: tf.Tensor) -> tf.Tensor:
    """The fast path: a JPEG without an Exif segment near its start.

    ``tf.io.decode_jpeg`` with no control flow (a ``tf.cond`` costs about as
    much as decoding a small JPEG inside ``tf.data``). Raises
    ``InvalidArgumentError`` for anything else (not a JPEG, an ``Exif``
    marker within the first ``EXIF_FAST_BYTES``), which ``load_image_dataset``
    then sends down the full path (``decode_image``).
    """
    data = tf.convert_to_tensor(data, tf.string)
    head = tf.strings.substr(data, 0, EXIF_FAST_BYTES)
    is_jpeg = tf.equal(tf.strings.substr(head, 0, 2), b"\xff\xd8")
    no_exif = tf.equal(tf.size(tf.strings.split(head, sep=EXIF_MARKER, maxsplit=1)), 1)
    check = tf.debugging.Assert(tf.logical_and(is_jpeg, no_exif), ["not a plain JPEG"])
    with tf.control_dependencies([check]):
        return tf.io.decode_jpeg(data, channels=3)


def _decode(data: tf.Tensor, apply_exif: bool, fast: bool, min_side: int):
    """Decoded ``uint8 [H, W, 3]``; ``InvalidArgumentError`` when too small."""
    if not fast:
        img = decode_image(data, apply_exif=apply_exif)
    elif apply_exif:
        img = decode_jpeg_fast(data)
    else:
        img = tf.io.decode_jpeg(data, channels=3)
    if min_side <= 1:  # every decoded image has a pixel
        return img
    shape = tf.shape(img)
    check = tf.debugging.assert_greater_equal(
        tf.minimum(shape[0], shape[1]), min_side, message="too small"
    )
    with tf.control_dependencies([check]):
        return tf.identity(img)


def bytes_to_pixels(
    data: tf.Tensor,
    image_size: int | Sequence[int],
    crop: str = "none",
    apply_exif: bool = True,
    *,
    fast: bool = False,
    min_side: int = 1,
    antialias: bool = False,
) -> tf.Tensor:
    """Encoded image bytes to model pixels: ``float32 [H, W, 3]`` raw [0, 255].

    The one path from bytes to pixels: decode by content (JPEG, PNG, GIF,
    BMP: ``decode_image``), force RGB, resize with ``resize_image``. Graph
    safe (``Dataset.map``, ``tf.function``, SavedModel signatures).

    Args:
        data: scalar ``tf.string`` of encoded bytes.
        image_size: output ``(height, width)`` or one int.
        crop: ``"none"`` or ``"center"`` (see ``resize_image``; random crops
            need a seed and happen later in the pipelines).
        apply_exif: apply the EXIF orientation.
        fast: plain-JPEG decode with no control flow (``decode_jpeg_fast``;
            with ``apply_exif=False`` any JPEG): raises
            ``InvalidArgumentError`` on anything else, so callers retry with
            ``fast=False``. Same pixels as the full path for plain JPEGs.
        min_side: raise ``InvalidArgumentError`` ("too small") when the
            decoded image has a smaller side.
        antialias: antialiased resize.
    """
    if crop not in ("none", "center"):
        raise ValueError(f"bytes_to_pixels: crop must be 'none' or 'center', {crop!r}")
    img = _decode(tf.convert_to_tensor(data, tf.string), apply_exif, fast, min_side)
    return resize_image(img, image_size, crop, antialias=antialias)


def file_to_pixels(
    path: str | os.PathLike,
    image_size: int | Sequence[int],
    crop: str = "none",
    apply_exif: bool = True,
    min_side: int = 1,
) -> np.ndarray:
    """One image file as model pixels: ``float32 [H, W, 3]`` raw [0, 255].

    Reads ``path`` (``read_bytes``) and runs ``bytes_to_pixels``; only where
    TensorFlow cannot decode the file (WebP, TIFF, ...) it falls back to
    ``pil_decode`` and the same resize. Raises ``ImageDecodeError`` naming
    the file when neither can use it.
    """
    path = os.fspath(path)
    data = read_bytes(path)
    try:
        pixels = bytes_to_pixels(
            tf.constant(data), image_size, crop, apply_exif, min_side=min_side
        )
        return pixels.numpy()
    except tf.errors.OpError:
        pass  # not decodable by TensorFlow (or too small): Pillow decides
    img = pil_decode(data, path, apply_exif=apply_exif)
    if min(img.shape[:2]) < min_side:
        raise ImageDecodeError(
            path, "too_small", f"{img.shape[1]}x{img.shape[0]} < {min_side}px"
        )
    return resize_image(img, image_size, crop).numpy()


def load_image_dataset(
    ds: tf.data.Dataset,
    *,
    path_key: str = "image_path",
    bytes_key: str | None = None,
    out_key: str = "image",
    stats: PipelineStats | None = None,
    strict: bool = False,
    min_side: int = 1,
    apply_exif: bool = True,
    image_size: int | Sequence[int] | None = None,
    crop: str = "none",
    antialias: bool = False,
    post: Callable[[tf.Tensor], tf.Tensor] | None = None,
    drop_flag: bool = True,
    num_parallel_calls: int | None = tf.data.AUTOTUNE,
    deterministic: bool | None = None,
) -> tf.data.Dataset:
    """Adds ``out_key`` (decoded ``uint8 [H,W,3]``, the ``bytes_to_pixels`` of
    ``image_size`` / ``crop``, or ``post(image)``) to a dataset of dicts.

    Reads ``path_key`` (or decodes ``bytes_key`` if given) with TensorFlow in
    parallel. Three paths, each tried only if the one before failed: (1) the
    fast decode (plain JPEGs, no control flow), (2) ``decode_image`` (every
    format TF knows, alpha, EXIF), (3) the Pillow fallback in
    ``tf.numpy_function``. If all fail the element is dropped and counted in
    ``stats`` by reason with its path (or, with ``strict=True``, iteration
    raises an error whose message names the file and the reason). Nothing a
    file contains can kill the epoch.

    How: each element is mapped inside one-element nested datasets with
    ``ignore_errors()``, concatenated, ``take(1)``; order is kept. Elements
    carry a boolean ``"_ok"`` until the filter (kept when ``drop_flag`` is
    False, for callers that select keys later anyway).
    """
    if image_size is not None and post is not None:
        raise ValueError("load_image_dataset: pass image_size or post, not both")
    stats = stats if stats is not None else PipelineStats()
    src_key = bytes_key or path_key

    def after_pil(img):
        if image_size is not None:
            return resize_image(img, image_size, crop, antialias=antialias)
        return post(img) if post is not None else img

    def tf_path(fast):
        def fn(elem):
            data = elem[bytes_key] if bytes_key else tf.io.read_file(elem[path_key])
            if image_size is not None:
                img = bytes_to_pixels(
                    data, image_size, crop, apply_exif,
                    fast=fast, min_side=min_side, antialias=antialias,
                )  # fmt: skip
            else:
                img = _decode(data, apply_exif, fast, min_side)
                img = post(img) if post is not None else img
            return {**elem, out_key: img, "_ok": tf.constant(True)}

        return fn

    def py_fallback(src, where):
        src = bytes(src)
        where = where.decode("utf-8", "replace") if isinstance(where, bytes) else where
        try:
            if bytes_key:
                img = pil_decode(src, where, apply_exif=apply_exif)
                if min(img.shape[:2]) < min_side:
                    raise ImageDecodeError(where, "too_small", f"{img.shape[:2]}")
            else:
                img = load_image_py(
                    src.decode("utf-8"), min_side=min_side, apply_exif=apply_exif
                )
            return img, True
        except ImageDecodeError as e:
            if strict:
                raise
            stats.skip(e.reason, f"{where}: {e.detail}" if e.detail else where)
            return np.zeros([max(min_side, 1)] * 2 + [3], np.uint8), False

    def fallback(elem):
        where = elem[path_key] if path_key in elem else elem.get("id", "")
        img, ok = tf.numpy_function(
            py_fallback, [elem[src_key], where], [tf.uint8, tf.bool], stateful=True
        )
        img = after_pil(tf.ensure_shape(img, [None, None, 3]))
        return {**elem, out_key: img, "_ok": tf.ensure_shape(ok, [])}

    def one(elem):
        one_ds = lambda fn: tf.data.Dataset.from_tensors(elem).map(_nc(fn))
        first = one_ds(tf_path(True)).ignore_errors()
        second = one_ds(tf_path(False)).ignore_errors()
        return first.concatenate(second).concatenate(one_ds(fallback)).take(1)

    out = ds.interleave(
        _nc(one),
        cycle_length=16,
        block_length=1,
        num_parallel_calls=num_parallel_calls,
        deterministic=deterministic,
    )
    out = out.filter(_nc(lambda e: e["_ok"]))
    if drop_flag:
        out = out.map(_nc(lambda e: {k: v for k, v in e.items() if k != "_ok"}))
    return out
