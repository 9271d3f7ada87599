"""The demo world's vocabulary and scene sampling.

The shapes, colours, backgrounds and the 48 classes (``"<colour> <shape>"``),
the ``WorldConfig`` knobs, the sampling of one image's scene (background and
one to three objects, the primary one largest) and the stratified canonical
train / val / test assignment.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

SHAPES: list[str] = [
    "circle",
    "square",
    "triangle",
    "star",
    "cross",
    "ring",
    "hexagon",
    "heart",
]
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (214, 39, 40),
    "green": (44, 160, 44),
    "blue": (31, 90, 220),
    "yellow": (240, 210, 30),
    "purple": (140, 70, 190),
    "orange": (250, 135, 20),
}
BACKGROUND_COLOURS: dict[str, tuple[int, int, int]] = {
    "white": (236, 236, 232),
    "grey": (128, 128, 128),
    "black": (28, 28, 30),
    "beige": (222, 205, 165),
    "pink": (238, 176, 196),
    "teal": (70, 150, 150),
}
BACKGROUNDS: list[str] = ["plain", "stripes", "checker", "gradient", "noise"]
CLASSES: list[str] = [f"{c} {s}" for s in SHAPES for c in COLOURS]

SPLITS = ("train", "val", "test")


@dataclasses.dataclass(frozen=True)
class WorldConfig:
    """Knobs of the world; the defaults are the calibrated demo world.

    Args:
        n_images: number of images.
        size: image side in pixels.
        seed: everything derives from it; the same seed gives identical bytes.
        split_fractions: canonical train/val/test fractions (stratified).
        p_missing_description: chance that an image has no description.
        p_title_shape, p_title_colour: chance the title names the true
            shape / colour.
        p_desc_shape, p_desc_colour: the same for a present description.
        p_tag_shape, p_tag_colour: the same for Flickr tags.
        p_wrong: chance, per text field, of also naming a wrong shape or colour
            (web label noise).
        object_counts: probabilities of 1, 2 and 3 objects.
        pixel_noise: standard deviation of Gaussian pixel noise (0-255 scale).
        jpeg_quality: JPEG quality of the written images.
    """

    n_images: int = 6000
    size: int = 64
    seed: int = 0
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    p_missing_description: float = 1 / 3
    p_title_shape: float = 0.5
    p_title_colour: float = 0.5
    p_desc_shape: float = 0.5
    p_desc_colour: float = 0.45
    p_tag_shape: float = 0.5
    p_tag_colour: float = 0.5
    p_wrong: float = 0.2
    object_counts: tuple[float, float, float] = (0.3, 0.4, 0.3)
    pixel_noise: float = 10.0
    jpeg_quality: int = 90


def _sample_scene(
    rng: np.random.Generator, label: int, cfg: WorldConfig
) -> dict[str, Any]:
    """Samples background and objects; objects[0] is the primary (largest)."""
    size = cfg.size
    colour_names = list(COLOURS)
    primary_shape = SHAPES[label // len(COLOURS)]
    primary_colour = colour_names[label % len(COLOURS)]
    n_obj = int(rng.choice([1, 2, 3], p=list(cfg.object_counts)))
    # Primary size 0.38-0.62 of the side; others strictly smaller (>= 8% less).
    sizes = [rng.uniform(0.38, 0.62)]
    for _ in range(n_obj - 1):
        sizes.append(rng.uniform(0.2, 0.92) * sizes[0])
    objects = []
    for k, rel in enumerate(sizes):
        if k == 0:
            shape, colour = primary_shape, primary_colour
        else:
            shape = SHAPES[int(rng.integers(len(SHAPES)))]
            colour = colour_names[int(rng.integers(len(colour_names)))]
            if shape == primary_shape and colour == primary_colour:
                colour = colour_names[(label + 1 + k) % len(colour_names)]
        d = rel * size
        cx = rng.uniform(d / 2, size - d / 2)
        cy = rng.uniform(d / 2, size - d / 2)
        objects.append(
            {
                "shape": shape,
                "colour": colour,
                "size": round(float(d), 2),
                "cx": round(float(cx), 2),
                "cy": round(float(cy), 2),
                "angle": round(float(rng.uniform(0, 360)), 1),
                "jitter": [int(v) for v in rng.integers(-18, 19, size=3)],
                "bbox": [
                    int(max(0, math.floor(cx - d / 2))),
                    int(max(0, math.floor(cy - d / 2))),
                    int(min(size - 1, math.ceil(cx + d / 2))),
                    int(min(size - 1, math.ceil(cy + d / 2))),
                ],
            }
        )
    bg_kind = BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
    bg_colour = list(BACKGROUND_COLOURS)[int(rng.integers(len(BACKGROUND_COLOURS)))]
    return {
        "background": {
            "kind": bg_kind,
            "colour": bg_colour,
            "period": int(rng.integers(4, 12)),
            "vertical": bool(rng.integers(2)),
        },
        "objects": objects,
    }


def _assign_splits(labels: np.ndarray, seed: int, fractions) -> list[str]:
    rng = np.random.default_rng([seed, 7])
    split = [""] * len(labels)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        n_val = int(round(len(idx) * fractions[1]))
        n_test = int(round(len(idx) * fractions[2]))
        for j, i in enumerate(idx):
            split[i] = "val" if j < n_val else "test" if j < n_val + n_test else "train"
    return split
