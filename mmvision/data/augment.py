"""Image augmentation ops, each with its own probability, usable in ``Dataset.map``.

Every op takes a float image ``[H, W, 3]`` with raw ``[0, 255]`` pixels and
an optional stateless seed (``int32 [2]``; ``None`` draws one), and returns a
float image of the same value range. All ops except ``random_crop`` (which
outputs ``size``) keep the shape, so they can be chained after the resize.
The randomness is stateless: the same seed gives the same result eagerly
and inside ``Dataset.map``; pipelines derive one seed per element from
``tf.data.Dataset.random(seed)`` so epochs differ but runs repeat.

Ops: ``random_flip``, ``random_resized_crop``, ``color_jitter``
(brightness / contrast / saturation factors in ``[0.9, 1.1]``, hue shift
±0.1 of the colour circle by default), ``random_crop``, ``random_rotation``
(up to ±π/3). ``Augmenter`` chains ops; ``get(name)`` returns the presets
``"none"``, ``"flip"``, ``"siamese"``, ``"deep_ranking"``.

Example:
>>> aug = get("deep_ranking")
>>> out = aug(tf.zeros([32, 32, 3]), seed=tf.constant([1, 2]))
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import tensorflow as tf

Op = Callable[..., tf.Tensor]


def _seed(seed) -> tf.Tensor:
    if seed is None:
        return tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int32)
    return tf.cast(tf.convert_to_tensor(seed), tf.int32)


def _split(seed, n: int) -> list[tf.Tensor]:
    seeds = tf.random.experimental.stateless_split(_seed(seed), num=n)
    return [seeds[i] for i in range(n)]


def _check_p(p: float) -> None:
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"probability p must be in [0, 1], got {p}")


def _maybe(image, p, seed, fn):
    """Applies ``fn(image, seed)`` with probability ``p`` (decided by ``seed``)."""
    _check_p(p)
    s_coin, s_op = _split(seed, 2)
    if p >= 1.0:
        return fn(image, s_op)
    if p <= 0.0:
        return image
    coin = tf.random.stateless_uniform([], seed=s_coin)
    return tf.cond(coin < p, lambda: fn(image, s_op), lambda: image)


def random_flip(image: tf.Tensor, p: float = 0.5, seed=None) -> tf.Tensor:
    """Mirrors the image left-right with probability ``p``."""
    image = tf.convert_to_tensor(image, tf.float32)
    return _maybe(image, p, seed, lambda x, s: tf.reverse(x, [1]))


def random_vertical_flip(image: tf.Tensor, p: float = 0.5, seed=None) -> tf.Tensor:
    """Mirrors the image top-bottom with probability ``p``."""
    image = tf.convert_to_tensor(image, tf.float32)
    return _maybe(image, p, seed, lambda x, s: tf.reverse(x, [0]))


def random_rot90(image: tf.Tensor, p: float = 1.0, seed=None) -> tf.Tensor:
    """Rotates by 0, 90, 180 or 270 degrees (uniform), with probability ``p``.

    Lossless (no interpolation, no fill); a non-square image swaps its sides
    on odd turns.
    """
    image = tf.convert_to_tensor(image, tf.float32)

    def rot(x, s):
        k = tf.random.stateless_uniform([], s, minval=0, maxval=4, dtype=tf.int32)
        return tf.image.rot90(x, k)

    return _maybe(image, p, seed, rot)


def random_resized_crop(
    image: tf.Tensor,
    p: float = 1.0,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0),
    seed=None,
) -> tf.Tensor:
    """Crops a random box (area fraction in ``scale``, aspect in ``ratio``) and
    resizes it back to the input size (Inception-style), with probability ``p``."""
    image = tf.convert_to_tensor(image, tf.float32)
    if not 0.0 < scale[0] <= scale[1] <= 1.0:
        raise ValueError(f"scale must satisfy 0 < lo <= hi <= 1, got {scale}")

    def crop(x, s):
        shape = tf.shape(x)
        begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
            shape,
            bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
            seed=s,
            min_object_covered=0.0,
            aspect_ratio_range=ratio,
            area_range=scale,
            max_attempts=10,
            use_image_if_no_bounding_boxes=True,
        )
        box = tf.slice(x, begin, size)
        return tf.image.resize(box, shape[:2])

    return _maybe(image, p, seed, crop)


def adjust_color(
    image: tf.Tensor,
    brightness: float = 1.0,
    contrast: float = 1.0,
    saturation: float = 1.0,
    hue: float = 0.0,
) -> tf.Tensor:
    """Deterministic colour adjustment of a raw [0,255] image, in this order:
    brightness (multiply), contrast (``tf.image.adjust_contrast``), saturation
    and hue (HSV, ``hue`` a fraction of the colour circle); clipped to [0,255]."""
    x = tf.convert_to_tensor(image, tf.float32) / 255.0
    x = tf.clip_by_value(x * brightness, 0.0, 1.0)
    x = tf.clip_by_value(tf.image.adjust_contrast(x, contrast), 0.0, 1.0)
    x = tf.clip_by_value(tf.image.adjust_saturation(x, saturation), 0.0, 1.0)
    x = tf.image.adjust_hue(x, hue)
    return tf.clip_by_value(x, 0.0, 1.0) * 255.0


def color_jitter(
    image: tf.Tensor,
    p: float = 1.0,
    brightness: float = 0.1,
    contrast: float = 0.1,
    saturation: float = 0.1,
    hue: float = 0.1,
    seed=None,
) -> tf.Tensor:
    """Random ``adjust_color`` with factors in ``[1-b, 1+b]`` (brightness,
    contrast, saturation) and hue shift in ``[-hue, hue]``, with probability ``p``."""
    image = tf.convert_to_tensor(image, tf.float32)
    if not 0.0 <= hue <= 0.5:
        raise ValueError(f"hue must be in [0, 0.5], got {hue}")

    def jitter(x, s):
        s1, s2, s3, s4 = _split(s, 4)

        def u(sd, lo, hi):
            return tf.random.stateless_uniform([], sd, minval=lo, maxval=hi)

        return adjust_color(
            x,
            u(s1, 1.0 - brightness, 1.0 + brightness),
            u(s2, 1.0 - contrast, 1.0 + contrast),
            u(s3, 1.0 - saturation, 1.0 + saturation),
            u(s4, -hue, hue),
        )

    return _maybe(image, p, seed, jitter)


def random_crop(
    image: tf.Tensor, size: int | tuple[int, int], p: float = 1.0, seed=None
) -> tf.Tensor:
    """A random ``size`` window with probability ``p``, else the central one."""
    image = tf.convert_to_tensor(image, tf.float32)
    h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    shape = tf.shape(image)
    tf.debugging.assert_greater_equal(
        shape[:2], tf.constant([h, w]), message="random_crop: image smaller than size"
    )

    def center(x):
        top = (tf.shape(x)[0] - h) // 2
        left = (tf.shape(x)[1] - w) // 2
        return x[top : top + h, left : left + w]

    def rand(x, s):
        return tf.image.stateless_random_crop(x, [h, w, tf.shape(x)[2]], seed=s)

    _check_p(p)
    s_coin, s_op = _split(seed, 2)
    if p >= 1.0:
        out = rand(image, s_op)
    elif p <= 0.0:
        out = center(image)
    else:
        coin = tf.random.stateless_uniform([], seed=s_coin)
        out = tf.cond(coin < p, lambda: rand(image, s_op), lambda: center(image))
    return tf.ensure_shape(out, [h, w, None])


def rotate(
    image: tf.Tensor,
    angle: float | tf.Tensor,
    fill_value: float = 0.0,
    interpolation: str = "BILINEAR",
) -> tf.Tensor:
    """Rotates ``image`` counter-clockwise by ``angle`` radians about its centre;
    uncovered corners get ``fill_value``."""
    x = tf.convert_to_tensor(image, tf.float32)
    shape = tf.shape(x)
    h = tf.cast(shape[0], tf.float32)
    w = tf.cast(shape[1], tf.float32)
    a = tf.cast(angle, tf.float32)
    cos, sin = tf.cos(a), tf.sin(a)
    # Output pixel (x, y) samples input ((a0 x + a1 y + a2), (b0 x + b1 y + b2)).
    x_off = ((w - 1) - (cos * (w - 1) - sin * (h - 1))) / 2.0
    y_off = ((h - 1) - (sin * (w - 1) + cos * (h - 1))) / 2.0
    transform = tf.stack([cos, -sin, x_off, sin, cos, y_off, 0.0, 0.0])[None]
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=x[None],
        transforms=transform,
        output_shape=shape[:2],
        fill_value=tf.cast(fill_value, tf.float32),
        interpolation=interpolation,
        fill_mode="CONSTANT",
    )[0]
    return tf.reshape(out, shape)


def random_rotation(
    image: tf.Tensor,
    p: float = 1.0,
    max_angle: float = math.pi / 3,
    fill_value: float = 0.0,
    seed=None,
) -> tf.Tensor:
    """Rotates by a uniform angle in ``[-max_angle, max_angle]``, probability ``p``."""
    image = tf.convert_to_tensor(image, tf.float32)

    def rot(x, s):
        angle = tf.random.stateless_uniform([], s, minval=-max_angle, maxval=max_angle)
        return rotate(x, angle, fill_value)

    return _maybe(image, p, seed, rot)


class Augmenter:
    """Chains ops ``op(image, seed=...)``; each op gets its own seed.

    Args:
        ops: callables taking ``(image, seed=...)``, e.g.
            ``functools.partial(random_flip, p=0.5)``.
        name: shown in ``repr``.
    """

    def __init__(self, ops: Sequence[Op], name: str = "custom"):
        self.ops = list(ops)
        self.name = name

    def __call__(self, image: tf.Tensor, seed=None) -> tf.Tensor:
        x = tf.convert_to_tensor(image, tf.float32)
        if not self.ops:
            return x
        for op, s in zip(self.ops, _split(seed, len(self.ops))):
            x = op(x, seed=s)
        return x

    def __repr__(self) -> str:
        parts = []
        for op in self.ops:
            if isinstance(op, functools.partial):
                kw = ", ".join(f"{k}={v!r}" for k, v in op.keywords.items())
                parts.append(f"{op.func.__name__}({kw})")
            else:
                parts.append(getattr(op, "__name__", repr(op)))
        return f"Augmenter({self.name}: {', '.join(parts)})"


P = functools.partial

#: Presets. "dihedral": the 8 symmetries of the square (flips and quarter
#: turns; lossless, for images whose labels do not depend on orientation,
#: such as the demo world's shapes, aerial or microscope images).
#: "siamese": flip, rotation up to ±π/3 and colour jitter (the
#: siamese-network reference's set); "deep_ranking": random resized crop,
#: flip and colour jitter (the deep-ranking reference's set).
PRESETS: dict[str, list[Op]] = {
    "none": [],
    "flip": [P(random_flip, p=0.5)],
    "dihedral": [
        P(random_flip, p=0.5),
        P(random_vertical_flip, p=0.5),
        P(random_rot90, p=1.0),
    ],
    "siamese": [
        P(random_flip, p=0.5),
        P(random_rotation, p=0.5, max_angle=math.pi / 3),
        P(color_jitter, p=0.5),
    ],
    "deep_ranking": [
        P(random_resized_crop, p=0.5, scale=(0.5, 1.0)),
        P(random_flip, p=0.5),
        P(color_jitter, p=0.5),
    ],
}


def get(name: str | Augmenter | Callable | None) -> Callable | None:
    """Returns the preset ``name`` (or passes an Augmenter/callable through)."""
    if name is None:
        return None
    if callable(name):
        return name
    if name not in PRESETS:
        raise ValueError(f"unknown augmentation {name!r}; valid: {sorted(PRESETS)}")
    return Augmenter(PRESETS[name], name=name)
