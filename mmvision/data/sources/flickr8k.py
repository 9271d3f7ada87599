"""Flickr8k / Flickr30k reader: token file (or captions.txt CSV) -> Manifest."""

from __future__ import annotations

import os
from typing import Any

from mmvision.data.manifest import ReadResult
from mmvision.data.sources._common import Reader, check_split
from mmvision.data.sources.ids import unique_ids
from mmvision.data.sources.table import csv_rows

SPLITS = ("train", "val", "test", "all")

#: Caption files looked for under root, in order (first found wins).
CAPTION_FILES = (
    "Flickr8k_text/Flickr8k.token.txt",
    "Flickr8k.token.txt",
    "results_20130124.token",
    "flickr30k/results_20130124.token",
    "Flickr30k.token.txt",
    "captions.txt",
)
#: Image folders looked for under root, in order.
IMAGE_DIRS = (
    "Flicker8k_Dataset",
    "Flickr8k_Dataset",
    "flickr30k-images",
    "Images",
    "images",
)
#: Split list files per split (Flickr8k_text/ or root).
SPLIT_FILES = {
    "train": "Flickr_8k.trainImages.txt",
    "val": "Flickr_8k.devImages.txt",
    "test": "Flickr_8k.testImages.txt",
}


def flickr8k(
    root: str | os.PathLike,
    split: str = "all",
    captions_file: str | os.PathLike | None = None,
    images_dir: str | os.PathLike | None = None,
    strict: bool = False,
    allow_outside_root: bool = False,
    check_files: bool = True,
    verify_images: bool | str = False,
) -> ReadResult:
    """Reads Flickr8k (or Flickr30k, same token format) into a Manifest.

    The token file has ``"<image>#<n><TAB><caption>"`` lines; the captions of
    one image are kept in ``#n`` order. The ``captions.txt`` CSV
    redistribution (header ``image,caption``) is read as well. Keys that name
    no image file (the real file's bogus ``2258277193_586949ec62.jpg.1``) are
    counted as ``missing_file`` skips, one per image (``rows_read`` counts
    caption lines). The split column comes
    from ``Flickr_8k.{train,dev,test}Images.txt`` (``"train"``, ``"val"``,
    ``"test"``); images in no list get ``""`` and appear only with
    ``split="all"``. Rows are unlabelled (``label`` -1). The id is the image
    file name without extension; listed images whose names differ only in
    extension keep it (``a.jpg``, ``a.png``; see ``mmvision.data.sources.ids``).

    Args:
        root: the dataset folder.
        split: ``"train"``, ``"val"`` (the dev list), ``"test"`` or ``"all"``.
        captions_file: the token / CSV file; default: the first of
            ``CAPTION_FILES`` found under ``root``.
        images_dir: the image folder; default: the first of ``IMAGE_DIRS``.
        strict, allow_outside_root, check_files, verify_images: as for every
            reader (see ``mmvision.data.sources``).

    Returns:
        ``ReadResult(manifest, report, classes=[])``.

    Example:
        >>> m, report, _ = flickr8k("/data/Flickr8k", split="train")
        >>> m.captions[0][:2]
    """
    check_split(split, SPLITS, "flickr8k")
    r = Reader("flickr8k", root, strict, allow_outside_root, check_files, verify_images)
    cap_path = _find(r.root, captions_file, CAPTION_FILES, "caption file")
    img_dir = _find(r.root, images_dir, IMAGE_DIRS, "image folder")

    split_of = _read_split_lists(r, cap_path)
    if split != "all" and not split_of:
        raise ValueError(
            f"flickr8k: split={split!r} needs the split lists "
            f"{list(SPLIT_FILES.values())} beside {cap_path}; use split='all'"
        )

    if os.path.basename(cap_path).lower().endswith((".csv", "captions.txt")):
        pairs = _read_csv(r, cap_path)
    else:
        pairs = _read_tokens(r, cap_path)

    # Group captions by image (in first-seen order), keeping #n order.
    groups: dict[str, list[tuple[int, str, str]]] = {}
    for image, num, caption, where in pairs:
        groups.setdefault(image, []).append((num, caption, where))

    ids = unique_ids(groups, "stem")
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for image, caps in groups.items():
        where = caps[0][2]
        row_split = split_of.get(image, "")
        if split != "all" and row_split != split:
            continue
        path = r.resolve(image, where, base=img_dir)
        if path is None:
            continue
        if not r.check_file(path, where):
            continue
        row_id = ids[image]
        if row_id in seen:
            r.skip("duplicate_id", f"{where}: id {row_id!r} seen before")
            continue
        seen.add(row_id)
        caps.sort(key=lambda c: c[0])
        rows.append(
            {
                "id": row_id,
                "image_path": path,
                "captions": [c[1] for c in caps],
                "split": row_split,
            }
        )
    return ReadResult(r.finish(rows), r.report, [])


def _find(root: str, given, candidates, what: str) -> str:
    if given is not None:
        path = os.path.join(root, os.fspath(given))
        if not os.path.exists(path):
            raise ValueError(f"flickr8k: {what} {path} does not exist")
        return path
    for c in candidates:
        path = os.path.join(root, c)
        if os.path.exists(path):
            return path
    raise ValueError(f"flickr8k: no {what} under {root}; looked for {list(candidates)}")


def _read_split_lists(r: Reader, cap_path: str) -> dict[str, str]:
    split_of: dict[str, str] = {}
    dirs = [os.path.dirname(cap_path), r.root, os.path.join(r.root, "Flickr8k_text")]
    for name, fname in SPLIT_FILES.items():
        path = next(
            (
                os.path.join(d, fname)
                for d in dirs
                if os.path.exists(os.path.join(d, fname))
            ),
            None,
        )
        if path is None:
            continue
        for lineno, line in r.read_lines(path, "Flickr8k split list"):
            if line in split_of and split_of[line] != name:
                r.warn("image_in_two_splits", f"{path}:{lineno}: {line}")
                continue
            split_of[line] = name
    return split_of


def _read_tokens(r: Reader, path: str):
    for lineno, line in r.read_lines(path, "Flickr8k token file"):
        where = f"{path}:{lineno}"
        r.report.rows_read += 1
        key, tab, caption = line.partition("\t")
        caption = caption.strip()
        if not tab or not caption:
            r.skip("malformed_line", f"{where}: {line[:80]!r}")
            continue
        image, hash_, num = key.strip().rpartition("#")
        if not hash_ or not num.isdigit():
            # No "#n": the whole key is the image name (the real file's bogus
            # key "...jpg.1" then names no file and is counted as missing).
            image, n = key.strip(), 0
        else:
            n = int(num)
        yield image, n, caption, where


def _read_csv(r: Reader, path: str):
    text = r.read_text(path, "Flickr captions CSV")
    rows = csv_rows(text, path, reader="flickr8k")
    if not rows:
        return
    header = [h.strip().lower() for h in rows[0][1]]
    if "image" not in header or "caption" not in header:
        raise ValueError(
            f"flickr8k: {path}:1: header {header} needs columns 'image' and 'caption'"
        )
    ii, ci = header.index("image"), header.index("caption")
    counts: dict[str, int] = {}
    for line_num, fields in rows[1:]:
        where = f"{path}:{line_num}"
        if not fields or not any(f.strip() for f in fields):
            continue
        r.report.rows_read += 1
        if len(fields) != len(header) or not fields[ci].strip():
            r.skip("malformed_line", f"{where}: {fields!r}"[:200])
            continue
        image = fields[ii].strip()
        n = counts.get(image, 0)
        counts[image] = n + 1
        yield image, n, fields[ci].strip(), where
