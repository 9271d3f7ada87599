"""CIFAR-10 / CIFAR-100 (python pickle version) readers -> Manifest.

CIFAR keeps its pixels inside pickled batches, but a Manifest points at image
files, so these readers *materialise* every kept row as a PNG file under an
image cache folder (``images_dir``; default: ``<name>-images/`` beside the
extracted folder, e.g. ``/data/cifar-10-batches-py-images/``), laid out as
``<images_dir>/<batch file>/<file stem>.png``. Each PNG is written atomically
(temporary file + rename), so an interrupted read never leaves a half-written
image. The PNGs are stored uncompressed (8-bit RGB, zlib level 0), which
makes every file exactly ``PNG_SIZE`` bytes: a file already there with that
size is reused without re-encoding, any other size is rewritten. Decoding
gives back exactly the batch pixels (red, green, blue planes -> RGB).

The pickles are loaded with a restricted unpickler that resolves only the
globals numpy arrays need (``_reconstruct``, ``ndarray``, ``dtype``,
``scalar``) and the bytes helpers of Python 3 protocol-2 pickles; any other
global is refused. Pickle remains a code-carrying format, so batch files must
still come from a trusted source (the official download).
"""

from __future__ import annotations

import functools
import os
import pickle
import struct
import zlib
from typing import Any

import numpy as np

from mmvision.data.manifest import ReadResult
from mmvision.data.sources._common import Reader, ReaderError, check_split
from mmvision.utils import write_bytes_atomic

SPLITS = ("all", "train", "test")
LABEL_MODES = ("fine", "coarse")
#: Values per image row: 1024 red, 1024 green, 1024 blue (row-major 32x32).
ROW_SIZE = 3 * 32 * 32

# folder, archive, meta file, train batches, test batches
_CIFAR10 = (
    "cifar-10-batches-py",
    "cifar-10-python.tar.gz",
    "batches.meta",
    [f"data_batch_{i}" for i in range(1, 6)],
    ["test_batch"],
)
_CIFAR100 = ("cifar-100-python", "cifar-100-python.tar.gz", "meta", ["train"], ["test"])


def cifar10(
    root: str | os.PathLike,
    split: str = "all",
    images_dir: str | os.PathLike | None = None,
    strict: bool = False,
    allow_outside_root: bool = False,
    check_files: bool = True,
    verify_images: bool | str = False,
) -> ReadResult:
    """Reads ``cifar-10-batches-py`` into a Manifest, writing PNGs for its rows.

    Train rows come from ``data_batch_1`` .. ``data_batch_5`` (split
    ``"train"``; CIFAR has no official val split), test rows from
    ``test_batch`` (``"test"``). Labels index ``label_names`` of
    ``batches.meta``. The id is ``<batch file>/<file stem>``
    (``data_batch_1/leptodactylus_pentadactylus_s_000004``): unique even if a
    file name repeated across batches; a name repeated within a batch is a
    ``duplicate_id`` skip.

    Skips (counted, examples ``"<batch path>:<row>: detail"``):
    ``malformed_line`` (a row without ``3072`` values in ``0..255``, or
    without a label or file name), ``unknown_label`` (outside the class list),
    ``outside_root`` (a file name with a path separator or ``..``),
    ``duplicate_id`` and the file checks of the written PNG. A missing batch
    or meta file is a ``ValueError`` naming it; an unreadable or corrupt
    pickle is a ``ReaderError`` naming it.

    Args:
        root: the extracted ``cifar-10-batches-py`` folder or its parent.
        split: ``"all"`` (default), ``"train"`` or ``"test"``.
        images_dir: where the PNGs go; default
            ``<extracted folder>/../cifar-10-batches-py-images``.
        strict, allow_outside_root, check_files, verify_images: as for every
            reader (see ``mmvision.data.sources``); file names never escape
            ``images_dir``, whatever ``allow_outside_root`` says.

    Returns:
        ``ReadResult(manifest, report, classes)``; ``classes`` are the names.

    Example:
        >>> m, report, classes = cifar10("/data/cifar-10-batches-py", "test")
    """
    opts = (strict, allow_outside_root, check_files, verify_images)
    keys = (b"labels", b"label_names")
    return _read("cifar10", _CIFAR10, root, split, images_dir, keys, opts)


def cifar100(
    root: str | os.PathLike,
    split: str = "all",
    label_mode: str = "fine",
    images_dir: str | os.PathLike | None = None,
    strict: bool = False,
    allow_outside_root: bool = False,
    check_files: bool = True,
    verify_images: bool | str = False,
) -> ReadResult:
    """Reads ``cifar-100-python`` into a Manifest, writing PNGs for its rows.

    Like ``cifar10``, with the batches ``train`` and ``test`` and the class
    names in ``meta``. Ids are ``train/<file stem>`` / ``test/<file stem>``.

    Args:
        root: the extracted ``cifar-100-python`` folder or its parent.
        split: ``"all"`` (default), ``"train"`` or ``"test"``.
        label_mode: ``"fine"`` (100 classes, ``fine_labels`` /
            ``fine_label_names``) or ``"coarse"`` (20 superclasses).
        images_dir: where the PNGs go; default
            ``<extracted folder>/../cifar-100-python-images``.
        strict, allow_outside_root, check_files, verify_images: as for
            ``cifar10``.

    Returns:
        ``ReadResult(manifest, report, classes)``; ``classes`` are the names.

    Example:
        >>> m, report, classes = cifar100("/data", label_mode="coarse")
    """
    if label_mode not in LABEL_MODES:
        raise ValueError(f"cifar100: label_mode={label_mode!r}; valid: {LABEL_MODES}")
    opts = (strict, allow_outside_root, check_files, verify_images)
    keys = (f"{label_mode}_labels".encode(), f"{label_mode}_label_names".encode())
    return _read("cifar100", _CIFAR100, root, split, images_dir, keys, opts)


def _read(name, layout, root, split, images_dir, keys, opts) -> ReadResult:
    check_split(split, SPLITS, name)
    folder, archive, meta_file, train, test = layout
    root = os.path.abspath(os.fspath(root))
    if os.path.isdir(os.path.join(root, folder)):
        root = os.path.join(root, folder)
    r = Reader(name, root, *opts)
    if images_dir is None:
        images_dir = os.path.join(os.path.dirname(r.root), folder + "-images")
    images_dir = os.path.abspath(os.fspath(images_dir))
    label_key, names_key = keys
    meta_path = os.path.join(r.root, meta_file)
    names = _get(_load(name, r.root, meta_path, archive), names_key, meta_path)
    if not names:
        raise ReaderError(f"{meta_path}: {names_key!r} lists no class names")
    classes = [_text(r, n, f"{meta_path}: class {i}") for i, n in enumerate(names)]
    batches = [("train", b) for b in train] + [("test", b) for b in test]
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for batch_split, batch in batches:
        if split not in ("all", batch_split):
            continue
        path = os.path.join(r.root, batch)
        data = _load(name, r.root, path, archive)
        pixels = _get(data, b"data", path)
        labels = _get(data, label_key, path)
        files = _get(data, b"filenames", path)
        n = max(len(pixels), len(labels), len(files))
        for i in range(n):
            r.report.rows_read += 1
            where = f"{path}:{i}"
            row = _row(r, where, pixels, labels, files, i, len(classes))
            if row is None:
                continue
            hwc, label, fname = row
            stem = fname[:-4] if fname.lower().endswith(".png") else fname
            row_id = f"{batch}/{stem}"
            if row_id in seen:
                r.skip("duplicate_id", f"{where}: id {row_id!r} seen before")
                continue
            out = os.path.join(images_dir, batch, stem + ".png")
            _materialise(out, hwc)
            if not r.check_file(out, where):
                continue
            seen.add(row_id)
            rows.append(
                {
                    "id": row_id,
                    "image_path": out,
                    "label": label,
                    "label_name": classes[label],
                    "split": batch_split,
                }
            )
    return ReadResult(r.finish(rows), r.report, classes)


def _row(r, where, pixels, labels, files, i, n_classes):
    """``(HxWx3 uint8, label, file name)`` of row ``i``, or None after a skip."""
    if i >= len(pixels) or i >= len(labels) or i >= len(files):
        r.skip("malformed_line", f"{where}: no data, label or file name")
        return None
    values = pixels[i]
    if isinstance(values, bytes):
        values = np.frombuffer(values, np.uint8)
    values = np.asarray(values).reshape(-1)
    if values.size != ROW_SIZE or not np.issubdtype(values.dtype, np.integer):
        r.skip("malformed_line", f"{where}: {values.size} values, expected 3072")
        return None
    if values.dtype != np.uint8:
        if values.min() < 0 or values.max() > 255:
            r.skip("malformed_line", f"{where}: pixel values outside 0..255")
            return None
        values = values.astype(np.uint8)
    label = labels[i]
    if isinstance(label, (bool, np.bool_)) or not isinstance(label, (int, np.integer)):
        r.skip("unknown_label", f"{where}: label {label!r} is not an integer")
        return None
    if not 0 <= label < n_classes:
        r.skip("unknown_label", f"{where}: label {label} not in 0..{n_classes - 1}")
        return None
    fname = _text(r, files[i], where)
    if "/" in fname or "\\" in fname or "\0" in fname or fname in (".", ".."):
        r.skip("outside_root", f"{where}: file name {fname!r} is not a plain name")
        return None
    if not fname.strip() or fname.lower() == ".png":
        r.skip("malformed_line", f"{where}: empty file name")
        return None
    return values.reshape(3, 32, 32).transpose(1, 2, 0), int(label), fname


def _text(r: Reader, value: Any, where: str) -> str:
    return r.decode(value, where) if isinstance(value, bytes) else str(value)


def _get(obj: Any, key: bytes, path: str) -> Any:
    """``obj[key]`` of a loaded pickle as a sequence; ``ReaderError`` when absent."""
    if not isinstance(obj, dict):
        raise ReaderError(f"{path}: not a CIFAR pickle (a {type(obj).__name__})")
    if key not in obj:
        found = sorted(repr(k) for k in obj)
        raise ReaderError(f"{path}: no key {key!r} (has {', '.join(found)})")
    value = obj[key]
    if key != b"data" and isinstance(value, np.ndarray):
        value = value.tolist()
    if getattr(value, "ndim", 1) == 0 or not hasattr(value, "__len__"):
        raise ReaderError(f"{path}: {key!r} is not a sequence")
    return value


def _load(name: str, root: str, path: str, archive: str) -> Any:
    """The unpickled object of a required batch or meta file."""
    if not os.path.exists(path):
        archives = [os.path.join(d, archive) for d in (root, os.path.dirname(root))]
        hint = (
            f" (extract {archive} first)" if any(map(os.path.exists, archives)) else ""
        )
        raise ValueError(f"{name}: no such file {path}{hint}")
    try:
        with open(path, "rb") as f:
            return _Unpickler(f, encoding="bytes").load()
    except OSError as e:
        raise ReaderError(f"cannot read {path}: {e}") from e
    except Exception as e:  # noqa: BLE001 - corrupt pickles raise many types
        raise ReaderError(
            f"{path}: corrupt or truncated CIFAR pickle ({type(e).__name__}: {e})"
        ) from e


@functools.cache
def _allowed_globals() -> dict[tuple[str, str], Any]:
    """The globals a CIFAR pickle may name (Python 2 or 3, numpy 1 or 2)."""
    import _codecs

    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray  # type: ignore[no-redef]
    out = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        out[(mod, "_reconstruct")] = multiarray._reconstruct
        out[(mod, "scalar")] = multiarray.scalar
    out[("_codecs", "encode")] = _codecs.encode  # bytes in protocol-2 pickles
    out[("__builtin__", "bytes")] = out[("builtins", "bytes")] = bytes
    return out


class _Unpickler(pickle.Unpickler):
    """Resolves only ``_allowed_globals``: no other callable can be named."""

    def find_class(self, module: str, name: str) -> Any:
        found = _allowed_globals().get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")
        return found


def _chunk(tag: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(tag + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)


def encode_png(hwc: np.ndarray) -> bytes:
    """Uncompressed 8-bit RGB PNG of an ``HxWx3`` uint8 array (fixed size)."""
    h, w, _ = hwc.shape
    lines = np.zeros((h, 1 + 3 * w), np.uint8)  # filter byte 0 per scanline
    lines[:, 1:] = hwc.reshape(h, 3 * w)
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(lines.tobytes(), 0))
        + _chunk(b"IEND", b"")
    )


#: Size in bytes of every materialised 32x32 PNG.
PNG_SIZE = len(encode_png(np.zeros((32, 32, 3), np.uint8)))


def _materialise(path: str, hwc: np.ndarray) -> None:
    """Writes the PNG of ``hwc`` to ``path`` unless a ``PNG_SIZE`` file is there."""
    try:
        if os.stat(path).st_size == PNG_SIZE:
            return
    except OSError:
        pass
    try:
        write_bytes_atomic(path, encode_png(hwc))
    except OSError as e:
        raise ValueError(
            f"cannot write image {path}: {e}; pass images_dir= a writable folder"
        ) from e
