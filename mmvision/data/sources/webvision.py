"""WebVision 1.0 reader: file lists + per-query metadata JSON -> Manifest."""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from mmvision.data.manifest import ReadResult
from mmvision.data.sources._common import (
    Reader,
    as_tags,
    as_text,
    check_id_style,
    check_split,
    first_name,
    is_missing,
)
from mmvision.data.sources.ids import unique_ids

SOURCES = ("google", "flickr")
#: Text fields counted as missing per source (Google results carry no tags).
SOURCE_FIELDS = {
    "google": ("title", "description"),
    "flickr": ("title", "description", "tags"),
}
SPLITS = ("train", "val", "all")
VAL_IMAGE_DIRS = ("val_images", "val_images_256")
_META_CACHE = 8


def webvision(
    root: str | os.PathLike,
    sources: Sequence[str] = SOURCES,
    split: str = "train",
    id_style: str = "path",
    strict: bool = False,
    allow_outside_root: bool = False,
    check_files: bool = True,
    verify_images: bool | str = False,
) -> ReadResult:
    """Reads the WebVision 1.0 layout into a Manifest.

    Train rows come from ``info/train_filelist_<source>.txt`` with their
    metadata from ``info/train_meta_list_<source>.txt``: line ``i`` names the
    query JSON (``google/q0001.json``, found under ``meta/`` or under
    ``google_json/``-style folders) and the 1-based index of the image's
    object in it. Each query JSON is loaded once. ``title``, ``description``
    and (Flickr) ``tags`` that are absent or empty become ``''``/``[]`` and are
    counted in ``report.missing`` as ``"<source>/<field>"`` (tags only for
    Flickr). A missing or unparsable query JSON leaves its rows' text empty
    (counted as missing) and is counted in ``report.warnings``. Val rows come
    from ``info/val_filelist.txt`` (images under ``val_images/`` or
    ``val_images_256/``) and have no metadata. Class names are the first
    synonym of each ``info/synsets.txt`` line.

    Args:
        root: the WebVision folder (holding ``info/``).
        sources: any of ``"google"``, ``"flickr"``.
        split: ``"train"``, ``"val"`` or ``"all"`` (both). The ``split``
            column is ``"train"`` for file-list rows, ``"val"`` for val rows;
            ``mmvision.data.splits.webvision_split`` carves a held-out part
            out of the train lists.
        id_style: ``"path"`` (default): the listed path without extension,
            e.g. ``"google/q0001/000000"`` (file names repeat across queries in
            the real data, so stems are not unique); val ids are the listed
            name without extension (``"val000001"``); ``"stem"``: the file
            name without extension (unique in the demo world). Listed files
            whose ids would differ only in extension keep it
            (``google/q0001/000000.jpg`` and ``.png`` get ids
            ``"google/q0001/000000.jpg"`` and ``"google/q0001/000000.png"``;
            see ``mmvision.data.sources.ids``); a repeated id (the same path
            listed twice, or with ``"stem"`` the same file name under two
            queries) is a ``duplicate_id`` skip.
        strict: raise ``ValueError`` naming the file and line at the first
            skipped row.
        allow_outside_root: accept listed paths that escape ``root``.
        check_files: stat every image (existence, size > 0, readable).
        verify_images: ``False``, ``True`` (PIL verify) or ``"decode"``.

    Returns:
        ``ReadResult(manifest, report, classes)``.

    Example:
        >>> m, report, classes = webvision("/data/webvision", sources=["google"])
        >>> print(report.missing["google/description"])
    """
    check_split(split, SPLITS, "webvision")
    check_id_style(id_style)
    bad = [s for s in sources if s not in SOURCES]
    if bad or isinstance(sources, str):
        raise ValueError(f"webvision: sources={sources!r}; valid values: {SOURCES}")
    r = Reader(
        "webvision", root, strict, allow_outside_root, check_files, verify_images
    )
    classes = _read_synsets(r, os.path.join(r.root, "info", "synsets.txt"))
    info = os.path.join(r.root, "info")
    # Read every file list first: ids need all the listed names.
    train_lists = []
    if split in ("train", "all"):
        for source in sources:
            list_path = os.path.join(info, f"train_filelist_{source}.txt")
            what = f"WebVision {source} file list"
            train_lists.append((source, list_path, list(r.read_lines(list_path, what))))
    val_path = os.path.join(info, "val_filelist.txt")
    val_lines: list[tuple[int, str]] = []
    if split in ("val", "all"):
        val_lines = list(r.read_lines(val_path, "WebVision val file list"))
    listed = [line for *_, lines in train_lists for _, line in lines]
    listed += [line for _, line in val_lines]
    items = (_split_item(line) for line in listed)
    ids = unique_ids((i[0].replace("\\", "/") for i in items if i), id_style)

    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for source, list_path, lines in train_lists:
        _read_train(r, source, list_path, lines, classes, ids, rows, seen)
    if split in ("val", "all"):
        _read_val(r, val_path, val_lines, classes, ids, rows, seen)
    return ReadResult(r.finish(rows), r.report, classes)


def _read_synsets(r: Reader, path: str) -> list[str]:
    classes = []
    for _, line in r.read_lines(path, "WebVision synsets file"):
        parts = line.split(None, 1)
        classes.append(first_name(parts[1]) if len(parts) > 1 else parts[0])
    if not classes:
        raise ValueError(f"WebVision synsets file {path} lists no classes")
    return classes


def _split_item(line: str) -> tuple[str, int] | None:
    """``"rel/path.jpg 12"`` -> ``("rel/path.jpg", 12)``; ``None`` when malformed."""
    parts = line.rsplit(None, 1)
    if len(parts) != 2:
        return None
    try:
        return parts[0], int(parts[1])
    except ValueError:
        return None


def _parse_item(r: Reader, line: str, where: str) -> tuple[str, int] | None:
    """``_split_item``, counting a ``malformed_line`` skip when it fails."""
    item = _split_item(line)
    if item is None:
        r.skip("malformed_line", f"{where}: {line!r}")
    return item


def _add_row(
    r: Reader,
    rel: str,
    label: int,
    classes: list[str],
    ids: dict[str, str],
    where: str,
    seen: set[str],
    base: str,
) -> dict[str, Any] | None:
    if not 0 <= label < len(classes):
        r.skip("unknown_label", f"{where}: label {label} not in 0..{len(classes) - 1}")
        return None
    path = r.resolve(rel, where, base=base)
    if path is None:
        return None
    row_id = ids[rel.replace("\\", "/")]
    if row_id in seen:
        r.skip("duplicate_id", f"{where}: id {row_id!r} seen before")
        return None
    if not r.check_file(path, where):
        return None
    seen.add(row_id)
    return {
        "id": row_id,
        "image_path": path,
        "label": label,
        "label_name": classes[label],
    }


def _read_train(
    r: Reader,
    source: str,
    list_path: str,
    items: list[tuple[int, str]],
    classes: list[str],
    ids: dict[str, str],
    rows: list[dict[str, Any]],
    seen: set[str],
) -> None:
    meta_path = os.path.join(r.root, "info", f"train_meta_list_{source}.txt")
    if os.path.exists(meta_path):
        # Meta list line i describes file list line i (same numbering).
        meta_by_line = dict(r.read_lines(meta_path, f"WebVision {source} meta list"))
    else:
        r.warn("missing_meta_file", f"{meta_path} does not exist")
        meta_by_line = {}
    cache: OrderedDict[str, list | None] = OrderedDict()
    fields = SOURCE_FIELDS[source]
    for lineno, line in items:
        where = f"{list_path}:{lineno}"
        r.report.rows_read += 1
        item = _parse_item(r, line, where)
        if item is None:
            continue
        row = _add_row(r, item[0], item[1], classes, ids, where, seen, r.root)
        if row is None:
            continue
        meta = _lookup_meta(
            r, source, meta_by_line.get(lineno), meta_path, lineno, cache
        )
        row["split"] = "train"
        row["title"] = as_text(meta.get("title"))
        row["description"] = as_text(meta.get("description"))
        row["tags"] = as_tags(meta.get("tags"))
        for f in fields:
            if is_missing(row[f]):
                r.missing(f"{source}/{f}")
        rows.append(row)


def _lookup_meta(
    r: Reader,
    source: str,
    meta_line: str | None,
    meta_path: str,
    lineno: int,
    cache: OrderedDict[str, list | None],
) -> dict[str, Any]:
    """The metadata object of one file-list line, ``{}`` when unavailable."""
    if meta_line is None:
        return {}
    where = f"{meta_path}:{lineno}"
    parts = meta_line.rsplit(None, 1)
    try:
        json_rel, index = parts[0], int(parts[1])
    except (IndexError, ValueError):
        r.warn("malformed_meta_line", f"{where}: {meta_line!r}")
        return {}
    if json_rel in cache:
        cache.move_to_end(json_rel)
        objs = cache[json_rel]
    else:
        objs = _load_query_json(r, source, json_rel, where)
        cache[json_rel] = objs
        if len(cache) > _META_CACHE:
            cache.popitem(last=False)
    if objs is None:
        return {}
    if not 1 <= index <= len(objs) or not isinstance(objs[index - 1], dict):
        r.warn("bad_meta_index", f"{where}: index {index} not in 1..{len(objs)}")
        return {}
    return objs[index - 1]


def _meta_candidates(root: str, source: str, json_rel: str) -> list[str]:
    rel = json_rel.replace("\\", "/")
    head, _, tail = rel.partition("/")
    out = [os.path.join(root, "meta", rel)]
    if tail:
        out.append(os.path.join(root, f"{head}_json", tail))
        out.append(os.path.join(root, "meta", f"{head}_json", tail))
    else:
        out.append(os.path.join(root, "meta", source, rel))
        out.append(os.path.join(root, f"{source}_json", rel))
    out.append(os.path.join(root, rel))
    return out


def _load_query_json(r: Reader, source: str, json_rel: str, where: str) -> list | None:
    for cand in _meta_candidates(r.root, source, json_rel):
        full = os.path.normpath(cand)
        if not r.allow_outside_root and not full.startswith(r.root + os.sep):
            r.warn("meta_outside_root", f"{where}: {json_rel!r} escapes {r.root}")
            return None
        if not os.path.exists(full):
            continue
        obj = r.load_json(full, where)
        if obj is None:
            return None
        if not isinstance(obj, list):
            r.warn("bad_json", f"{where}: {full} is not a JSON list")
            return None
        return obj
    r.warn("missing_meta_file", f"{where}: {json_rel} not found under meta/")
    return None


def _read_val(
    r: Reader,
    list_path: str,
    lines: list[tuple[int, str]],
    classes: list[str],
    ids: dict[str, str],
    rows: list[dict[str, Any]],
    seen: set[str],
) -> None:
    base = next(
        (
            os.path.join(r.root, d)
            for d in VAL_IMAGE_DIRS
            if os.path.isdir(os.path.join(r.root, d))
        ),
        os.path.join(r.root, VAL_IMAGE_DIRS[0]),
    )
    for lineno, line in lines:
        where = f"{list_path}:{lineno}"
        r.report.rows_read += 1
        item = _parse_item(r, line, where)
        if item is None:
            continue
        row = _add_row(r, item[0], item[1], classes, ids, where, seen, base)
        if row is None:
            continue
        row["split"] = "val"
        rows.append(row)
