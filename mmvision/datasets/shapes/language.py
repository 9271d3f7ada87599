"""The demo world's language: word tables, caption grammar and web text.

``captions_for`` writes five Flickr8k-style reference captions from a grammar
with synonyms and word orders; ``web_text`` writes WebVision-like titles,
descriptions and tags, noisy the way web text is; ``names_object`` tells
whether a caption names an object's colour and shape.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from mmvision.datasets.shapes.scene import CLASSES, COLOURS, SHAPES, WorldConfig

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


def _queries() -> list[tuple[str, int]]:
    """(query text, class index); two queries per class, the same for both sources."""
    out = []
    for label, name in enumerate(CLASSES):
        colour, shape = name.split()
        out.append((name, label))
        out.append((f"{shape} {COLOUR_WORDS[colour][-1]}", label))
    return out
