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
from mmvision.data.sources.ids import unique_ids

SPLITS = ("train", "val", "test", "all")


def tiny_imagenet(
    root: str | os.PathLike,
    split: str = "train",
    strict: bool = False,
    allow_outside_root: bool = False,
    check_files: bool = True,
    verify_images: bool | str = False,
) -> ReadResult:
    """Reads the tiny-imagenet-200 layout into a Manifest.

    Classes are the lines of ``wnids.txt`` (label = line index); class names
    are the first synonym in ``words.txt`` (which covers far more synsets: only
    the listed wnids are kept; a wnid without a name keeps the wnid, counted
    as ``missing_class_name``). Train images are ``train/<wnid>/images/*``;
    a train folder whose wnid is not listed has its images counted as
    ``unknown_label``. Val labels come from ``val/val_annotations.txt``.
    Test images (``test/images/*``) are unlabelled (-1). The id is the file
    name without extension (``n01443537_0``, ``val_0``, ``test_0``); images
    of the call whose names differ only in extension keep it (``x.JPEG``,
    ``x.png``; see ``mmvision.data.sources.ids``), and a file name repeated
    with the same extension is a ``duplicate_id`` skip.

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

    # List every image of the requested splits first: ids need all the names.
    train = _list_train(r) if split in ("train", "all") else []
    val = _val_lines(r) if split in ("val", "all") else []
    test = []
    if split in ("test", "all"):
        test = list_images(os.path.join(r.root, "test", "images"), IMAGE_EXTENSIONS)[0]
    names = [p for _, images in train for p in images]
    names += [v[2] for v in val if v[2] is not None] + test
    ids = unique_ids((r.rel(p) for p in names), "stem")

    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    _read_train(r, train, index, classes, ids, rows, seen)
    _read_val(r, val, index, classes, ids, rows, seen)
    for path in test:
        _add(r, path, -1, classes, "test", path, ids, rows, seen)
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
    ids: dict[str, str],
    rows: list[dict[str, Any]],
    seen: set[str],
) -> None:
    r.report.rows_read += 1
    row_id = ids[r.rel(path)]
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


def _list_train(r: Reader) -> list[tuple[str, list[str]]]:
    """``(wnid, image paths)`` per train folder, in name order."""
    train = os.path.join(r.root, "train")
    if not os.path.isdir(train):
        raise ValueError(f"tiny_imagenet: no train folder {train}")
    out = []
    for entry in sorted(os.scandir(train), key=lambda e: e.name):
        if not entry.is_dir() or entry.name.startswith("."):
            continue
        images = list_images(os.path.join(entry.path, "images"), IMAGE_EXTENSIONS)[0]
        out.append((entry.name, images))
    return out


def _read_train(r, train, index, classes, ids, rows, seen) -> None:
    for wnid, images in train:
        label = index.get(wnid)
        if label is None:
            for path in images:
                r.report.rows_read += 1
                r.skip("unknown_label", f"{path}: wnid {wnid} not in wnids.txt")
            continue
        for path in images:
            _add(r, path, label, classes, "train", path, ids, rows, seen)


def _val_lines(r: Reader) -> list[tuple[str, str, str | None, list[str]]]:
    """``(where, line, image path or None, fields)`` per val annotation line."""
    ann = os.path.join(r.root, "val", "val_annotations.txt")
    img_dir = os.path.join(r.root, "val", "images")
    out = []
    for lineno, line in r.read_lines(ann, "val annotations"):
        parts = line.split("\t")
        if len(parts) < 2:
            parts = line.split()
        path = None
        if len(parts) >= 2:
            path = os.path.normpath(os.path.join(img_dir, parts[0].strip()))
        out.append((f"{ann}:{lineno}", line, path, parts))
    return out


def _read_val(r, val, index, classes, ids, rows, seen) -> None:
    img_dir = os.path.join(r.root, "val", "images")
    for where, line, _, parts in val:
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
        _add(r, path, label, classes, "val", where, ids, rows, seen)
