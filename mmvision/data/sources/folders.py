"""One-folder-per-class reader (optionally with sidecar JSON metadata)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from mmvision.data.manifest import ReadResult
from mmvision.data.sources._common import (
    IMAGE_EXTENSIONS,
    Reader,
    as_tags,
    as_text,
    check_id_style,
    is_missing,
    list_images,
)
from mmvision.data.sources.ids import unique_ids


def folders(
    root: str | os.PathLike,
    sidecar_json: bool = False,
    extensions: Sequence[str] = IMAGE_EXTENSIONS,
    classes: Sequence[str] | None = None,
    id_style: str = "path",
    split: str = "",
    strict: bool = False,
    allow_outside_root: bool = False,
    check_files: bool = True,
    verify_images: bool | str = False,
) -> ReadResult:
    """Reads ``root/<class>/**/<image>`` into a Manifest, one class per folder.

    Class names are the immediate sub-folder names, sorted (label = index),
    unless ``classes`` gives the list (and order); images of a folder not in
    ``classes`` are counted as ``unknown_label``. Images directly under
    ``root`` have no class and are counted as ``no_class``. Files whose
    extension is not in ``extensions`` are counted in
    ``report.warnings["ignored_file"]`` (sidecars excepted). Symlinked
    folders are not followed; symlinked files are, and dangling ones are
    ``missing_file`` skips.

    With ``sidecar_json=True`` (the seed study's layout) each image ``X.jpg``
    may have a JSON file ``X`` (no extension) beside it with ``title``,
    ``description`` (and optionally ``tags``); absent files or keys are
    counted per field in ``report.missing``, unparsable ones in
    ``report.warnings["bad_json"]``.

    Args:
        root: the folder holding one sub-folder per class.
        sidecar_json: read ``X`` beside ``X.jpg`` for title / description.
        extensions: image file extensions (case-insensitive).
        classes: class names in label order; default: sorted folder names.
        id_style: ``"path"``: path relative to ``root`` without extension
            (``"red_circle/s0000001"``); ``"stem"``: file name without
            extension. Images whose ids would differ only in extension keep
            it (``cat/1.jpg`` and ``cat/1.png`` get ids ``"cat/1.jpg"`` and
            ``"cat/1.png"``; see ``mmvision.data.sources.ids``); with
            ``"stem"``, the same file name in two folders is a
            ``duplicate_id`` skip.
        split: value of the ``split`` column (``""`` by default).
        strict, allow_outside_root, check_files, verify_images: as for every
            reader (see ``mmvision.data.sources``).

    Returns:
        ``ReadResult(manifest, report, classes)``.

    Example:
        >>> m, report, classes = folders("/data/seed_study", sidecar_json=True)
    """
    check_id_style(id_style)
    r = Reader("folders", root, strict, allow_outside_root, check_files, verify_images)
    if not os.path.isdir(r.root):
        raise ValueError(f"folders: {r.root} is not a directory")
    entries = sorted(
        (e for e in os.scandir(r.root) if not e.name.startswith(".")),
        key=lambda e: e.name,
    )
    dirs = [e for e in entries if e.is_dir(follow_symlinks=False)]
    exts = tuple(
        e.lower() if e.startswith(".") else "." + e.lower() for e in extensions
    )
    for e in entries:
        if e.is_dir(follow_symlinks=False):
            continue
        r.report.rows_read += 1
        if e.name.lower().endswith(exts):
            r.skip("no_class", f"{e.path}: image outside any class folder")
        else:
            r.warn("ignored_file", e.path)
    class_list = list(classes) if classes is not None else [d.name for d in dirs]
    index = {c: i for i, c in enumerate(class_list)}

    listed = [(d, *list_images(d.path, exts)) for d in dirs]
    ids = unique_ids((r.rel(p) for _, images, _ in listed for p in images), id_style)
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for d, images, others in listed:
        if sidecar_json:
            others = [o for o in others if os.path.splitext(o)[1] != ""]
        for o in others:
            r.warn("ignored_file", o)
        label = index.get(d.name)
        for path in images:
            r.report.rows_read += 1
            if label is None:
                r.skip("unknown_label", f"{path}: folder {d.name!r} not in classes")
                continue
            row_id = ids[r.rel(path)]
            if row_id in seen:
                r.skip("duplicate_id", f"{path}: id {row_id!r} seen before")
                continue
            if not r.check_file(path, path):
                continue
            seen.add(row_id)
            row = {
                "id": row_id,
                "image_path": path,
                "label": label,
                "label_name": d.name,
                "split": split,
            }
            if sidecar_json:
                meta = r.load_json(os.path.splitext(path)[0], path)
                if meta is not None and not isinstance(meta, dict):
                    r.warn("bad_json", f"{path}: sidecar is not a JSON object")
                    meta = None
                meta = meta or {}
                row["title"] = as_text(meta.get("title"))
                row["description"] = as_text(meta.get("description"))
                row["tags"] = as_tags(meta.get("tags"))
                for f in ("title", "description"):
                    if is_missing(row[f]):
                        r.missing(f)
            rows.append(row)
    return ReadResult(r.finish(rows), r.report, class_list)
