"""Diversity re-ranking: maximal marginal relevance (MMR) with a user history.

MMR (Carbonell & Goldstein, 1998) picks results one at a time, each time the
candidate with the best

    lam * relevance(c) - (1 - lam) * max(similarity(c, s) for s in picked + history)

so a result that repeats one already picked, or one the user has already
seen (the *history*), is pushed down. ``lam = 1`` is the plain ranking;
``diversity = 1 - lam`` is the weight on novelty (``mmvision search
--diversity``). With a history and a divergent query this gives "divergent
for this user": related to the query, far from what they have seen.

Similarities are inner products of the candidates' stored vectors (unit
rows, so cosine).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def mmr(
    relevance: Sequence[float] | np.ndarray,
    vectors: np.ndarray,
    k: int,
    diversity: float = 0.3,
    history: np.ndarray | None = None,
) -> list[int]:
    """Indices of ``k`` candidates in MMR order.

    Args:
        relevance: ``[C]`` query relevance of each candidate (higher is better).
        vectors: ``[C, D]`` unit vectors of the candidates.
        k: how many to pick (at most ``C``).
        diversity: ``1 - lambda`` in ``[0, 1]``; 0 keeps the relevance order.
        history: ``[H, D]`` unit vectors of items the user has seen; each
            candidate is penalised by its closest history item from the start.

    Returns:
        Candidate indices, best first.

    Raises:
        ValueError: ``diversity`` outside ``[0, 1]``, mismatched shapes.
    """
    rel = np.asarray(relevance, np.float64).reshape(-1)
    vec = np.asarray(vectors, np.float64)
    if not 0.0 <= float(diversity) <= 1.0:
        raise ValueError(f"diversity must be in [0, 1], got {diversity}")
    if vec.ndim != 2 or len(vec) != len(rel):
        raise ValueError(
            f"vectors must be [C, D] with C = {len(rel)} candidates, got {vec.shape}"
        )
    lam = 1.0 - float(diversity)
    n = len(rel)
    k = min(int(k), n)
    # redundancy[c]: the largest similarity of c to anything picked or seen.
    redundancy = np.full(n, -np.inf)
    if history is not None and len(history):
        hist = np.asarray(history, np.float64)
        if hist.ndim != 2 or hist.shape[1] != vec.shape[1]:
            raise ValueError(
                f"history vectors must be [H, {vec.shape[1]}], got {hist.shape}"
            )
        redundancy = (vec @ hist.T).max(axis=1)
    picked: list[int] = []
    free = np.ones(n, bool)
    for _ in range(k):
        penalty = np.where(np.isfinite(redundancy), redundancy, 0.0)
        gain = lam * rel - (1.0 - lam) * penalty
        gain[~free] = -np.inf
        best = int(np.argmax(gain))
        picked.append(best)
        free[best] = False
        redundancy = np.maximum(redundancy, vec @ vec[best])
    return picked


def history_share(
    result_vectors: np.ndarray, history: np.ndarray, threshold: float = 0.9
) -> float:
    """Fraction of results whose closest history item has similarity
    ``>= threshold`` (how much of a result list the user has "already seen")."""
    res = np.asarray(result_vectors, np.float64)
    hist = np.asarray(history, np.float64)
    if not len(res) or not len(hist):
        return 0.0
    return float(((res @ hist.T).max(axis=1) >= threshold).mean())


def split_known(ids: Sequence[str], known: Sequence[str] | set[str]):
    """``(known ids, unknown ids)`` of ``ids``, each in order, duplicates once."""
    known_set = set(known)
    kept: list[str] = []
    unknown: list[str] = []
    for x in dict.fromkeys(ids):
        (kept if x in known_set else unknown).append(x)
    return kept, unknown


def read_history(path: str, known: Sequence[str] | set[str]) -> tuple[list[str], dict]:
    """Ids of a history file (one id per line, ``#`` comments, or a JSON list).

    Returns:
        ``(ids, report)``: the known ids in file order (duplicates once) and
        ``{"unknown": count, "unknown_ids": [first 10]}`` for ids that are not
        in ``known`` (counted and named, not fatal).

    Raises:
        FileNotFoundError: the file does not exist (named).
        ValueError: a JSON history that is not a list of strings (named).
    """
    import json
    import os

    if not os.path.isfile(path):
        raise FileNotFoundError(f"history file {path} does not exist")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text.lstrip().startswith("["):
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON: {e}") from None
        if not all(isinstance(x, str) for x in raw):
            raise ValueError(f"{path}: a JSON history must be a list of id strings")
    else:
        raw = [ln.split("#", 1)[0].strip() for ln in text.splitlines()]
        raw = [x for x in raw if x]
    ids, unknown = split_known(raw, known)
    return ids, {"unknown": len(unknown), "unknown_ids": unknown[:10]}
