"""Triplet list reader (deep-ranking reference): ``query positive negative`` lines."""

from __future__ import annotations

import os
from typing import NamedTuple

import pandas as pd

from mmvision.data.manifest import ReadReport
from mmvision.data.sources._common import Reader

#: Columns of the returned triplet table.
TRIPLET_COLUMNS = ("anchor", "positive", "negative")


class TripletsResult(NamedTuple):
    """What ``triplets`` returns: ``table, report = triplets(path)``.

    ``table`` is NOT a Manifest: it has one row per triplet and the columns
    ``anchor``, ``positive``, ``negative`` (absolute image paths).
    """

    table: pd.DataFrame
    report: ReadReport


def triplets(
    path: str | os.PathLike,
    root: str | os.PathLike | None = None,
    strict: bool = False,
    allow_outside_root: bool = False,
    check_files: bool = True,
    verify_images: bool | str = False,
) -> TripletsResult:
    """Reads a triplet list: one ``query_path positive_path negative_path`` per line.

    Fields are separated by whitespace (tabs or spaces), so paths with spaces
    are not supported in this format. Relative paths resolve against the
    file's folder; no path may escape ``root`` (default: the file's folder)
    unless ``allow_outside_root``. A line without exactly three fields is a
    ``malformed_line`` skip; a line naming a missing / empty / unreadable
    image is skipped with that reason (each file is checked once). ``#``
    starts a comment line.

    Args:
        path: the triplet list file.
        root: folder no path may escape (default: the file's folder).
        strict, allow_outside_root, check_files, verify_images: as for every
            reader (see ``mmvision.data.sources``).

    Returns:
        ``TripletsResult(table, report)``; ``table`` has columns
        ``TRIPLET_COLUMNS`` (not a Manifest).

    Example:
        >>> table, report = triplets("/data/demo/triplets.txt")
        >>> table.anchor[0]
    """
    path = os.path.abspath(os.fspath(path))
    base = os.path.dirname(path)
    r = Reader(
        "triplets",
        root if root is not None else base,
        strict,
        allow_outside_root,
        check_files,
        verify_images,
    )
    r.report.source = f"triplets:{path}"
    checked: dict[str, tuple[str, str] | None] = {}
    out: list[tuple[str, str, str]] = []
    for lineno, line in r.read_lines(path, "triplet list"):
        if line.startswith("#"):
            continue
        where = f"{path}:{lineno}"
        r.report.rows_read += 1
        parts = line.split()
        if len(parts) != 3:
            r.skip("malformed_line", f"{where}: {len(parts)} fields, expected 3")
            continue
        full = []
        for p in parts:
            f = r.resolve(p, where, base=base)
            if f is None:
                break
            if f not in checked:
                checked[f] = r.file_problem(f)
            if checked[f]:
                reason, detail = checked[f]
                r.skip(reason, f"{where}: {f}: {detail}")
                break
            full.append(f)
        if len(full) == 3:
            out.append((full[0], full[1], full[2]))
    r.report.rows_kept = len(out)
    return TripletsResult(pd.DataFrame(out, columns=list(TRIPLET_COLUMNS)), r.report)
