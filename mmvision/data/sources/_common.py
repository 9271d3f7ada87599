"""Validation helpers shared by every reader in ``mmvision.data.sources``.

One ``Reader`` object carries a reader's options (root, ``strict``,
``allow_outside_root``, ``check_files``, ``verify_images``) and its
``ReadReport``; readers call its methods instead of repeating the logic:

- ``skip(reason, where)``: count a dropped row, or raise in strict mode;
- ``resolve(path, where, base=None)``: absolute path, refusing paths that
  escape the dataset root unless the user allows it;
- ``check_file(path, where)``: exists, is a regular file, non-empty,
  readable, and (optionally) opens / decodes with PIL;
- ``read_lines(path)``/``read_text(path)``: UTF-8 text, bad bytes decoded
  with replacement and counted per line.

Skip reasons used by the readers (``ReadReport.skipped`` keys):
``missing_file``, ``not_a_file``, ``empty_file``, ``unreadable_file``,
``bad_image``, ``outside_root``, ``duplicate_id``, ``unknown_label``,
``malformed_line``, ``missing_image`` (table row without a path),
``no_class`` (image outside any class folder), ``conflicting_duplicate``.
Warnings (kept rows after a repair, or side files that could not be used;
``ReadReport.warnings``, examples in ``ReadReport.examples``): ``non_utf8``,
``bad_json``, ``missing_meta_file``, ``malformed_meta_line``,
``bad_meta_index``, ``meta_outside_root``, ``missing_class_name``,
``image_in_two_splits``, ``ignored_file``. ``strict=True`` turns skips into
errors; warnings stay counts.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Iterable, Iterator
from typing import Any

from mmvision.data.manifest import ReadReport
from mmvision.data.skips import SkipCounter

#: Image file extensions the readers list in folders (lower case).
IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".jpg",
    ".jpeg",
    ".png",
    ".bmp",
    ".gif",
    ".webp",
    ".tif",
    ".tiff",
)

#: Valid values of ``verify_images``.
VERIFY_MODES = (False, True, "verify", "decode")

#: Valid values of ``id_style``.
ID_STYLES = ("path", "stem")


@dataclasses.dataclass
class ReaderReport(SkipCounter, ReadReport):
    """The ``ReadReport`` the readers fill, counting with the shared ``SkipCounter``.

    Same fields (in the same order), values and ``to_dict`` as ``ReadReport``.
    """

    to_dict = ReadReport.to_dict


class ReaderError(ValueError):
    """A strict-mode reader error; the message names the file and line."""


class Reader:
    """Options and report of one reader call, with the shared checks.

    Args:
        name: reader name, e.g. ``"flickr8k"`` (goes into the report source).
        root: dataset root; relative paths resolve against it and no path may
            escape it unless ``allow_outside_root``.
        strict: raise ``ReaderError`` (a ``ValueError``) at the first skipped
            row instead of counting it.
        allow_outside_root: accept paths that resolve outside ``root``.
        check_files: check that every image exists, is a non-empty readable
            regular file. ``False`` trusts the lists (fastest at scale).
        verify_images: ``False``; ``True``/``"verify"`` opens each image with
            PIL and runs ``Image.verify()`` (header and, for PNG, checksums);
            ``"decode"`` fully decodes it (also catches truncated JPEGs).
    """

    def __init__(
        self,
        name: str,
        root: str | os.PathLike,
        strict: bool = False,
        allow_outside_root: bool = False,
        check_files: bool = True,
        verify_images: bool | str = False,
    ):
        if verify_images not in VERIFY_MODES:
            raise ValueError(
                f"verify_images={verify_images!r}; valid values: {VERIFY_MODES}"
            )
        self.root = os.path.abspath(os.fspath(root))
        self.strict = strict
        self.allow_outside_root = allow_outside_root
        self.check_files = check_files or bool(verify_images)
        self.verify_images = verify_images
        self.report = ReaderReport(source=f"{name}:{self.root}")
        self._root_prefix = self.root.rstrip(os.sep) + os.sep

    # -- counting -----------------------------------------------------------

    def skip(self, reason: str, where: str) -> None:
        """Counts a dropped row; in strict mode raises ``ReaderError`` instead."""
        if self.strict:
            raise ReaderError(f"{where}: {reason} (strict=True)")
        self.report.skip(reason, where)

    def warn(self, kind: str, where: str) -> None:
        """Counts a kept row that needed a repair; the first places are examples."""
        self.report.warnings[kind] += 1
        self.report.add_example(kind, where)

    def missing(self, field: str) -> None:
        """Counts one kept row whose text ``field`` was missing."""
        self.report.missing[field] += 1

    # -- paths --------------------------------------------------------------

    def resolve(self, path: str, where: str, base: str | None = None) -> str | None:
        """Absolute normalised path of ``path`` (relative to ``base`` or root).

        The check is lexical (``..`` components, absolute paths); symlinks
        inside the root are followed later like any file. Returns ``None``
        after counting an ``outside_root`` skip.
        """
        full = os.path.normpath(os.path.join(base or self.root, path))
        if not self.allow_outside_root and not (
            full.startswith(self._root_prefix) or full == self.root
        ):
            self.skip("outside_root", f"{where}: {path!r} escapes {self.root}")
            return None
        return full

    def rel(self, path: str) -> str:
        """``path`` relative to the root with ``/`` separators."""
        r = os.path.relpath(path, self.root)
        return r.replace(os.sep, "/") if os.sep != "/" else r

    # -- files --------------------------------------------------------------

    def check_file(self, path: str, where: str) -> bool:
        """True when ``path`` is a usable image file; else counts a skip."""
        problem = self.file_problem(path)
        if problem:
            self.skip(problem[0], f"{where}: {path}: {problem[1]}")
            return False
        return True

    def file_problem(self, path: str) -> tuple[str, str] | None:
        """``(reason, detail)`` when ``path`` is not a usable image, else None."""
        if not self.check_files:
            return None
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return "missing_file", "does not exist"
        except OSError as e:
            return "unreadable_file", str(e)
        if not _is_regular(st):
            return "not_a_file", "not a regular file"
        if st.st_size == 0:
            return "empty_file", "zero bytes"
        if not os.access(path, os.R_OK):
            return "unreadable_file", "not readable"
        if self.verify_images:
            err = verify_image(path, full=self.verify_images == "decode")
            if err:
                return "bad_image", err
        return None

    # -- text ---------------------------------------------------------------

    def decode(self, data: bytes, where: str) -> str:
        """UTF-8 text of ``data``; bad bytes become U+FFFD and are counted."""
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            self.warn("non_utf8", where)
            return data.decode("utf-8", errors="replace")

    def read_bytes(self, path: str, what: str = "file") -> bytes:
        """Bytes of a required file; ``ValueError`` naming it when unreadable."""
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError as e:
            raise ValueError(f"cannot read {what} {path}: {e}") from e

    def read_text(self, path: str, what: str = "file") -> str:
        """Whole text of a required file, decoded per line with counting."""
        data = self.read_bytes(path, what)
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        lines = data.split(b"\n")
        return "\n".join(
            self.decode(line, f"{path}:{i}") for i, line in enumerate(lines, 1)
        )

    def read_lines(self, path: str, what: str = "file") -> Iterator[tuple[int, str]]:
        """``(line_number, line)`` pairs of a required text file, blank ones left out.

        Lines are stripped of surrounding whitespace (including ``\\r``).
        """
        text = self.read_text(path, what)
        for i, line in enumerate(text.split("\n"), 1):
            line = line.strip()
            if line:
                yield i, line

    def load_json(self, path: str, where: str) -> Any:
        """Parsed JSON of an optional side file, or ``None`` (counted) when bad.

        A missing file returns ``None`` with no count: the caller decides.
        """
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        except OSError as e:
            self.warn("bad_json", f"{where}: {path}: {e}")
            return None
        try:
            return json.loads(self.decode(data, f"{where}: {path}"))
        except ValueError as e:
            self.warn("bad_json", f"{where}: {path}: {e}")
            return None

    def finish(self, rows: list[dict[str, Any]]):
        """Sets ``rows_kept`` and returns the Manifest of ``rows``."""
        from mmvision.data.manifest import make_manifest

        self.report.rows_kept = len(rows)
        return make_manifest(rows)


def _is_regular(st: os.stat_result) -> bool:
    import stat

    return stat.S_ISREG(st.st_mode)


def verify_image(path: str, full: bool = False) -> str:
    """Empty string when PIL can open (and, if ``full``, decode) ``path``.

    Otherwise the error text. Image decoding proper is the pipeline's job; this
    is an optional early check.
    """
    try:
        from PIL import Image
    except ImportError as e:  # pragma: no cover - pillow is a dependency
        raise ValueError("verify_images needs Pillow: pip install pillow") from e
    try:
        with Image.open(path) as im:
            if full:
                im.load()
            else:
                im.verify()
    except Exception as e:  # noqa: BLE001 - PIL raises many types
        return f"{type(e).__name__}: {e}"
    return ""


def make_id(rel_path: str, id_style: str) -> str:
    """Row id from a root-relative path: ``"path"`` drops the extension, ``"stem"``
    keeps only the file name without extension."""
    if id_style == "stem":
        return os.path.splitext(os.path.basename(rel_path))[0]
    return os.path.splitext(rel_path)[0]


def check_id_style(id_style: str) -> None:
    if id_style not in ID_STYLES:
        raise ValueError(f"id_style={id_style!r}; valid values: {ID_STYLES}")


def check_split(split: str, valid: Iterable[str], reader: str) -> None:
    valid = tuple(valid)
    if split not in valid:
        raise ValueError(f"{reader}: split={split!r}; valid values: {valid}")


def is_missing(value: Any) -> bool:
    """True for ``None``, NaN, empty strings and empty lists."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple)):
        return len(value) == 0
    try:
        import numpy as np

        if isinstance(value, np.ndarray):
            return value.size == 0
    except ImportError:  # pragma: no cover
        pass
    return False


def as_text(value: Any) -> str:
    """A text field as a string ('' when missing); lists are joined by spaces."""
    if is_missing(value):
        return ""
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value if not is_missing(v))
    return str(value).strip()


def as_list(value: Any) -> list[str]:
    """Tags or captions as a list of strings.

    Accepts a list (or numpy array), a JSON list string (``'["a", "b"]'``), or
    a plain string (one item). Missing values give ``[]``.
    """
    if is_missing(value):
        return []
    if isinstance(value, str):
        s = value.strip()
        if s.startswith("["):
            try:
                parsed = json.loads(s)
            except ValueError:
                parsed = None
            if isinstance(parsed, list):
                return [str(v).strip() for v in parsed if not is_missing(v)]
        return [s]
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if not is_missing(v)]
    return [str(value)]


def as_tags(value: Any) -> list[str]:
    """Tags as a list: a list, a JSON list string, or a whitespace-separated string."""
    if isinstance(value, str) and not value.strip().startswith("["):
        return value.split()
    return as_list(value)


def first_name(synonyms: str) -> str:
    """``"goldfish, Carassius auratus"`` -> ``"goldfish"``."""
    return synonyms.split(",")[0].strip()


def list_images(
    directory: str, extensions: Iterable[str], recursive: bool = True
) -> tuple[list[str], list[str]]:
    """Sorted image paths under ``directory`` and other (non-hidden) files.

    Symlinks (also dangling ones) are listed as files; directories are not
    followed through symlinks. Matching is by lower-case extension.
    """
    exts = tuple(e.lower() for e in extensions)
    images: list[str] = []
    others: list[str] = []
    stack = [directory]
    while stack:
        d = stack.pop()
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for e in entries:
            if e.name.startswith("."):
                continue
            if e.is_dir(follow_symlinks=False):
                if recursive:
                    stack.append(e.path)
            elif e.name.lower().endswith(exts):
                images.append(e.path)
            else:
                others.append(e.path)
    images.sort()
    others.sort()
    return images, others
