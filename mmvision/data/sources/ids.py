"""Row ids from image file names, unique per file within one reader call.

The readers name a row after its image file without the extension (the path
relative to the dataset root, or just the file stem). Two different files
whose names differ only in extension (``a/cat.jpg`` and ``a/cat.png``) would
then share an id, so ``unique_ids`` keeps the extension for exactly those:

- a file whose extension-less id no other listed file shares keeps it
  (``a/cat``), so ids of ordinary datasets are unchanged;
- files that share an extension-less id but differ in extension get the id
  with their extension (``a/cat.jpg``, ``a/cat.png``);
- files that would still share an id (with ``id_style="stem"``, the same
  file name in two folders, e.g. WebVision's ``000000.jpg`` of every query)
  keep the extension-less id, and the reader counts the second one as a
  ``duplicate_id`` skip as before.

The choice depends only on the names the reader lists (not on which files
exist or pass the checks), and the same name always gets the same id.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from mmvision.data.sources._common import make_id


def with_extension(rel_path: str, id_style: str) -> str:
    """The id of ``rel_path`` keeping its extension: the path, or the file name."""
    return os.path.basename(rel_path) if id_style == "stem" else rel_path


def unique_ids(rel_paths: Iterable[str], id_style: str = "path") -> dict[str, str]:
    """Maps each root-relative path (``/`` separators) to its row id.

    The id is ``make_id(path, id_style)`` unless another path differing only
    in extension shares it; see the module docstring for the rule. Repeated
    paths (one file listed twice) map to one id.

    Example:
        >>> unique_ids(["a/cat.jpg", "a/cat.png", "a/dog.jpg"])
        {'a/cat.jpg': 'a/cat.jpg', 'a/cat.png': 'a/cat.png', 'a/dog.jpg': 'a/dog'}
    """
    paths = list(dict.fromkeys(rel_paths))
    ids = {p: make_id(p, id_style) for p in paths}
    full = {p: with_extension(p, id_style) for p in paths}
    # Each path switches to its extension-kept id at most once, so this ends.
    # A further round is needed only when a switched id (``cat.jpg``) meets
    # the plain id of a file named with two dots (``cat.jpg.png``).
    changed = True
    while changed:
        changed = False
        groups: dict[str, list[str]] = {}
        for p in paths:
            groups.setdefault(ids[p], []).append(p)
        for group in groups.values():
            if len(group) < 2 or len({full[p] for p in group}) < 2:
                continue
            for p in group:
                if ids[p] != full[p]:
                    ids[p] = full[p]
                    changed = True
    return ids
