"""The embedded demo world: coloured shapes with noisy web text and captions.

A deterministic, procedurally rendered world that every test, notebook and demo
runs on. Each image has a background (plain, stripes, checker, gradient or
noise) and one to three objects (8 shapes x 6 colours, a size and a position,
possibly overlapping). The class is the *primary* (largest) object's
``colour shape``, e.g. ``"red circle"``: 48 classes.

Each image also gets WebVision-like web metadata (title, description, tags),
noisy the way web text is, five Flickr8k-style reference captions from a
grammar, and its ground-truth attributes. ``generate`` writes all of it to disk
in the real dataset layouts (WebVision 1.0, Flickr8k, Tiny ImageNet, a
class-per-folder tree with sidecar JSON, a triplet list), so the real readers
in ``mmvision.data.sources`` are exercised.

Example:
    >>> from mmvision.datasets import shapes
    >>> summary = shapes.generate("/tmp/world", n_images=600, size=64, seed=1)
    >>> summary["classes"]
    48
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import re
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from mmvision.utils import atomic_path

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

#: Words a caption or web text may use for each shape (first = canonical).
SHAPE_WORDS: dict[str, list[str]] = {
    "circle": ["circle", "disc", "dot"],
    "square": ["square", "box"],
    "triangle": ["triangle"],
    "star": ["star"],
    "cross": ["cross", "plus sign"],
    "ring": ["ring", "donut", "hoop"],
    "hexagon": ["hexagon"],
    "heart": ["heart"],
}
#: Words for each colour (first = canonical).
COLOUR_WORDS: dict[str, list[str]] = {
    "red": ["red", "crimson"],
    "green": ["green"],
    "blue": ["blue"],
    "yellow": ["yellow"],
    "purple": ["purple", "violet"],
    "orange": ["orange"],
}
_BG_WORDS = {
    "plain": ["plain", "flat"],
    "stripes": ["striped"],
    "checker": ["checkered", "chequered"],
    "gradient": ["gradient", "fading"],
    "noise": ["noisy", "speckled"],
}
_FILLER = (
    "photo pic image picture wallpaper hd free download art design cool new my "
    "vintage poster stock vector icon clipart print sticker logo shirt decor "
    "pattern craft kids cute simple modern beautiful best top idea gift"
).split()
_SITE_WORDS = "img dsc photo file untitled scan".split()

SPLITS = ("train", "val", "test")
_SUPERSAMPLE = 4


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


# --------------------------------------------------------------------------
# Scene sampling
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# Language: captions and web text
# --------------------------------------------------------------------------


def _pick(rng: np.random.Generator, items: Sequence[str]) -> str:
    return items[int(rng.integers(len(items)))]


def _size_word(rng: np.random.Generator, obj: dict[str, Any], size: int) -> str:
    rel = obj["size"] / size
    if rel >= 0.5:
        return _pick(rng, ["large", "big", "huge"])
    if rel < 0.3:
        return _pick(rng, ["small", "little", "tiny"])
    return _pick(rng, ["medium", "mid-sized", ""])


def _position(rng: np.random.Generator, obj: dict[str, Any], size: int) -> str:
    col = min(2, int(3 * obj["cx"] / size))
    row = min(2, int(3 * obj["cy"] / size))
    v = ["top", "", "bottom"][row]
    h = ["left", "", "right"][col]
    if not v and not h:
        return _pick(rng, ["in the centre", "in the middle", "at the center"])
    if v and h:
        return _pick(rng, [f"in the {v} {h}", f"in the {v} {h} corner"])
    if v:
        return _pick(rng, [f"at the {v}", f"near the {v}"])
    return _pick(rng, [f"on the {h}", f"on the {h} side"])


def _np(rng: np.random.Generator, obj: dict[str, Any], size=None) -> str:
    words = []
    if size is not None:
        words.append(_size_word(rng, obj, size))
    words.append(_pick(rng, COLOUR_WORDS[obj["colour"]]))
    words.append(_pick(rng, SHAPE_WORDS[obj["shape"]]))
    return " ".join(w for w in words if w)


def _article(phrase: str) -> str:
    return ("an " if phrase[:1] in "aeiou" else "a ") + phrase


def captions_for(rng: np.random.Generator, scene: dict[str, Any], size: int) -> list:
    """Five Flickr8k-style captions (grammar with synonyms and word orders)."""
    objs = scene["objects"]
    p, others = objs[0], objs[1:]
    bg = scene["background"]

    def bg_phrase() -> str:
        return (
            f"{_pick(rng, _BG_WORDS[bg['kind']])} {bg['colour']} "
            f"{_pick(rng, ['background', 'backdrop'])}"
        )

    def second() -> str:
        return _article(_np(rng, others[0], size)) if others else ""

    templates = [
        lambda: f"{_article(_np(rng, p, size))} {_position(rng, p, size)}",
        lambda: f"{_article(_np(rng, p))} on {_article(bg_phrase())}",
        lambda: (
            f"there is {_article(_np(rng, p, size))} {_position(rng, p, size)}"
            + (f" and {second()}" if others else "")
        ),
        lambda: f"{_position(rng, p, size)} there is {_article(_np(rng, p))}",
        lambda: (
            f"{_article(_np(rng, p, size))} next to {second()}"
            if others
            else f"{_article(_np(rng, p, size))} alone on the picture"
        ),
        lambda: (
            f"the picture shows {_article(_np(rng, p))}"
            + (f" with {second()}" if others else "")
        ),
        lambda: (
            f"{_article(_pick(rng, SHAPE_WORDS[p['shape']]))} coloured "
            f"{_pick(rng, COLOUR_WORDS[p['colour']])} over {_article(bg_phrase())}"
        ),
        lambda: (
            f"{_article(_np(rng, p, size))} and {len(others)} smaller "
            f"{'shape' if len(others) == 1 else 'shapes'}"
            if others
            else f"one {_np(rng, p, size)} on {_article(bg_phrase())}"
        ),
    ]
    order = rng.permutation(len(templates))[:5]
    out = []
    for i in order:
        text = re.sub(r"\s+", " ", templates[int(i)]()).strip()
        out.append(text[0].upper() + text[1:] + " .")
    return out


def _mentions(
    rng: np.random.Generator,
    scene: dict[str, Any],
    p_shape: float,
    p_colour: float,
    p_wrong: float,
) -> tuple[list[str], bool]:
    """Words a web text mentions: true shape/colour, maybe a wrong one."""
    p = scene["objects"][0]
    words: list[str] = []
    wrong = False
    if rng.random() < p_colour:
        words.append(_pick(rng, COLOUR_WORDS[p["colour"]]))
    if rng.random() < p_shape:
        words.append(_pick(rng, SHAPE_WORDS[p["shape"]]))
    if rng.random() < p_wrong:
        wrong = True
        others = scene["objects"][1:]
        if others and rng.random() < 0.5:  # text about another object
            o = others[int(rng.integers(len(others)))]
            words.append(_pick(rng, COLOUR_WORDS[o["colour"]]))
            words.append(_pick(rng, SHAPE_WORDS[o["shape"]]))
        elif rng.random() < 0.5:
            c = _pick(rng, [c for c in COLOURS if c != p["colour"]])
            words.append(_pick(rng, COLOUR_WORDS[c]))
        else:
            s = _pick(rng, [s for s in SHAPES if s != p["shape"]])
            words.append(_pick(rng, SHAPE_WORDS[s]))
    rng.shuffle(words)
    return words, wrong


def web_text(
    rng: np.random.Generator, scene: dict[str, Any], source: str, cfg: WorldConfig
) -> tuple[dict[str, Any], bool]:
    """Title, description and (Flickr) tags, noisy like web metadata."""
    words, wrong_t = _mentions(
        rng, scene, cfg.p_title_shape, cfg.p_title_colour, cfg.p_wrong
    )
    filler = [_pick(rng, _FILLER) for _ in range(int(rng.integers(1, 4)))]
    title_words = filler[:1] + words + filler[1:]
    if rng.random() < 0.2:
        title_words.append(f"{_pick(rng, _SITE_WORDS)}{int(rng.integers(100, 9999))}")
    meta: dict[str, Any] = {"title": " ".join(title_words)}
    wrong_d = wrong_g = False
    if rng.random() >= cfg.p_missing_description:
        words, wrong_d = _mentions(
            rng, scene, cfg.p_desc_shape, cfg.p_desc_colour, cfg.p_wrong
        )
        bits = [_pick(rng, _FILLER) for _ in range(int(rng.integers(3, 8)))]
        for w in words:
            bits.insert(int(rng.integers(len(bits) + 1)), w)
        if rng.random() < 0.3:
            bits += ["on", scene["background"]["colour"], "background"]
        meta["description"] = " ".join(bits).capitalize() + "."
    if source == "flickr":
        words, wrong_g = _mentions(
            rng, scene, cfg.p_tag_shape, cfg.p_tag_colour, cfg.p_wrong
        )
        tags = [_pick(rng, _FILLER) for _ in range(int(rng.integers(1, 4)))]
        meta["tags"] = sorted(set(tags + words))
    return meta, wrong_t or wrong_d or wrong_g


# --------------------------------------------------------------------------
# The world
# --------------------------------------------------------------------------


def names_object(caption: str, obj: dict[str, Any], strict: bool = True) -> bool:
    """Whether a caption names an object's shape and colour (any synonym).

    ``strict`` (default) asks for one noun phrase that binds the two, as the
    caption grammar writes them: ``"<colour> <shape>"`` (``"a large red
    circle"``) or ``"<shape> coloured <colour>"``; a caption that names the
    colour of one object and the shape of another does not count. With
    ``strict=False`` the two words may appear anywhere. Case and punctuation
    are ignored (``mmvision.data.text.clean_caption``).

    Example:
    >>> obj = {"shape": "circle", "colour": "red"}
    >>> names_object("A big crimson disc at the top .", obj)
    True
    >>> names_object("a red star next to a blue circle", obj)
    False
    """
    from mmvision.data.text import clean_caption

    text = f" {clean_caption(caption)} "
    shapes = "|".join(re.escape(w) for w in SHAPE_WORDS[obj["shape"]])
    colours = "|".join(re.escape(w) for w in COLOUR_WORDS[obj["colour"]])
    if strict:
        pattern = rf" (?:{colours}) (?:{shapes}) | (?:{shapes}) coloured (?:{colours}) "
        return re.search(pattern, text) is not None
    return bool(re.search(rf" (?:{shapes}) ", text)) and bool(
        re.search(rf" (?:{colours}) ", text)
    )


def class_folder(name: str) -> str:
    return name.replace(" ", "_")


def class_wnid(label: int) -> str:
    return f"n9{label + 1:07d}"


def _queries() -> list[tuple[str, int]]:
    """(query text, class index); two queries per class, the same for both sources."""
    out = []
    for label, name in enumerate(CLASSES):
        colour, shape = name.split()
        out.append((name, label))
        out.append((f"{shape} {COLOUR_WORDS[colour][-1]}", label))
    return out


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


def sample_world(cfg: WorldConfig) -> list[dict[str, Any]]:
    """Samples every image's record (scene, texts, split) without rendering."""
    if cfg.n_images < 1:
        raise ValueError(f"n_images must be >= 1, got {cfg.n_images}")
    if not 16 <= cfg.size <= 1024:
        raise ValueError(f"size must be between 16 and 1024 px, got {cfg.size}")
    n_cls = len(CLASSES)
    perm = np.random.default_rng([cfg.seed, 1]).permutation(cfg.n_images)
    labels = perm % n_cls
    splits = _assign_splits(labels, cfg.seed, cfg.split_fractions)
    queries = _queries()
    by_class: dict[int, list[int]] = {}
    for q, (_, label) in enumerate(queries):
        by_class.setdefault(label, []).append(q + 1)
    records = []
    for i in range(cfg.n_images):
        rng = np.random.default_rng([cfg.seed, 2, i])
        label = int(labels[i])
        scene = _sample_scene(rng, label, cfg)
        source = "google" if rng.random() < 0.5 else "flickr"
        query = by_class[label][int(rng.integers(len(by_class[label])))]
        meta, wrong = web_text(rng, scene, source, cfg)
        captions = captions_for(rng, scene, cfg.size)
        records.append(
            {
                "id": f"s{i:07d}",
                "split": splits[i],
                "label": label,
                "label_name": CLASSES[label],
                "source": source,
                "query": query,
                "background": {k: scene["background"][k] for k in ("kind", "colour")},
                "objects": [
                    {k: o[k] for k in ("shape", "colour", "size", "cx", "cy", "bbox")}
                    for o in scene["objects"]
                ],
                "title": meta.get("title", ""),
                "description": meta.get("description", ""),
                "tags": meta.get("tags", []),
                "captions": captions,
                "text_noise": wrong,
                "_scene": scene,
                "_meta": meta,
            }
        )
    return records


def _encode_jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _write_lines(path: Path, lines: Sequence[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _caption_vocab(records: Sequence[dict[str, Any]]) -> set[str]:
    vocab: set[str] = set()
    for r in records:
        for c in r["captions"]:
            vocab.update(re.findall(r"[a-z]+", c.lower()))
    return vocab


def _write_world(root: Path, records: list[dict[str, Any]], cfg: WorldConfig) -> None:
    queries = _queries()
    wv, fk, ti, fo = (
        root / "webvision",
        root / "flickr8k",
        root / "tiny-imagenet-200",
        root / "folders",
    )
    for d in (
        wv / "info",
        wv / "val_images",
        fk / "Flicker8k_Dataset",
        fk / "Flickr8k_text",
        ti / "val" / "images",
        ti / "test" / "images",
    ):
        d.mkdir(parents=True, exist_ok=True)

    filelists: dict[str, list[str]] = {"google": [], "flickr": []}
    metalists: dict[str, list[str]] = {"google": [], "flickr": []}
    query_meta: dict[tuple[str, int], list[dict[str, Any]]] = {}
    val_list, tokens, boxes_by_class, val_ann = [], [], {}, []
    split_lists: dict[str, list[str]] = {s: [] for s in SPLITS}

    for r in records:
        rng = np.random.default_rng([cfg.seed, 3, int(r["id"][1:])])
        img = render(r["_scene"], cfg.size, rng, cfg.pixel_noise)
        data = _encode_jpeg(img, cfg.jpeg_quality)
        rid, label, folder = r["id"], r["label"], class_folder(r["label_name"])
        src, q = r["source"], r["query"]
        # WebVision: every image, in its source/query folder, with metadata.
        rel = f"{src}/q{q:04d}/{rid}.jpg"
        (wv / rel).parent.mkdir(parents=True, exist_ok=True)
        (wv / rel).write_bytes(data)
        entries = query_meta.setdefault((src, q), [])
        entries.append({"id": rid, **r["_meta"]})
        filelists[src].append(f"{rel} {label}")
        metalists[src].append(f"{src}/q{q:04d}.json {len(entries)}")
        if r["split"] == "val":
            (wv / "val_images" / f"{rid}.jpg").write_bytes(data)
            val_list.append(f"{rid}.jpg {label}")
        # Flickr8k: every image, five captions, canonical split lists.
        (fk / "Flicker8k_Dataset" / f"{rid}.jpg").write_bytes(data)
        tokens += [f"{rid}.jpg#{k}\t{c}" for k, c in enumerate(r["captions"])]
        split_lists[r["split"]].append(f"{rid}.jpg")
        # Tiny ImageNet: train / val (annotated) / test (unlabelled).
        wnid = class_wnid(label)
        box = "\t".join(str(v) for v in r["objects"][0]["bbox"])
        if r["split"] == "train":
            d = ti / "train" / wnid / "images"
            d.mkdir(parents=True, exist_ok=True)
            (d / f"{rid}.JPEG").write_bytes(data)
            boxes_by_class.setdefault(wnid, []).append(f"{rid}.JPEG\t{box}")
        elif r["split"] == "val":
            (ti / "val" / "images" / f"{rid}.JPEG").write_bytes(data)
            val_ann.append(f"{rid}.JPEG\t{wnid}\t{box}")
        else:
            (ti / "test" / "images" / f"{rid}.JPEG").write_bytes(data)
        # Class-per-folder tree with the seed study's sidecar JSON.
        (fo / folder).mkdir(parents=True, exist_ok=True)
        (fo / folder / f"{rid}.jpg").write_bytes(data)
        sidecar = {"title": r["title"], "description": r["description"]}
        (fo / folder / rid).write_text(json.dumps(sidecar, sort_keys=True) + "\n")

    info = wv / "info"
    _write_lines(
        info / "synsets.txt",
        [f"{class_wnid(i)} {n}, {n.split()[1]}" for i, n in enumerate(CLASSES)],
    )
    for src in ("google", "flickr"):
        _write_lines(info / f"queries_{src}.txt", [q for q, _ in queries])
        _write_lines(info / f"train_filelist_{src}.txt", filelists[src])
        _write_lines(info / f"train_meta_list_{src}.txt", metalists[src])
    _write_lines(
        info / "queries_synsets_map.txt",
        [f"{i + 1} {label}" for i, (_, label) in enumerate(queries)],
    )
    _write_lines(info / "val_filelist.txt", val_list)
    for (src, q), entries in sorted(query_meta.items()):
        path = wv / "meta" / src / f"q{q:04d}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(entries, sort_keys=True, ensure_ascii=False))

    text = fk / "Flickr8k_text"
    # The real token file holds one bogus key matching no image.
    tokens.insert(len(tokens) // 2, "s9999999.jpg.1\tA bogus caption .")
    _write_lines(text / "Flickr8k.token.txt", tokens)
    for split, name in (("train", "train"), ("val", "dev"), ("test", "test")):
        _write_lines(text / f"Flickr_8k.{name}Images.txt", split_lists[split])

    wnids = [class_wnid(i) for i in range(len(CLASSES))]
    _write_lines(ti / "wnids.txt", wnids)
    words = [f"{w}\t{n}, {n.split()[1]} shape" for w, n in zip(wnids, CLASSES)]
    # words.txt covers every synset, not just the dataset's: add unrelated ones.
    words += [f"n8{k:07d}\tunrelated synset {k}" for k in range(1, 21)]
    _write_lines(ti / "words.txt", sorted(words))
    for wnid, lines in boxes_by_class.items():
        _write_lines(ti / "train" / wnid / f"{wnid}_boxes.txt", lines)
    _write_lines(ti / "val" / "val_annotations.txt", val_ann)

    # Triplets: anchor, positive (same class), negative (other class); train only.
    train = [r for r in records if r["split"] == "train"]
    by_label: dict[int, list[dict[str, Any]]] = {}
    for r in train:
        by_label.setdefault(r["label"], []).append(r)
    rng = np.random.default_rng([cfg.seed, 4])
    labels = sorted(by_label)
    trip = []

    def fpath(r: dict[str, Any]) -> str:
        return f"folders/{class_folder(r['label_name'])}/{r['id']}.jpg"

    for r in train:
        same = [o for o in by_label[r["label"]] if o["id"] != r["id"]]
        if not same or len(labels) < 2:
            continue
        pos = same[int(rng.integers(len(same)))]
        neg_label = labels[int(rng.integers(len(labels)))]
        while neg_label == r["label"]:
            neg_label = labels[int(rng.integers(len(labels)))]
        neg = by_label[neg_label][int(rng.integers(len(by_label[neg_label])))]
        trip.append(f"{fpath(r)} {fpath(pos)} {fpath(neg)}")
    _write_lines(root / "triplets.txt", trip)

    public = [{k: v for k, v in r.items() if not k.startswith("_")} for r in records]
    _write_lines(
        root / "ground_truth.jsonl",
        [json.dumps(r, sort_keys=True, ensure_ascii=False) for r in public],
    )
    counts = Counter(r["split"] for r in records)
    world = {
        "name": "mmvision shapes demo world",
        "seed": cfg.seed,
        "n_images": cfg.n_images,
        "size": cfg.size,
        "config": dataclasses.asdict(cfg),
        "classes": [
            {
                "label": i,
                "name": n,
                "folder": class_folder(n),
                "wnid": class_wnid(i),
                "colour": n.split()[0],
                "shape": n.split()[1],
            }
            for i, n in enumerate(CLASSES)
        ],
        "splits": {s: counts.get(s, 0) for s in SPLITS},
    }
    (root / "world.json").write_text(json.dumps(world, indent=2, sort_keys=True) + "\n")
    contact_sheet(records, cfg, root / "contact_sheet.png")


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


def summarize(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The figures ``mmvision data demo`` prints."""
    n = len(records)
    counts = Counter(r["split"] for r in records)
    return {
        "images": n,
        "classes": len({r["label"] for r in records}),
        "splits": {s: counts.get(s, 0) for s in SPLITS},
        "caption_vocabulary": len(_caption_vocab(records)),
        "missing_description_rate": sum(not r["description"] for r in records) / n,
        "text_label_noise_rate": sum(bool(r["text_noise"]) for r in records) / n,
        "sources": dict(sorted(Counter(r["source"] for r in records).items())),
    }


def generate(
    out_dir: str | os.PathLike,
    n_images: int = 6000,
    size: int = 64,
    seed: int = 0,
    **overrides: Any,
) -> dict[str, Any]:
    """Renders the world and writes every layout under ``out_dir``.

    The write is atomic: the world is built in a temporary folder beside
    ``out_dir`` and renamed into place, replacing an earlier world there. A
    non-empty ``out_dir`` that is not a demo world is refused.

    Args:
        out_dir: destination folder.
        n_images: number of images.
        size: image side in pixels.
        seed: the same seed gives byte-identical files.
        **overrides: other ``WorldConfig`` fields.

    Returns:
        The summary dict (see ``summarize``) plus ``"root"``.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not (out / "world.json").exists():
        raise ValueError(
            f"refusing to write into {out}: it is not empty and holds no demo "
            "world (no world.json)"
        )
    cfg = WorldConfig(n_images=n_images, size=size, seed=seed, **overrides)
    records = sample_world(cfg)
    with atomic_path(out) as tmp:
        tmp.mkdir()
        _write_world(tmp, records, cfg)
        if out.is_dir() and not any(out.iterdir()):
            out.rmdir()
    summary = summarize(records)
    summary["root"] = str(out)
    return summary


def load_ground_truth(root: str | os.PathLike) -> list[dict[str, Any]]:
    """Reads ``ground_truth.jsonl`` of a world written by ``generate``."""
    path = Path(root) / "ground_truth.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"no demo world at {root}: {path} is missing")
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_world_info(root: str | os.PathLike) -> dict[str, Any]:
    """Reads ``world.json`` of a world written by ``generate``."""
    path = Path(root) / "world.json"
    if not path.is_file():
        raise FileNotFoundError(f"no demo world at {root}: {path} is missing")
    return json.loads(path.read_text(encoding="utf-8"))


def remove(root: str | os.PathLike) -> None:
    """Deletes a world written by ``generate`` (refuses other folders)."""
    root = Path(root)
    if not (root / "world.json").exists():
        raise ValueError(f"{root} is not a demo world (no world.json)")
    shutil.rmtree(root)
