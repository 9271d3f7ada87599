"""Robust image decode / resize / normalise: tf ops usable inside ``Dataset.map``.

Decoding decisions (tested in ``tests/test_images.py``):

* **Formats.** JPEG, PNG, GIF and BMP are decoded by TensorFlow
  (``tf.io.decode_image``), in-graph and in parallel. Anything TensorFlow
  cannot decode (WebP, TIFF, ... or a file TF rejects) falls back to Pillow
  inside ``tf.numpy_function``; only failing files pay for the fallback.
* **Grayscale / palette** images are expanded to 3 channels.
* **Alpha** (RGBA / LA PNG, palette PNG with transparency, 32-bit BMP) is
  composited on a white background, so transparent regions do not turn into
  whatever colour the encoder stored under alpha 0 (often black).
* **16-bit PNG** is scaled to 8 bit (``v * 255 / 65535`` rounded, as libpng
  does). Pillow's own ``convert("RGB")`` clips 16-bit values at 255, so the
  fallback scales explicitly.
* **CMYK JPEG** (and YCCK) is converted to RGB by TensorFlow's libjpeg.
* **EXIF orientation** (tag 0x0112 of a JPEG's APP1 segment) is applied by
  default, so images look the way a camera or a browser shows them.
  TensorFlow ignores EXIF and so does ``keras.utils.load_img`` (which the
  reference notebooks use): pass ``apply_exif=False`` to reproduce them.
  The orientation is parsed from the bytes with string ops (no Python). In
  pipelines a JPEG takes the EXIF-aware path when an ``Exif`` marker occurs in
  its first 4 KiB (the Exif standard puts APP1 right after SOI or the JFIF
  APP0 segment); others are decoded as plain JPEGs.
* **Speed.** ``load_image_dataset`` tries, in order: ``decode_jpeg_fast``
  (plain JPEG, no control flow: a ``tf.cond`` inside ``tf.data`` costs about
  as much as decoding a small JPEG), ``decode_image`` (all of the above), the
  Pillow fallback; each only when the one before failed.
* **Animated GIF**: the first frame.
* **Truncated or corrupt files** are errors (no partial grey images); inside
  a pipeline they become counted skips (``load_image_dataset``), or, with
  ``strict=True``, an error naming the file.

Images leave this module as ``uint8 [H, W, 3]`` (decode) or ``float32
[H, W, 3]`` raw ``[0, 255]`` (resize); normalisation is a separate step.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import io
import threading
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import tensorflow as tf

#: Normalisation modes: raw [0,255], unit [0,1], symmetric [-1,1], standardize.
NORMALIZATIONS = ("raw", "unit", "symmetric", "standardize")
#: Crop modes of ``resize_image``.
CROPS = ("none", "center", "random")

# Dataset functions here have no Python control flow on tensors: skip AutoGraph.
_nc = tf.autograph.experimental.do_not_convert

_EXIF_MARKER = b"Exif\x00\x00"
_EXIF_SCAN_BYTES = 65536
_EXIF_MAX_ENTRIES = 64
_EXIF_TIFF_BYTES = 1024
_EXIF_FAST_BYTES = 4096


class ImageDecodeError(ValueError):
    """An image that cannot be used; ``reason`` is a short key for counting."""

    def __init__(self, where: str, reason: str, detail: str = ""):
        self.where, self.reason, self.detail = where, reason, detail
        super().__init__(f"{where}: {reason}" + (f": {detail}" if detail else ""))


@dataclasses.dataclass
class PipelineStats:
    """What a pipeline dropped, and the normalisation statistics it used.

    Skip-and-count for ``tf.data``: every image a pipeline drops is counted
    here by reason (``missing_file``, ``read_error``, ``decode_error``,
    ``too_small``, ``unlabelled``, ...) with the first few file names. The
    counts are updated from the decode fallback while the dataset is being
    iterated and accumulate over epochs (a bad file is counted once per
    epoch it is read, unless the dataset is cached); call ``reset()``
    between epochs to count one epoch. Thread-safe.

    Attributes:
        skipped: ``{reason: count}``.
        examples: ``{reason: ["path: detail", ...]}`` (first few).
        mean, std: per-channel statistics used by
            ``normalization="standardize"`` (raw [0,255] scale), else None.
    """

    skipped: collections.Counter = dataclasses.field(
        default_factory=collections.Counter
    )
    examples: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    mean: list[float] | None = None
    std: list[float] | None = None
    max_examples: int = 5

    def __post_init__(self):
        self._lock = threading.Lock()

    def skip(self, reason: str, where: str) -> None:
        with self._lock:
            self.skipped[reason] += 1
            ex = self.examples.setdefault(reason, [])
            if len(ex) < self.max_examples and where not in ex:
                ex.append(where)

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())

    def reset(self) -> None:
        with self._lock:
            self.skipped.clear()
            self.examples.clear()

    def to_dict(self) -> dict[str, Any]:
        return {
            "skipped": dict(self.skipped),
            "examples": {k: list(v) for k, v in self.examples.items()},
            "mean": self.mean,
            "std": self.std,
        }


#: Alias named in the design notes: the counter of dropped images.
DropCounter = PipelineStats


# --------------------------------------------------------------------- EXIF
def exif_orientation(data: tf.Tensor) -> tf.Tensor:
    """EXIF orientation (1..8) of encoded image bytes; 1 when absent or not JPEG.

    Pure string ops, so it runs in-graph. Reads IFD0 of the first ``Exif``
    APP1 segment within the first 64 KiB; malformed EXIF gives 1.
    """
    data = tf.convert_to_tensor(data, tf.string)
    head = tf.strings.substr(data, 0, _EXIF_SCAN_BYTES)
    is_jpeg = tf.equal(tf.strings.substr(head, 0, 2), b"\xff\xd8")
    parts = tf.strings.split(head, sep=_EXIF_MARKER, maxsplit=1)
    found = tf.logical_and(is_jpeg, tf.equal(tf.size(parts), 2))

    def parse():
        # IFD0 sits near the start of the TIFF block: 1 KiB is plenty.
        tiff = tf.strings.substr(parts[-1], 0, _EXIF_TIFF_BYTES)
        raw = tf.io.decode_raw(tiff, tf.uint8)
        raw = tf.cast(tf.pad(raw, [[0, 16]]), tf.int32)
        n = tf.shape(raw)[0]
        little = tf.equal(raw[0], 0x49)  # "II" little endian, "MM" big endian

        def at(idx):
            return tf.gather(raw, tf.clip_by_value(idx, 0, n - 1))

        def u16(off):
            b0, b1 = at(off), at(off + 1)
            return tf.where(little, b0 + 256 * b1, 256 * b0 + b1)

        def u32(off):
            b = [at(off + i) for i in range(4)]
            le = b[0] + 256 * (b[1] + 256 * (b[2] + 256 * b[3]))
            be = b[3] + 256 * (b[2] + 256 * (b[1] + 256 * b[0]))
            return tf.where(little, le, be)

        ifd = u32(tf.constant(4))
        count = u16(ifd)
        k = tf.range(_EXIF_MAX_ENTRIES)
        entry = ifd + 2 + 12 * k
        tags = u16(entry)
        values = u16(entry + 8)
        match = tf.logical_and(tf.equal(tags, 0x0112), k < count)
        match = tf.logical_and(match, entry + 10 <= n)
        value = tf.reduce_max(tf.where(match, values, 0))
        valid = tf.logical_and(value >= 1, value <= 8)
        return tf.where(valid, value, 1)

    return tf.cond(found, parse, lambda: tf.constant(1, tf.int32))


def apply_orientation(image: tf.Tensor, orientation: tf.Tensor) -> tf.Tensor:
    """Transposes ``image`` [H,W,C] so that EXIF ``orientation`` becomes 1.

    Same result as ``PIL.ImageOps.exif_transpose``.
    """
    image = tf.convert_to_tensor(image)
    o = tf.convert_to_tensor(orientation, tf.int32)
    t = lambda x: tf.transpose(x, [1, 0, 2])
    branches = [
        lambda: image,  # 1
        lambda: tf.reverse(image, [1]),  # 2 mirror
        lambda: tf.image.rot90(image, 2),  # 3 rotate 180
        lambda: tf.reverse(image, [0]),  # 4 flip vertical
        lambda: t(image),  # 5 transpose
        lambda: tf.image.rot90(image, 3),  # 6 rotate 90 CW
        lambda: tf.image.rot90(t(image), 2),  # 7 transverse
        lambda: tf.image.rot90(image, 1),  # 8 rotate 90 CCW
    ]
    idx = tf.clip_by_value(o, 1, 8) - 1
    return tf.switch_case(idx, branches)


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
    marker within the first ``_EXIF_FAST_BYTES``), which ``load_image_dataset``
    then sends down the full path (``decode_image``).
    """
    data = tf.convert_to_tensor(data, tf.string)
    head = tf.strings.substr(data, 0, _EXIF_FAST_BYTES)
    is_jpeg = tf.equal(tf.strings.substr(head, 0, 2), b"\xff\xd8")
    no_exif = tf.equal(tf.size(tf.strings.split(head, sep=_EXIF_MARKER, maxsplit=1)), 1)
    check = tf.debugging.Assert(tf.logical_and(is_jpeg, no_exif), ["not a plain JPEG"])
    with tf.control_dependencies([check]):
        return tf.io.decode_jpeg(data, channels=3)


def pil_decode(data: bytes, where: str = "<bytes>", apply_exif: bool = True):
    """Decodes ``data`` with Pillow to ``uint8 [H, W, 3]``, same rules as TF.

    The fallback of ``load_image_dataset`` and the validator of the TFRecord
    builder. Raises ``ImageDecodeError`` (reason ``empty_file`` or
    ``decode_error``) naming ``where``.
    """
    from PIL import Image, ImageOps

    if not data:
        raise ImageDecodeError(where, "empty_file", "0 bytes")
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            if apply_exif:
                im = ImageOps.exif_transpose(im)
            return pil_to_rgb(im)
    except ImageDecodeError:
        raise
    except Exception as e:  # PIL raises many types on bad data
        if type(e).__name__ == "UnidentifiedImageError":
            detail = "not a recognised image format"
        else:
            detail = f"{type(e).__name__}: {e}"
        raise ImageDecodeError(where, "decode_error", detail) from None


def pil_to_rgb(im) -> np.ndarray:
    """A loaded PIL image as ``uint8 [H, W, 3]``: 16-bit scaled, alpha on white."""
    from PIL import Image

    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr = np.clip(np.round(arr * 255.0 / top), 0, 255).astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=-1)
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float64)
        a = rgba[..., 3:] / 255.0
        rgb = rgba[..., :3] * a + 255.0 * (1.0 - a)
        return np.round(rgb).astype(np.uint8)
    if im.mode != "RGB":
        im = im.convert("RGB")
    out = np.asarray(im, dtype=np.uint8)
    if out.ndim != 3 or out.shape[-1] != 3:  # pragma: no cover - defensive
        out = np.asarray(Image.fromarray(out).convert("RGB"))
    return out


def read_bytes(path: str) -> bytes:
    """Reads a local or ``tf.io.gfile`` path; ``ImageDecodeError`` naming it."""
    import os

    if "://" not in path:
        if not os.path.lexists(path):
            raise ImageDecodeError(path, "missing_file", "no such file")
        if not os.path.exists(path):
            raise ImageDecodeError(path, "missing_file", "dangling symlink")
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError as e:
            raise ImageDecodeError(path, "read_error", str(e)) from None
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            return f.read()
    except Exception as e:
        raise ImageDecodeError(path, "read_error", str(e)) from None


def load_image_py(path: str, min_side: int = 1, apply_exif: bool = True) -> np.ndarray:
    """Reads and decodes one file with Pillow; ``ImageDecodeError`` on failure."""
    img = pil_decode(read_bytes(path), path, apply_exif=apply_exif)
    if min(img.shape[:2]) < min_side:
        raise ImageDecodeError(
            path, "too_small", f"{img.shape[1]}x{img.shape[0]} < {min_side}px"
        )
    return img


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
    post: Callable[[tf.Tensor], tf.Tensor] | None = None,
    drop_flag: bool = True,
    num_parallel_calls: int | None = tf.data.AUTOTUNE,
    deterministic: bool | None = None,
) -> tf.data.Dataset:
    """Adds ``out_key`` (decoded ``uint8 [H,W,3]``, or ``post(image)``) to a
    dataset of dicts.

    Reads ``path_key`` (or decodes ``bytes_key`` if given) with TensorFlow in
    parallel. Three paths, each tried only if the one before failed: (1)
    ``decode_jpeg_fast`` (plain JPEGs, no control flow), (2) ``decode_image``
    (every format TF knows, alpha, EXIF), (3) the Pillow fallback in
    ``tf.numpy_function``. If all fail the element is dropped and counted in
    ``stats`` by reason with its path (or, with ``strict=True``, iteration
    raises an error whose message names the file and the reason). Nothing a
    file contains can kill the epoch.

    How: each element is mapped inside one-element nested datasets with
    ``ignore_errors()``, concatenated, ``take(1)``; order is kept. Elements
    carry a boolean ``"_ok"`` until the filter (kept when ``drop_flag`` is
    False, for callers that select keys later anyway).
    """
    stats = stats if stats is not None else PipelineStats()
    src_key = bytes_key or path_key

    def finish(img):
        shape = tf.shape(img)
        check = tf.debugging.assert_greater_equal(
            tf.minimum(shape[0], shape[1]), min_side, message="too small"
        )
        with tf.control_dependencies([check]):
            img = tf.identity(img)
        return post(img) if post is not None else img

    def tf_path(decoder):
        def fn(elem):
            data = elem[bytes_key] if bytes_key else tf.io.read_file(elem[path_key])
            img = finish(decoder(data))
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
        img = tf.ensure_shape(img, [None, None, 3])
        img = post(img) if post is not None else img
        return {**elem, out_key: img, "_ok": tf.ensure_shape(ok, [])}

    full = functools.partial(decode_image, apply_exif=apply_exif)
    fast = (
        decode_jpeg_fast if apply_exif else lambda d: tf.io.decode_jpeg(d, channels=3)
    )

    def one(elem):
        first = (
            tf.data.Dataset.from_tensors(elem).map(_nc(tf_path(fast))).ignore_errors()
        )
        second = (
            tf.data.Dataset.from_tensors(elem).map(_nc(tf_path(full))).ignore_errors()
        )
        third = tf.data.Dataset.from_tensors(elem).map(_nc(fallback))
        return first.concatenate(second).concatenate(third).take(1)

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


def encode_jpeg_py(image: np.ndarray, quality: int = 95) -> bytes:
    """Encodes ``uint8 [H,W,3]`` as baseline JPEG with Pillow (4:2:0)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def resize_py(image: np.ndarray, size: tuple[int, int], crop: str = "none"):
    """NumPy/Pillow twin of ``resize_image`` (``none`` / ``center``), uint8 out."""
    from PIL import Image

    if crop not in ("none", "center"):
        raise ValueError(f"unknown crop {crop!r}; valid: ['none', 'center']")
    h, w = size
    im = Image.fromarray(np.asarray(image, np.uint8))
    if crop == "none":
        if im.size != (w, h):
            im = im.resize((w, h), Image.BILINEAR)
        return np.asarray(im)
    scale = max(h / im.height, w / im.width)
    nh, nw = int(np.ceil(im.height * scale)), int(np.ceil(im.width * scale))
    if (nw, nh) != im.size:
        im = im.resize((nw, nh), Image.BILINEAR)
    top, left = (nh - h) // 2, (nw - w) // 2
    return np.asarray(im)[top : top + h, left : left + w]
