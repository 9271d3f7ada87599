"""Stratified per-class splits of a Manifest.

Rounding rule (per class of ``n`` rows, splits in the order given):

1. Largest remainder: each split gets ``floor(n * fraction)``; the rows left
   over go one each to the splits with the largest fractional parts
   ``n * fraction - floor(n * fraction)`` (ties: the earlier split). So every
   count is within 1 of ``n * fraction`` and the counts add up to ``n``.
2. Representation: when ``n >= min_per_split * k`` (``k`` = number of splits
   with a fraction > 0), each such split holding fewer than ``min_per_split``
   rows takes one row at a time from the split holding the most (ties: the
   earlier split). Smaller classes keep the counts of step 1.

Which rows go where: the class's rows are ordered by ``id`` (so the result
does not depend on row order), shuffled by a generator seeded with
``(seed, class)``, and dealt out in split order. The same manifest, seed and
fractions always give the same split; adding or removing a class does not
change the others.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping

import numpy as np
import pandas as pd

#: Default fractions of ``stratified_split``.
DEFAULT_FRACTIONS: dict[str, float] = {"train": 0.96, "val": 0.02, "test": 0.02}


def split_counts(
    n: int, fractions: Mapping[str, float], min_per_split: int = 1
) -> dict[str, int]:
    """Rows per split for a class of ``n`` rows, by the module's rounding rule.

    Example:
        >>> split_counts(75, {"train": 0.96, "val": 0.02, "test": 0.02})
        {'train': 72, 'val': 2, 'test': 1}
    """
    names = list(fractions)
    exact = [round(n * float(fractions[s]), 9) for s in names]
    counts = [math.floor(x) for x in exact]
    left = n - sum(counts)
    by_rem = sorted(range(len(names)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_rem[:left]:
        counts[i] += 1
    positive = [i for i, s in enumerate(names) if fractions[s] > 0]
    if min_per_split > 0 and n >= min_per_split * len(positive):
        for i in positive:
            while counts[i] < min_per_split:
                donor = max(range(len(names)), key=lambda j: (counts[j], -j))
                counts[donor] -= 1
                counts[i] += 1
    return dict(zip(names, counts))


def _check_fractions(fractions: Mapping[str, float]) -> None:
    if not fractions:
        raise ValueError("fractions is empty; give e.g. {'train': 0.9, 'val': 0.1}")
    bad = {k: v for k, v in fractions.items() if not (0 <= float(v) <= 1)}
    if bad:
        raise ValueError(f"fractions must be in [0, 1]; got {bad}")
    total = sum(float(v) for v in fractions.values())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(
            f"fractions must add up to 1; {dict(fractions)} adds to {total}"
        )


def _class_key(label) -> int:
    if isinstance(label, (int, np.integer)):
        return int(label) & 0xFFFFFFFF
    return zlib.crc32(repr(label).encode("utf-8"))


def stratified_split(
    manifest: pd.DataFrame,
    fractions: Mapping[str, float] | None = None,
    seed: int = 0,
    label_col: str = "label",
    min_per_split: int = 1,
    id_col: str = "id",
) -> pd.DataFrame:
    """Returns a copy of ``manifest`` with its ``split`` column set per class.

    Each class (value of ``label_col``; unlabelled rows, -1, form one group)
    is split by the rounding rule in this module's docstring, so every class
    has exact, reproducible per-split counts and is present in every split
    when it has at least ``min_per_split`` rows per split.

    Args:
        manifest: a Manifest (any DataFrame with ``label_col``).
        fractions: ``{split_name: fraction}`` adding up to 1, in dealing
            order; default ``{"train": 0.96, "val": 0.02, "test": 0.02}``.
        seed: shuffling seed.
        label_col: the column to stratify by.
        min_per_split: rows every positive-fraction split gets in a class large
            enough (0 turns the guarantee off).
        id_col: column that orders a class's rows before shuffling (row
            order when absent).

    Returns:
        A new DataFrame; the input is not modified.

    Example:
        >>> m = stratified_split(manifest, {"train": 0.8, "val": 0.1, "test": 0.1})
        >>> pd.crosstab(m.label, m.split)
    """
    fractions = dict(DEFAULT_FRACTIONS if fractions is None else fractions)
    _check_fractions(fractions)
    if label_col not in manifest.columns:
        raise ValueError(
            f"no column {label_col!r} to stratify by; columns: {list(manifest.columns)}"
        )
    out = manifest.copy()
    n = len(out)
    result = np.empty(n, dtype=object)
    if id_col in out.columns:
        rank = np.empty(n, dtype=np.int64)
        rank[np.argsort(out[id_col].astype(str).to_numpy(), kind="stable")] = np.arange(
            n
        )
    else:
        rank = np.arange(n)
    groups = out.groupby(label_col, sort=True, dropna=False).indices
    names = list(fractions)
    for label, idx in groups.items():
        idx = idx[np.argsort(rank[idx], kind="stable")]
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, _class_key(label)])
        idx = idx[rng.permutation(len(idx))]
        counts = split_counts(len(idx), fractions, min_per_split)
        start = 0
        for s in names:
            result[idx[start : start + counts[s]]] = s
            start += counts[s]
    out["split"] = result.astype(str) if n else pd.Series([], dtype=str)
    return out


def webvision_split(
    manifest: pd.DataFrame,
    holdout: float = 0.04,
    seed: int = 0,
    label_col: str = "label",
    min_per_split: int = 1,
) -> pd.DataFrame:
    """WebVision-style split: ``holdout`` of each class, halved into val and test.

    Same as ``stratified_split`` with fractions ``{"train": 1 - holdout,
    "val": holdout / 2, "test": holdout / 2}``: e.g. a class of 75 images
    gives 72 / 2 / 1 (the odd held-out image goes to val).

    Example:
        >>> m = webvision_split(manifest)  # 96% train, 2% val, 2% test per class
    """
    if not 0 < holdout < 1:
        raise ValueError(f"holdout must be in (0, 1); got {holdout}")
    fractions = {"train": 1 - holdout, "val": holdout / 2, "test": holdout / 2}
    return stratified_split(
        manifest, fractions, seed=seed, label_col=label_col, min_per_split=min_per_split
    )
