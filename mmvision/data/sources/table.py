"""CSV / TSV / JSONL / JSON / Parquet tables with a column mapping -> Manifest."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from mmvision.data.manifest import ReadResult
from mmvision.data.sources._common import (
    Reader,
    as_list,
    as_tags,
    as_text,
    check_id_style,
    is_missing,
)
from mmvision.data.sources.ids import unique_ids

#: Manifest fields a table column can be mapped to.
FIELDS = (
    "image",
    "id",
    "label",
    "label_name",
    "title",
    "description",
    "tags",
    "captions",
    "split",
)
#: Table formats and the file endings that select them.
FORMATS = {
    "csv": (".csv",),
    "tsv": (".tsv", ".tab"),
    "jsonl": (".jsonl", ".ndjson"),
    "json": (".json",),
    "parquet": (".parquet", ".pq"),
}
#: Longest CSV / TSV cell read (the csv module's default is 128 KiB); text is
#: loaded intact and capped at tokenisation time.
CSV_FIELD_LIMIT = min(sys.maxsize, 2**31 - 1)


def table(
    path: str | os.PathLike,
    columns: Mapping[str, str] | None = None,
    root: str | os.PathLike | None = None,
    classes: Sequence[str] | None = None,
    format: str | None = None,
    split: str = "",
    id_style: str = "path",
    strict: bool = False,
    allow_outside_root: bool = False,
    check_files: bool = True,
    verify_images: bool | str = False,
) -> ReadResult:
    """Reads a table of images (one row per image or per caption) into a Manifest.

    ``columns`` maps Manifest fields to the table's column names, e.g.
    ``{"image": "path", "label": "class", "title": "name",
    "description": "text", "captions": "caption"}``. Without it, columns
    named like the fields (``image`` or ``image_path``, ``label``, ...) are
    used. A mapped column absent from the whole table raises ``ValueError``
    naming the file and the columns it has.

    Rows: relative image paths resolve against ``root`` (default: the table's
    folder) and may not escape it unless ``allow_outside_root``. Several
    captions per image come either as repeated rows of the same image
    (grouped, in order) or as a JSON list string / list in one cell; without
    a ``captions`` mapping a repeated image is a ``duplicate_id`` skip, and a
    repeated image whose label differs is a ``conflicting_duplicate`` skip.
    Labels may be class names or integers: with ``classes`` given, names must
    be in it and integers in ``0..len(classes)-1``; otherwise integer labels
    keep their value (class names from a ``label_name`` column, else
    ``"0"``, ``"1"``, ...) and name labels are numbered in sorted order.
    Other labels are ``unknown_label`` skips; a missing label gives -1
    (counted in ``report.missing["label"]``). Missing or NaN text becomes
    ``''`` (counted per field). Tags: a list, JSON list string, or a
    whitespace-separated string. Non-UTF-8 bytes are decoded with
    replacement (``report.warnings["non_utf8"]``); unparsable lines (CSV rows
    with the wrong number of fields, bad JSONL lines) are
    ``malformed_line`` skips. Cells of any length load intact; a CSV / TSV
    file the csv module cannot parse at all (e.g. a line break inside an
    unquoted cell) raises ``ValueError`` naming the file and line.

    Args:
        path: the table file.
        columns: ``{field: column}``; fields from ``FIELDS``, ``image`` required.
        root: base folder of relative image paths (default: the table's folder).
        classes: class names in label order (default: from the data).
        format: one of ``FORMATS`` (default: from the file ending).
        split: ``split`` column value when no ``split`` column is mapped.
        id_style: ids when no ``id`` column is mapped: ``"path"`` (image path
            relative to ``root`` without extension) or ``"stem"``. Images
            whose ids would differ only in extension keep it (``imgs/a.jpg``
            and ``imgs/a.png`` get ids ``"imgs/a.jpg"`` and ``"imgs/a.png"``;
            see ``mmvision.data.sources.ids``); rows of one image share its id.
        strict, allow_outside_root, check_files, verify_images: as for every
            reader (see ``mmvision.data.sources``).

    Returns:
        ``ReadResult(manifest, report, classes)``.

    Example:
        >>> cols = {"image": "path", "label": "class"}
        >>> m, report, classes = table("labels.csv", cols)
    """
    check_id_style(id_style)
    path = os.path.abspath(os.fspath(path))
    fmt = _format(path, format)
    base = (
        os.path.abspath(os.fspath(root)) if root is not None else os.path.dirname(path)
    )
    r = Reader("table", base, strict, allow_outside_root, check_files, verify_images)
    r.report.source = f"table:{path}"
    if not os.path.isfile(path):
        raise ValueError(f"table: {path} does not exist")

    records = list(_records(r, path, fmt))
    present: set[str] = set()
    for _, rec, _ in records:
        if rec is not None:
            present.update(rec.keys())
    mapping = _mapping(columns, present, path)
    ids = unique_ids(_id_paths(r, records, mapping, base), id_style)

    # Pass 1: group rows by id, resolve paths, collect raw labels.
    groups: dict[str, dict[str, Any]] = {}
    for where, rec, err in records:
        r.report.rows_read += 1
        if rec is None:
            r.skip("malformed_line", f"{where}: {err}")
            continue
        image = rec.get(mapping["image"])
        if is_missing(image):
            r.skip("missing_image", f"{where}: no value in column {mapping['image']!r}")
            continue
        image = str(image).strip()
        full = r.resolve(image, where, base=base)
        if full is None:
            continue
        if "id" in mapping and not is_missing(rec.get(mapping["id"])):
            row_id = str(rec[mapping["id"]]).strip()
        else:
            row_id = ids[r.rel(full)]
        label = _raw_label(rec.get(mapping["label"])) if "label" in mapping else None
        caps = as_list(rec.get(mapping["captions"])) if "captions" in mapping else []
        if row_id in groups:
            g = groups[row_id]
            if g["bad"]:
                r.skip(g["bad"], f"{where}: {full}: same bad image as {g['where']}")
            elif "captions" not in mapping:
                r.skip("duplicate_id", f"{where}: id {row_id!r} seen at {g['where']}")
            elif label != g["raw_label"] or full != g["image_path"]:
                r.skip(
                    "conflicting_duplicate",
                    f"{where}: id {row_id!r} differs from {g['where']}",
                )
            else:
                g["captions"].extend(caps)
            continue
        problem = r.file_problem(full)
        if problem:
            r.skip(problem[0], f"{where}: {full}: {problem[1]}")
            groups[row_id] = {"bad": problem[0], "where": where}
            continue
        groups[row_id] = {
            "bad": "",
            "where": where,
            "id": row_id,
            "image_path": full,
            "raw_label": label,
            "label_name_col": as_text(rec.get(mapping["label_name"]))
            if "label_name" in mapping
            else "",
            "title": _text(r, rec, mapping, "title"),
            "description": _text(r, rec, mapping, "description"),
            "tags": as_tags(rec.get(mapping["tags"])) if "tags" in mapping else [],
            "captions": caps,
            "split": as_text(rec.get(mapping["split"]))
            if "split" in mapping
            else split,
        }
        if "tags" in mapping and not groups[row_id]["tags"]:
            r.missing("tags")
    kept = [g for g in groups.values() if not g["bad"]]

    # Pass 2: labels.
    class_list, by_name = _classes(classes, kept)
    index = {c: i for i, c in enumerate(class_list)}
    rows = []
    for g in kept:
        lab = g.pop("raw_label")
        name_col = g.pop("label_name_col")
        if lab is None:
            if "label" in mapping:
                r.missing("label")
            g["label"], g["label_name"] = -1, ""
        else:
            if by_name:
                idx = index.get(str(lab))
            else:
                idx = lab if isinstance(lab, int) else index.get(lab)
            if idx is None or not 0 <= idx < len(class_list):
                r.skip("unknown_label", f"{g['where']}: label {lab!r} not in classes")
                continue
            g["label"] = idx
            g["label_name"] = name_col or class_list[idx]
        if "captions" in mapping and not g["captions"]:
            r.missing("captions")
        rows.append(g)
    return ReadResult(r.finish(rows), r.report, class_list)


def _format(path: str, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in FORMATS:
            raise ValueError(f"table: format={fmt!r}; valid values: {list(FORMATS)}")
        return fmt
    low = path.lower()
    for name, endings in FORMATS.items():
        if low.endswith(endings):
            return name
    raise ValueError(
        f"table: cannot tell the format of {path} from its ending; pass format= "
        f"one of {list(FORMATS)}"
    )


def _mapping(
    columns: Mapping[str, str] | None, present: set[str], path: str
) -> dict[str, str]:
    if columns is None:
        mapping = {f: f for f in FIELDS if f in present}
        if "image" not in mapping and "image_path" in present:
            mapping["image"] = "image_path"
    else:
        bad = [k for k in columns if k not in FIELDS]
        if bad:
            raise ValueError(f"table: unknown fields {bad} in columns; valid: {FIELDS}")
        mapping = dict(columns)
    if "image" not in mapping:
        raise ValueError(
            f"table: {path}: no image column; map one with columns={{'image': ...}} "
            f"(columns present: {sorted(present)})"
        )
    absent = {f: c for f, c in mapping.items() if c not in present}
    if absent:
        raise ValueError(
            f"table: {path}: mapped columns {absent} not in the table "
            f"(columns present: {sorted(present)})"
        )
    return mapping


def _id_paths(
    r: Reader, records: list, mapping: dict[str, str], base: str
) -> Iterator[str]:
    """Root-relative image paths of the rows whose id comes from the path."""
    for _, rec, _ in records:
        if rec is None or is_missing(rec.get(mapping["image"])):
            continue
        if "id" in mapping and not is_missing(rec.get(mapping["id"])):
            continue
        image = str(rec[mapping["image"]]).strip()
        yield r.rel(os.path.normpath(os.path.join(base, image)))


def csv_rows(
    text: str, path: str, delimiter: str = ",", reader: str = "table"
) -> list[tuple[int, list[str]]]:
    """``(line_number, fields)`` per CSV row of ``text`` (the file ``path``).

    Cells may be up to ``CSV_FIELD_LIMIT`` characters long (the process-wide
    csv limit is raised for the parse and restored). A line the csv module
    cannot parse raises ``ValueError`` naming ``path`` and the line.
    """
    old = csv.field_size_limit(CSV_FIELD_LIMIT)
    try:
        rows = csv.reader(io.StringIO(text), delimiter=delimiter)
        out = []
        try:
            for fields in rows:
                out.append((rows.line_num, fields))
        except csv.Error as e:
            raise ValueError(
                f"{reader}: {path}:{rows.line_num}: cannot parse the CSV: {e}"
            ) from e
        return out
    finally:
        csv.field_size_limit(old)


def _records(
    r: Reader, path: str, fmt: str
) -> Iterator[tuple[str, dict[str, Any] | None, str]]:
    """``(where, record, "")`` per row, or ``(where, None, error)`` when malformed."""
    if fmt in ("csv", "tsv"):
        text = r.read_text(path, "table")
        rows = csv_rows(text, path, "," if fmt == "csv" else "\t")
        if not rows:
            return
        header = [h.strip() for h in rows[0][1]]
        for line_num, fields in rows[1:]:
            where = f"{path}:{line_num}"
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue
            if len(fields) != len(header):
                yield where, None, f"{len(fields)} fields, header has {len(header)}"
                continue
            rec = {h: (v if v != "" else None) for h, v in zip(header, fields)}
            yield where, rec, ""
    elif fmt == "jsonl":
        for lineno, line in r.read_lines(path, "table"):
            where = f"{path}:{lineno}"
            try:
                rec = json.loads(line)
            except ValueError as e:
                rec, err = None, str(e)
            else:
                err = "not a JSON object"
            yield (where, rec, "") if isinstance(rec, dict) else (where, None, err)
    elif fmt == "json":
        try:
            data = json.loads(r.read_text(path, "table"))
        except ValueError as e:
            raise ValueError(f"table: {path} is not valid JSON: {e}") from e
        if not isinstance(data, list):
            raise ValueError(f"table: {path} must hold a JSON list of objects")
        for i, rec in enumerate(data):
            where = f"{path}:[{i}]"
            if not isinstance(rec, dict):
                yield where, None, "not a JSON object"
            else:
                yield where, rec, ""
    else:
        import pandas as pd

        try:
            df = pd.read_parquet(path)
        except Exception as e:  # noqa: BLE001 - pyarrow raises many types
            raise ValueError(f"table: cannot read Parquet file {path}: {e}") from e
        for i, rec in enumerate(df.to_dict("records")):
            yield f"{path}:row {i}", rec, ""


def _text(r: Reader, rec: dict, mapping: dict, field: str) -> str:
    if field not in mapping:
        return ""
    value = as_text(rec.get(mapping[field]))
    if not value:
        r.missing(field)
    return value


def _raw_label(value: Any) -> int | str | None:
    """An int for integer-like values, a name for other strings, None if missing."""
    if is_missing(value):
        return None
    if isinstance(value, bool):
        return int(value)
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else str(value)
    s = str(value).strip()
    if s.lstrip("-").isdigit():
        return int(s)
    return s


def _classes(
    classes: Sequence[str] | None, kept: list[dict[str, Any]]
) -> tuple[list[str], bool]:
    """Class names in label order, and whether labels are looked up by name."""
    if classes is not None:
        return list(classes), False
    labels = [g["raw_label"] for g in kept if g["raw_label"] is not None]
    ints = [x for x in labels if isinstance(x, int)]
    if labels and len(ints) == len(labels):
        n = max(max(ints) + 1, 0)
        names = [str(i) for i in range(n)]
        for g in kept:
            lab = g["raw_label"]
            if isinstance(lab, int) and 0 <= lab < n and g["label_name_col"]:
                names[lab] = g["label_name_col"]
        return names, False
    return sorted({str(x) for x in labels}), True
