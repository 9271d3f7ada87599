"""``ImageOptions``: how every image of a pipeline becomes model pixels."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf

from mmvision.data import images

AUTOTUNE = tf.data.AUTOTUNE


class _Unset:
    """The default of an image keyword: "take it from ``ImageOptions``"."""

    def __repr__(self) -> str:
        return "<ImageOptions default>"


#: Default of the pipelines' image keywords (the value comes from ImageOptions).
UNSET: Any = _Unset()


def _size(image_size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(image_size, int):
        return image_size, image_size
    h, w = image_size
    return int(h), int(w)


def _check_choice(name: str, value: str, valid: Sequence[str]) -> None:
    if value not in valid:
        raise ValueError(f"unknown {name} {value!r}; valid: {list(valid)}")


@dataclasses.dataclass(frozen=True)
class ImageOptions:
    """Decode / resize / augment / normalise settings shared by the pipelines.

    Pass one to any pipeline as ``image_options=`` instead of the separate
    keywords of the same names (a keyword that disagrees with the options
    is a ``ValueError``).

    Args:
        image_size: output ``(height, width)`` (or one int; stored as a tuple).
        crop: ``"none"`` | ``"center"`` | ``"random"`` (``images.resize_image``).
        normalization: ``"raw"`` [0,255] | ``"unit"`` | ``"symmetric"`` |
            ``"standardize"``; the last uses ``mean_std`` or computes
            per-channel mean/std from up to ``stats_max_images`` images of
            the source (stored in ``dataset_stats(ds).mean/.std``: pass them
            as ``mean_std`` to the validation pipeline).
        mean_std: ``(mean, std)`` per channel, raw [0,255] scale.
        stats_max_images: images read to compute ``mean_std``.
        augment: an ``augment`` preset name or a callable ``(image, seed)``.
        antialias: antialiased resizes (slower; better when shrinking a lot).
        strict: raise (naming the file) instead of skipping a bad image.
        min_side: images with a smaller side are dropped (``too_small``).
        apply_exif: apply EXIF orientation (``images`` module docstring).
        num_parallel_calls: parallelism of the decode and per-image maps.
        deterministic: ``tf.data`` ordering of the parallel maps (``None``:
            the dataset option's default).
    """

    image_size: int | tuple[int, int] = 224
    crop: str = "none"
    normalization: str = "raw"
    mean_std: tuple[Sequence[float], Sequence[float]] | None = None
    stats_max_images: int = 1000
    augment: str | Callable | None = None
    antialias: bool = False
    strict: bool = False
    min_side: int = 1
    apply_exif: bool = True
    num_parallel_calls: int | None = AUTOTUNE
    deterministic: bool | None = None

    def __post_init__(self):
        _check_choice("crop", self.crop, images.CROPS)
        _check_choice("normalization", self.normalization, images.NORMALIZATIONS)
        object.__setattr__(self, "image_size", _size(self.image_size))
        if self.mean_std is not None:
            mean, std = self.mean_std
            mean_std = (tuple(float(v) for v in mean), tuple(float(v) for v in std))
            object.__setattr__(self, "mean_std", mean_std)
        object.__setattr__(self, "min_side", int(self.min_side))
        object.__setattr__(self, "stats_max_images", int(self.stats_max_images))

    def replace(self, **changes: Any) -> ImageOptions:
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)


#: The keyword arguments that ``ImageOptions`` gathers.
IMAGE_KEYWORDS = tuple(f.name for f in dataclasses.fields(ImageOptions))


def resolve_image_options(
    image_options: ImageOptions | None, **keywords: Any
) -> ImageOptions:
    """The ``ImageOptions`` of a pipeline call from ``image_options`` and keywords.

    Keywords left at ``UNSET`` are ignored. Without ``image_options`` the
    given keywords build one (others at the ``ImageOptions`` defaults); with
    it a keyword must agree with the option of the same name.

    Raises:
        ValueError: a keyword conflicts with ``image_options`` (the message
            names it), or a keyword or ``image_options`` is not valid.
    """
    bad = sorted(k for k in keywords if k not in IMAGE_KEYWORDS)
    if bad:
        raise TypeError(
            f"unexpected keyword argument(s) {bad}; the image keywords are "
            f"{list(IMAGE_KEYWORDS)}"
        )
    given = {k: v for k, v in keywords.items() if v is not UNSET}
    if image_options is None:
        return ImageOptions(**given)
    if not isinstance(image_options, ImageOptions):
        raise ValueError(
            f"image_options must be an ImageOptions, got {type(image_options).__name__}"
        )
    for name, value in given.items():
        have = getattr(image_options, name)
        want = getattr(image_options.replace(**{name: value}), name)
        if want != have:
            raise ValueError(
                f"{name}={value!r} conflicts with image_options.{name}={have!r}; "
                f"pass {name} in one place only"
            )
    return image_options
