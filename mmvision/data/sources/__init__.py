"""Readers of real dataset layouts: files -> Manifest + ReadReport.

Every reader returns ``ReadResult(manifest, report, classes)`` (see
``mmvision.data.manifest``), except ``triplets`` which returns
``TripletsResult(table, report)`` (a table of anchor / positive / negative
paths, not a Manifest). ``image_path`` values are absolute.

Options every reader takes:
    strict: raise ``ValueError`` (``ReaderError``) naming the file and line at
        the first row that would be skipped, instead of counting it.
    allow_outside_root: accept paths that escape the dataset root (``..``,
        absolute paths elsewhere); refused (``outside_root`` skips) by default.
    check_files: stat every image (exists, regular file, size > 0, readable);
        ``False`` trusts the lists.
    verify_images: ``False``; ``True`` runs PIL ``Image.verify()``;
        ``"decode"`` decodes fully. Decoding proper is the pipeline's job.

Row ids come from the image file names without extension; files whose names
differ only in extension (``cat.jpg``, ``cat.png``) keep it in their ids, so
every file gets its own id (``mmvision.data.sources.ids``).

What is skipped is counted in ``report.skipped`` with the first places in
``report.examples``; kept rows with missing text are counted in
``report.missing``, repairs (non-UTF-8 text) in ``report.warnings``.

Example:
    >>> from mmvision.data import sources
    >>> manifest, report, classes = sources.read("flickr8k", "/data/Flickr8k")
    >>> print(report)
"""

from __future__ import annotations

import os
from typing import Any

from mmvision.data.sources._common import ReaderError
from mmvision.data.sources.cifar import cifar10, cifar100
from mmvision.data.sources.flickr8k import flickr8k
from mmvision.data.sources.folders import folders
from mmvision.data.sources.table import table
from mmvision.data.sources.tiny_imagenet import tiny_imagenet
from mmvision.data.sources.triplets import TripletsResult, triplets
from mmvision.data.sources.webvision import webvision

_READERS = {
    "webvision": webvision,
    "flickr8k": flickr8k,
    "tiny_imagenet": tiny_imagenet,
    "folders": folders,
    "table": table,
    "triplets": triplets,
    "cifar10": cifar10,
    "cifar100": cifar100,
}

#: Valid ``kind`` names of ``read``.
KINDS: list[str] = list(_READERS)


def read(kind: str, root: str | os.PathLike, **kwargs: Any):
    """Calls the reader named ``kind`` on ``root`` (a folder, or a file for
    ``table`` / ``triplets``) with the reader's keyword arguments.

    Raises:
        ValueError: ``kind`` is not one of ``KINDS``.
    """
    if kind not in _READERS:
        raise ValueError(f"unknown source kind {kind!r}; valid kinds: {KINDS}")
    return _READERS[kind](root, **kwargs)


__all__ = [
    "KINDS",
    "ReaderError",
    "TripletsResult",
    "flickr8k",
    "folders",
    "read",
    "table",
    "tiny_imagenet",
    "triplets",
    "webvision",
]
