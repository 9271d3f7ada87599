"""The Manifest: one schema that crosses every boundary.

A Manifest is a ``pandas.DataFrame`` with one row per image and the columns in
``COLUMNS``. Readers (``mmvision.data.sources``) return one together with a
``ReadReport`` of what they skipped and why; pipelines
(``mmvision.data.pipelines``) turn one into a ``tf.data.Dataset`` of feature
dicts whose keys are the same names.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
from typing import Any, NamedTuple

import pandas as pd

#: Manifest columns and their meaning.
COLUMNS: dict[str, str] = {
    "id": "unique string id of the image within the dataset",
    "image_path": "absolute path of the image file",
    "label": "integer class index (-1 when unlabelled)",
    "label_name": "human-readable class name ('' when unlabelled)",
    "title": "web title ('' when missing)",
    "description": "web description ('' when missing)",
    "tags": "list of tag strings (empty when missing)",
    "captions": "list of reference captions (empty when none)",
    "split": "'train', 'val', 'test' or '' when the source has no split",
}

TEXT_FIELDS = ("title", "description", "tags")
LIST_COLUMNS = ("tags", "captions")


@dataclasses.dataclass
class ReadReport:
    """What a reader read, kept and skipped (skip-and-count, never skip-and-hide).

    Attributes:
        source: the reader and root, e.g. ``"flickr8k:/data/Flickr8k"``.
        rows_read: candidate rows seen (lines, table rows, files).
        rows_kept: rows in the returned Manifest.
        skipped: ``{reason: count}`` of rows dropped.
        examples: ``{reason: [first few "file:line: detail" strings]}``.
        missing: ``{field: count}`` of kept rows whose text field was missing
            (counted, kept with an empty value). Keys may be "source/field".
        warnings: ``{kind: count}`` for kept rows that needed repair (e.g.
            non-UTF-8 text decoded with replacement).
    """

    source: str = ""
    rows_read: int = 0
    rows_kept: int = 0
    skipped: collections.Counter = dataclasses.field(
        default_factory=collections.Counter
    )
    examples: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    missing: collections.Counter = dataclasses.field(
        default_factory=collections.Counter
    )
    warnings: collections.Counter = dataclasses.field(
        default_factory=collections.Counter
    )
    max_examples: int = 5

    def skip(self, reason: str, where: str) -> None:
        """Counts one skipped row and keeps the first few places as examples."""
        self.skipped[reason] += 1
        ex = self.examples.setdefault(reason, [])
        if len(ex) < self.max_examples:
            ex.append(where)

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "skipped": dict(self.skipped),
            "examples": self.examples,
            "missing": dict(self.missing),
            "warnings": dict(self.warnings),
        }

    def __str__(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


class ReadResult(NamedTuple):
    """What every reader returns: ``manifest, report, classes = reader(...)``."""

    manifest: pd.DataFrame
    report: ReadReport
    classes: list[str]


def make_manifest(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Builds a Manifest from row dicts, filling absent columns with defaults."""
    defaults: dict[str, Any] = {
        "id": "",
        "image_path": "",
        "label": -1,
        "label_name": "",
        "title": "",
        "description": "",
        "split": "",
    }
    out = []
    for r in rows:
        row = {k: r.get(k, v) for k, v in defaults.items()}
        for col in LIST_COLUMNS:
            row[col] = list(r.get(col) or [])
        out.append(row)
    df = pd.DataFrame(out, columns=list(COLUMNS))
    df["label"] = df["label"].astype("int64")
    return df


def validate_manifest(df: pd.DataFrame) -> None:
    """Raises ``ValueError`` naming what is wrong if ``df`` is not a Manifest."""
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(
            f"not a Manifest: missing columns {missing}; expected {list(COLUMNS)}"
        )
    dup = df["id"][df["id"].duplicated()]
    if len(dup):
        raise ValueError(f"Manifest has duplicate ids, e.g. {list(dup[:5])}")


def read_manifest(source: pd.DataFrame | str | os.PathLike) -> pd.DataFrame:
    """A validated Manifest from a DataFrame, a ``.parquet`` or a ``.jsonl`` file.

    Raises:
        ValueError: the file is missing, of another kind, or not a Manifest
            (the message names the file).
    """
    if isinstance(source, pd.DataFrame):
        df = source
    else:
        path = str(source)
        if not os.path.exists(path):
            raise ValueError(f"manifest file not found: {path}")
        if path.endswith(".parquet"):
            df = pd.read_parquet(path)
        elif path.endswith((".jsonl", ".json")):
            df = pd.read_json(path, lines=path.endswith(".jsonl"), dtype=False)
        else:
            raise ValueError(f"{path}: manifest must be .parquet or .jsonl")
        for col in LIST_COLUMNS:
            if col in df.columns:
                df[col] = df[col].map(lambda v: [] if v is None else list(v))
        try:
            validate_manifest(df)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
    validate_manifest(df)
    return df.reset_index(drop=True)


def write_manifest(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Writes a Manifest as ``.parquet`` or ``.jsonl``, atomically."""
    from mmvision.utils import atomic_path

    validate_manifest(df)
    path = str(path)
    if not path.endswith((".parquet", ".jsonl")):
        raise ValueError(f"{path}: a manifest file must end in .parquet or .jsonl")
    with atomic_path(path, suffix=os.path.splitext(path)[1]) as tmp:
        if path.endswith(".parquet"):
            df.to_parquet(tmp, index=False)
        else:
            df.to_json(tmp, orient="records", lines=True, force_ascii=False)
