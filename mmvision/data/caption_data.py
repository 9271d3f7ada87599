"""Captioned images for the caption tasks: the Flickr8k layout read into a
Manifest, its split rows, and checks that name the caption file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mmvision.data import text as text_lib
from mmvision.data.vocabulary import Vocabulary


def flickr_root(data_dir: str | os.PathLike) -> Path:
    """A Flickr8k root, or the ``flickr8k/`` of a demo world."""
    root = Path(data_dir)
    return root / "flickr8k" if (root / "flickr8k").is_dir() else root


def caption_file(data_dir: str | os.PathLike) -> Path:
    """The caption file the Flickr8k reader uses under ``data_dir``."""
    import importlib

    fl = importlib.import_module("mmvision.data.sources.flickr8k")
    root = flickr_root(data_dir)
    for name in fl.CAPTION_FILES:
        if (root / name).exists():
            return root / name
    raise ValueError(
        f"no caption file under {root}; looked for {list(fl.CAPTION_FILES)}"
    )


def read_caption_manifest(data_dir: str | os.PathLike) -> tuple[Any, Path, Any]:
    """``(manifest, caption_file, report)`` of the Flickr8k layout in ``data_dir``."""
    from mmvision.data.sources import flickr8k

    if not Path(data_dir).exists():
        raise FileNotFoundError(f"data directory {data_dir} does not exist")
    manifest, report, _ = flickr8k(flickr_root(data_dir), split="all")
    return manifest, caption_file(data_dir), report


def split_rows(manifest: Any, split: str, cap_file: Path) -> Any:
    """The rows of ``split``; none is an error naming the caption file."""
    rows = manifest[manifest["split"] == split].reset_index(drop=True)
    if rows.empty:
        raise ValueError(
            f"{cap_file}: no images of the {split!r} split (check the split "
            "lists beside the caption file)"
        )
    return rows


def check_captions(manifest: Any, vocab: Vocabulary, cap_file: Path, split: str) -> int:
    """Counts captions with at least one known word; 0 is an error naming the file."""
    n_total = n_known = 0
    for caps in manifest["captions"]:
        for c in caps:
            n_total += 1
            if any(i > text_lib.END_ID for i in vocab.encode(c, add_special=False)):
                n_known += 1
    if n_total == 0:
        raise ValueError(f"{cap_file}: the {split!r} split has no captions")
    if n_known == 0:
        raise ValueError(
            f"{cap_file}: all {n_total} captions of the {split!r} split are empty "
            "or hold only words unknown to the vocabulary"
        )
    return n_known


def build_vocabulary(
    train_rows: Any, cap_file: Path, min_count: int = 1, max_size: int | None = None
) -> Vocabulary:
    """The caption vocabulary of the training rows (what both caption tasks use)."""
    return Vocabulary.build(
        train_rows["captions"], min_count=min_count, max_size=max_size,
        source=str(cap_file),
    )  # fmt: skip
