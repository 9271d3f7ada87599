"""Rendering of the demo world: shape polygons, masks, backgrounds, images.

Objects are drawn at ``_SUPERSAMPLE`` times the image side and downsampled
(anti-aliasing). ``contact_sheet`` draws one labelled image per class.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from mmvision.datasets.shapes.scene import (
    BACKGROUND_COLOURS,
    BACKGROUNDS,
    COLOURS,
    WorldConfig,
)

_SUPERSAMPLE = 4


def _polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> list:
    a0 = math.radians(angle)

    def ring_pts(n: int, radii: Sequence[float], offset: float = 0.0) -> list:
        pts = []
        m = len(radii)
        for i in range(n * m):
            t = a0 + offset + 2 * math.pi * i / (n * m)
            rr = radii[i % m]
            pts.append((cx + rr * math.cos(t), cy + rr * math.sin(t)))
        return pts

    if shape == "square":
        return ring_pts(4, [r * 0.92], math.pi / 4)
    if shape == "triangle":
        return ring_pts(3, [r], -math.pi / 2)
    if shape == "hexagon":
        return ring_pts(6, [r])
    if shape == "star":
        return ring_pts(5, [r, r * 0.42], -math.pi / 2)
    if shape == "cross":
        w = r * 0.36
        base = [
            (-w, -r), (w, -r), (w, -w), (r, -w), (r, w), (w, w),
            (w, r), (-w, r), (-w, w), (-r, w), (-r, -w), (-w, -w),
        ]  # fmt: skip
        c, s = math.cos(a0), math.sin(a0)
        return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in base]
    if shape == "heart":
        pts = []
        tilt = math.radians((angle % 60) - 30)
        c, s = math.cos(tilt), math.sin(tilt)
        for i in range(64):
            t = 2 * math.pi * i / 64
            x = 16 * math.sin(t) ** 3
            y = -(
                13 * math.cos(t)
                - 5 * math.cos(2 * t)
                - 2 * math.cos(3 * t)
                - math.cos(4 * t)
            )
            x, y = x * r / 17, (y + 2) * r / 17
            pts.append((cx + x * c - y * s, cy + x * s + y * c))
        return pts
    raise ValueError(f"unknown polygon shape {shape!r}")


def _object_mask(obj: dict[str, Any], big: int, scale: float) -> Image.Image:
    mask = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(mask)
    cx, cy, r = obj["cx"] * scale, obj["cy"] * scale, obj["size"] * scale / 2
    shape = obj["shape"]
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    elif shape == "ring":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
        ri = r * 0.55
        draw.ellipse([cx - ri, cy - ri, cx + ri, cy + ri], fill=0)
    else:
        draw.polygon(_polygon(shape, cx, cy, r, obj["angle"]), fill=255)
    return mask


def _background(rng: np.random.Generator, bg: dict[str, Any], n: int) -> Image.Image:
    """The background as an ``n`` x ``n`` RGB image (``n`` = supersampled side)."""
    base = np.array(BACKGROUND_COLOURS[bg["colour"]], np.float32)
    kind = bg["kind"]
    period = bg["period"] * n / 64
    axis = np.arange(n, dtype=np.float32)
    if kind == "plain":
        img = np.broadcast_to(base, (1, 1, 3))
    elif kind == "stripes":
        band = (np.floor(axis / period) % 2)[:, None]
        band = band.T if bg["vertical"] else band  # (1, n) or (n, 1)
        img = base * (1 - 0.25 * band[..., None]) + 40 * band[..., None]
    elif kind == "checker":
        b = np.floor(axis / period)
        band = ((b[:, None] + b[None, :]) % 2)[..., None]
        img = base * (1 - 0.3 * band) + 30 * band
    elif kind == "gradient":
        ramp = (axis / max(n - 1, 1))[:, None]
        ramp = ramp.T if bg["vertical"] else ramp
        img = base * (0.55 + 0.6 * ramp[..., None])
    elif kind == "noise":
        small = max(1, n // _SUPERSAMPLE)
        noise = base + rng.normal(0, 28, size=(small, small, 3)).astype(np.float32)
        img = np.repeat(np.repeat(noise, n // small, axis=0), n // small, axis=1)
    else:
        raise ValueError(f"unknown background {kind!r}; valid: {BACKGROUNDS}")
    img = np.broadcast_to(np.clip(img, 0, 255), (n, n, 3)).astype(np.uint8)
    return Image.fromarray(img)


def render(scene: dict[str, Any], size: int, rng: np.random.Generator, noise: float):
    """Renders a scene to an RGB ``PIL.Image`` of ``size`` x ``size`` pixels.

    Objects are drawn at 4x resolution and downsampled (anti-aliasing); the
    largest first, so smaller objects may partly cover the primary one.
    """
    big = size * _SUPERSAMPLE
    canvas = _background(rng, scene["background"], big)
    for obj in scene["objects"]:
        mask = _object_mask(obj, big, _SUPERSAMPLE)
        colour = np.clip(np.array(COLOURS[obj["colour"]]) + obj["jitter"], 0, 255)
        canvas.paste(tuple(int(v) for v in colour), mask=mask)
    img = canvas.resize((size, size), Image.Resampling.BOX)
    if noise > 0:
        arr = np.asarray(img, np.float32) + rng.normal(0, noise, (size, size, 3))
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    return img


def contact_sheet(
    records: Sequence[dict[str, Any]], cfg: WorldConfig, path: str | os.PathLike
) -> None:
    """Writes a PNG grid of one sample image per class, labelled with its class."""
    firsts: dict[int, dict[str, Any]] = {}
    for r in records:
        firsts.setdefault(r["label"], r)
    picks = [firsts[k] for k in sorted(firsts)]
    cols, cell, pad = 8, 96, 14
    rows = max(1, math.ceil(len(picks) / cols))
    sheet = Image.new("RGB", (cols * cell, rows * (cell + pad)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for k, r in enumerate(picks):
        rng = np.random.default_rng([cfg.seed, 3, int(r["id"][1:])])
        img = render(r["_scene"], cfg.size, rng, cfg.pixel_noise)
        img = img.resize((cell - 4, cell - 4), Image.Resampling.NEAREST)
        x, y = (k % cols) * cell, (k // cols) * (cell + pad)
        sheet.paste(img, (x + 2, y + 2))
        draw.text((x + 3, y + cell - 1), r["label_name"], fill=(0, 0, 0))
    buf = io.BytesIO()
    sheet.save(buf, format="PNG")
    Path(path).write_bytes(buf.getvalue())
