"""Splits given by a list file: which image is train, val or test.

Real datasets often ship their split as a list (Flickr8k's
``Flickr_8k.trainImages.txt``, CUB's ``train_test_split.txt``); the demo
world's ``ground_truth.jsonl`` holds its canonical split. Such a list lets a
model train on exactly the images another task (e.g. retrieval, whose
queries are the canonical test images) never saw.

Formats (by suffix):

- ``.jsonl``: one object a line with ``"id"`` and ``"split"``;
- anything else: ``<id> <split>`` a line (whitespace or a comma between),
  ``#`` comments and blank lines ignored, an optional ``id,split`` header.

A Manifest row matches a listed id by its ``id``, then by the last path
component of its ``id`` (``blue_circle/s0000055`` matches ``s0000055``),
then by its image file's stem. Rows that match nothing are dropped and
counted; a malformed line or an unknown split name is an error naming the
file and line.

Example:
    >>> manifest, counts = apply_split_list(manifest, "world/ground_truth.jsonl")
    >>> counts
    {'listed': 6000, 'matched': 6000, 'not_in_split_list': 0}
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

SPLIT_NAMES = ("train", "val", "test")


def read_split_list(path: str | os.PathLike) -> dict[str, str]:
    """``{id: split}`` of the list at ``path`` (formats: module docstring).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: a malformed line, an unknown split or an id listed twice
            with different splits (``path:line`` in the message).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"split list {path} does not exist")
    out: dict[str, str] = {}
    jsonl = path.suffix == ".jsonl"
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = line.strip()
        if not text or (not jsonl and text.startswith("#")):
            continue
        where = f"{path}:{n}"
        if jsonl:
            try:
                row = json.loads(text)
                key, split = str(row["id"]), str(row["split"])
            except (ValueError, KeyError, TypeError) as err:
                raise ValueError(
                    f"{where}: expected a JSON object with 'id' and 'split' ({err})"
                ) from None
        else:
            parts = text.replace(",", " ").split()
            if len(parts) != 2:
                raise ValueError(
                    f"{where}: expected '<id> <split>', got {len(parts)} fields"
                )
            key, split = parts
            if n == 1 and (key, split) == ("id", "split"):
                continue
        if split not in SPLIT_NAMES:
            raise ValueError(
                f"{where}: unknown split {split!r}; valid: {list(SPLIT_NAMES)}"
            )
        if out.get(key, split) != split:
            raise ValueError(f"{where}: {key!r} listed as {out[key]!r} before")
        out[key] = split
    return out


def apply_split_list(
    manifest: pd.DataFrame, path: str | os.PathLike
) -> tuple[pd.DataFrame, dict[str, int]]:
    """``manifest`` with its ``split`` column from the list at ``path`` and
    the rows the list does not name dropped; returns it and the counts
    ``{"listed", "matched", "not_in_split_list"}``."""
    listed = read_split_list(path)

    def lookup(row) -> str | None:
        rid = str(row["id"])
        for key in (rid, rid.rsplit("/", 1)[-1], Path(str(row["image_path"])).stem):
            if key in listed:
                return listed[key]
        return None

    splits = manifest.apply(lookup, axis=1) if len(manifest) else pd.Series([])
    keep = splits.notna().to_numpy()
    out = manifest[keep].copy()
    out["split"] = splits[keep].astype(str).to_numpy()
    counts = {
        "listed": len(listed),
        "matched": int(keep.sum()),
        "not_in_split_list": int((~keep).sum()),
    }
    return out.reset_index(drop=True), counts
