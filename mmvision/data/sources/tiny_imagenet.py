"""Tiny ImageNet (tiny-imagenet-200) reader -> Manifest."""

from __future__ import annotations

import os
from typing import Any

from mmvision.data.manifest import ReadResult
from mmvision.data.sources._common import (
    IMAGE_EXTENSIONS,
    Reader,
    check_split,
    first_name,
    list_images,
)

SPLITS = ("train", "val", "test", "all")


def tiny_imagenet(
    root: str | os.PathLike,
    split: str = "train",
    strict: bool = False,
    allow_outside_root: bool = False,
    check_files: bool = True,
    verify_images: bool | str = False,
) -> ReadResult:
    """Reads the tiny-imagenet-200 layout (FORMATS.md) into a Manifest.

    Classes are the lines of ``wnids.txt`` (label = line index); class names
    are the first synonym in ``words.txt`` (which covers far more synsets: only
    the listed wnids are kept; a wnid without a name keeps the wnid, counted
    as ``missing_class_name``). Train images are ``train/<wnid>/images/*``;
    a train folder whose wnid is not listed has its images counted as
    ``unknown_label``. Val labels come from ``val/val_annotations.txt``.
    Test images (``test/images/*``) are unlabelled (-1). The id is the file
    name without extension (``n01443537_0``, ``val_0``, ``test_0``).

    Args:
        root: the ``tiny-imagenet-200`` folder.
        split: ``"train"``, ``"val"``, ``"test"`` or ``"all"``.
        strict, allow_outside_root, check_files, verify_images: as for every
            reader (see ``mmvision.data.sources``).

    Returns:
        ``ReadResult(manifest, report, classes)``; ``classes`` are the names.

    Example:
        >>> m, report, classes = tiny_imagenet("/data/tiny-imagenet-200", "val")
    """
    check_split(split, SPLITS, "tiny_imagenet")
    r = Reader(
        "tiny_imagenet", root, strict, allow_outside_root, check_files, verify_images
    )
    wnids_path = os.path.join(r.root, "wnids.txt")
    wnids = [line.split()[0] for _, line in r.read_lines(wnids_path, "wnids file")]
    if not wnids:
        raise ValueError(f"tiny_imagenet: {wnids_path} lists no classes")
    index = {w: i for i, w in enumerate(wnids)}
    names = _read_words(r, os.path.join(r.root, "words.txt"), index)
    classes = [names.get(w) or w for w in wnids]
    for w in wnids:
        if w not in names:
            r.warn("missing_class_name", f"{r.root}/words.txt: no line for {w}")

    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    if split in ("train", "all"):
        _read_train(r, index, classes, rows, seen)
    if split in ("val", "all"):
        _read_val(r, index, classes, rows, seen)
    if split in ("test", "all"):
        for path in list_images(
            os.path.join(r.root, "test", "images"), IMAGE_EXTENSIONS
        )[0]:
            _add(r, path, -1, classes, "test", path, rows, seen)
    return ReadResult(r.finish(rows), r.report, classes)


def _read_words(r: Reader, path: str, index: dict[str, int]) -> dict[str, str]:
    if not os.path.exists(path):
        return {}
    names = {}
    for _, line in r.read_lines(path, "words file"):
        wnid, _, words = line.partition("\t")
        wnid = wnid.strip()
        if wnid in index:
            names[wnid] = first_name(words) or wnid
    return names


def _add(
    r: Reader,
    path: str,
    label: int,
    classes: list[str],
    split: str,
    where: str,
    rows: list[dict[str, Any]],
    seen: set[str],
) -> None:
    r.report.rows_read += 1
    row_id = os.path.splitext(os.path.basename(path))[0]
    if row_id in seen:
        r.skip("duplicate_id", f"{where}: id {row_id!r} seen before")
        return
    if not r.check_file(path, where):
        return
    seen.add(row_id)
    rows.append(
        {
            "id": row_id,
            "image_path": path,
            "label": label,
            "label_name": classes[label] if label >= 0 else "",
            "split": split,
        }
    )


def _read_train(r, index, classes, rows, seen) -> None:
    train = os.path.join(r.root, "train")
    if not os.path.isdir(train):
        raise ValueError(f"tiny_imagenet: no train folder {train}")
    for entry in sorted(os.scandir(train), key=lambda e: e.name):
        if not entry.is_dir() or entry.name.startswith("."):
            continue
        images = list_images(os.path.join(entry.path, "images"), IMAGE_EXTENSIONS)[0]
        label = index.get(entry.name)
        if label is None:
            for path in images:
                r.report.rows_read += 1
                r.skip("unknown_label", f"{path}: wnid {entry.name} not in wnids.txt")
            continue
        for path in images:
            _add(r, path, label, classes, "train", path, rows, seen)


def _read_val(r, index, classes, rows, seen) -> None:
    ann = os.path.join(r.root, "val", "val_annotations.txt")
    img_dir = os.path.join(r.root, "val", "images")
    for lineno, line in r.read_lines(ann, "val annotations"):
        where = f"{ann}:{lineno}"
        parts = line.split("\t")
        if len(parts) < 2:
            parts = line.split()
        if len(parts) < 2:
            r.report.rows_read += 1
            r.skip("malformed_line", f"{where}: {line[:80]!r}")
            continue
        label = index.get(parts[1].strip())
        if label is None:
            r.report.rows_read += 1
            r.skip("unknown_label", f"{where}: wnid {parts[1]!r} not in wnids.txt")
            continue
        path = r.resolve(parts[0].strip(), where, base=img_dir)
        if path is None:
            r.report.rows_read += 1
            continue
        _add(r, path, label, classes, "val", where, rows, seen)
