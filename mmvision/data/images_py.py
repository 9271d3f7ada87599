"""Plain-Python (NumPy / Pillow) image helpers: read, decode, encode, resize.

The Pillow side of ``mmvision.data.images``: the decode fallback for formats
TensorFlow cannot read, the validator of the TFRecord builder, and the twins
of the in-graph ops for code that runs outside ``tf.data``. Decoding follows
the same rules as the TensorFlow path (RGB out, alpha on white, 16-bit scaled,
EXIF orientation applied unless ``apply_exif=False``).
"""

from __future__ import annotations

import io
import os

import numpy as np


class ImageDecodeError(ValueError):
    """An image that cannot be used; ``reason`` is a short key for counting."""

    def __init__(self, where: str, reason: str, detail: str = ""):
        self.where, self.reason, self.detail = where, reason, detail
        super().__init__(f"{where}: {reason}" + (f": {detail}" if detail else ""))


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
    path = os.fspath(path)
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
    import tensorflow as tf

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
