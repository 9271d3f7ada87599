"""A corpus of awkward and broken image files, shared by the pipeline and reader tests.

``build_bad_corpus(directory)`` writes the files and returns one
``BadFile`` per file: its path, what a robust loader should do with it
(``expect`` is ``"ok"`` or the skip reason) and, for good files, the RGB
pixels a correct decode gives (``expected``, uint8 [H,W,3]; JPEGs within
``tol`` mean absolute error).
"""

from __future__ import annotations

import dataclasses
import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

OK = "ok"


@dataclasses.dataclass
class BadFile:
    name: str
    path: str
    expect: str  # "ok" or the skip reason
    expected: np.ndarray | None = None  # RGB uint8 pixels when expect == "ok"
    tol: float = 0.0  # mean abs error allowed against ``expected``
    note: str = ""


def _pattern(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth colourful image (JPEG-friendly: small compression error)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 100 * np.sin(xx / max(w, 1) * np.pi * 2 + seed)
    g = 128 + 100 * np.cos(yy / max(h, 1) * np.pi * 2 + seed)
    b = 255 * (xx + yy) / max(h + w - 2, 1)
    return np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8)


def _save(im: Image.Image, path: Path, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    data = buf.getvalue()
    path.write_bytes(data)
    return data


def build_bad_corpus(directory: str | os.PathLike, size: int = 24) -> list[BadFile]:
    """Writes the corpus into ``directory`` and describes every file."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    h, w = size, size + 8  # not square, so transposes are visible
    base = _pattern(h, w)
    rgb = Image.fromarray(base)
    out: list[BadFile] = []

    def add(name, expect, expected=None, tol=0.0, note=""):
        out.append(BadFile(name, str(d / name), expect, expected, tol, note))

    _save(rgb, d / "good.jpg", "JPEG", quality=95)
    add("good.jpg", OK, base, 4.0)
    _save(rgb, d / "good.png", "PNG")
    add("good.png", OK, base)
    _save(rgb, d / "good.bmp", "BMP")
    add("good.bmp", OK, base)
    _save(rgb, d / "with space.jpg", "JPEG", quality=95)
    add("with space.jpg", OK, base, 4.0, "space in the name")
    _save(rgb, d / "ünïcødé 名前.jpg", "JPEG", quality=95)
    add("ünïcødé 名前.jpg", OK, base, 4.0, "unicode name")

    gray = rgb.convert("L")
    _save(gray, d / "gray.jpg", "JPEG", quality=95)
    add("gray.jpg", OK, np.repeat(np.asarray(gray)[..., None], 3, -1), 4.0)

    _save(rgb.convert("CMYK"), d / "cmyk.jpg", "JPEG", quality=95)
    add("cmyk.jpg", OK, base, 6.0, "CMYK JPEG")

    g16 = (np.asarray(gray).astype(np.uint16) * 257).astype(np.uint16)
    _save(Image.fromarray(g16), d / "gray16.png", "PNG")
    add("gray16.png", OK, np.repeat(np.asarray(gray)[..., None], 3, -1), 0.0, "16-bit")

    pal = rgb.convert("P", palette=Image.ADAPTIVE, colors=32)
    _save(pal, d / "palette.png", "PNG")
    add("palette.png", OK, np.asarray(pal.convert("RGB")))

    rgba_arr = np.concatenate([base, np.full((h, w, 1), 255, np.uint8)], -1)
    rgba_arr[:, : w // 2, 3] = 0  # left half fully transparent -> white
    rgba_arr[:, : w // 2, :3] = 0  # ... with black stored under it
    _save(Image.fromarray(rgba_arr, "RGBA"), d / "rgba.png", "PNG")
    want = base.copy()
    want[:, : w // 2] = 255
    add("rgba.png", OK, want, 0.0, "alpha composited on white")

    _save(Image.new("RGB", (1, 1), (10, 200, 30)), d / "tiny_1x1.png", "PNG")
    add("tiny_1x1.png", OK, np.array([[[10, 200, 30]]], np.uint8), 0.0, "1x1")

    frames = [Image.new("RGB", (w, h), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(
        d / "animated.gif", "GIF", save_all=True, append_images=frames[1:], loop=0
    )
    add("animated.gif", OK, np.asarray(frames[0].convert("RGB")), 0.0, "first frame")

    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    _save(rgb, d / "exif_rot6.jpg", "JPEG", quality=95, exif=exif.tobytes())
    add("exif_rot6.jpg", OK, np.rot90(base, k=-1).copy(), 4.0, "EXIF orientation 6")

    (d / "zero.jpg").write_bytes(b"")
    add("zero.jpg", "empty_file", note="zero bytes")

    good_jpeg = (d / "good.jpg").read_bytes()
    (d / "truncated.jpg").write_bytes(good_jpeg[: len(good_jpeg) // 2])
    add("truncated.jpg", "decode_error", note="truncated JPEG")

    rng = np.random.default_rng(0)
    garbage = good_jpeg[:20] + rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()
    (d / "garbage.jpg").write_bytes(garbage)
    add("garbage.jpg", "decode_error", note="JPEG header + random bytes")

    (d / "text.jpg").write_text("this is not an image\n", encoding="utf-8")
    add("text.jpg", "decode_error", note="text named .jpg")

    link = d / "dangling.jpg"
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(d / "does-not-exist.jpg", link)
    add("dangling.jpg", "missing_file", note="dangling symlink")
    return out


def good(corpus: list[BadFile]) -> list[BadFile]:
    return [f for f in corpus if f.expect == OK]


def bad(corpus: list[BadFile]) -> list[BadFile]:
    return [f for f in corpus if f.expect != OK]
