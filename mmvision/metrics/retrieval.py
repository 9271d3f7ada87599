"""Ranked-retrieval metrics: precision@k, recall@k, AP, nDCG@k, score at top K.

A query's results are given in rank order as a relevance array (``True``/1 =
relevant), so the caller decides what counts as relevant; the database-wide
number of relevant items (``n_relevant``) or gains (``ideal_gains``) make a
truncated ranking score against the whole database. ``score_at_top_k`` is the
deep-ranking "score at top K" of Wang et al. (CVPR 2014), which works on raw
similarity scores and graded relevance instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

_MAX_BLOCK = 1 << 22  # elements per broadcast block in score_at_top_k


def _check_k(k: Any, name: str = "k") -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"{name} must be a positive integer, got {k!r}")
    return int(k)


def _vector(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        return arr.astype(np.float64)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return arr


def _binary(x: Any, name: str) -> np.ndarray:
    arr = _vector(x, name)
    if not np.isin(arr, (0.0, 1.0)).all():
        raise ValueError(f"{name} must hold booleans or 0/1, got other values")
    return arr.astype(bool)


def _gains(x: Any, name: str) -> np.ndarray:
    arr = _vector(x, name)
    if (arr < 0).any():
        raise ValueError(f"{name} must hold non-negative gains")
    return arr


def precision_at_k(relevant: Sequence[bool] | np.ndarray, k: int) -> float:
    """Fraction of the first ``k`` results that are relevant.

    A ranking shorter than ``k`` is padded with non-relevant results: the
    count of relevant results is always divided by ``k``, not by the number
    of results returned (so returning fewer results is never rewarded).

    Args:
        relevant: ``[n]`` booleans or 0/1 in rank order (best first).
        k: cut-off, a positive integer.

    Example:
    >>> precision_at_k([1, 0, 1, 1], k=3), precision_at_k([1], k=4)
    (0.6666666666666666, 0.25)
    """
    k = _check_k(k)
    rel = _binary(relevant, "relevant")
    return float(rel[:k].sum() / k)


def recall_at_k(
    relevant: Sequence[bool] | np.ndarray, k: int, n_relevant: int | None = None
) -> float:
    """Fraction of the relevant items found in the first ``k`` results.

    The information-retrieval recall: relevant results in the top ``k`` over
    ``n_relevant``, the relevant items of the whole database (``None``: of
    the ranking). 0.0 when there is nothing relevant to find. (The "Recall@K"
    of metric-learning papers, a hit when any of the top ``k`` is relevant,
    is ``float(precision_at_k(rel, k) > 0)``.)

    Example:
    >>> recall_at_k([1, 0, 1, 1], k=2), recall_at_k([1, 0], k=2, n_relevant=4)
    (0.3333333333333333, 0.25)
    """
    k = _check_k(k)
    rel = _binary(relevant, "relevant")
    total = int(rel.sum()) if n_relevant is None else int(n_relevant)
    if total < int(rel[:k].sum()):
        raise ValueError(f"n_relevant={n_relevant} is less than the relevant found")
    return float(rel[:k].sum() / total) if total else 0.0


def average_precision(
    relevant_ranked: Sequence[bool] | np.ndarray, n_relevant: int | None = None
) -> float:
    """Average precision of one ranking: the mean over relevant items of P@rank.

    ``sum_{i relevant} P@i / n_relevant``; relevant database items missing
    from the ranking contribute precision 0, so a truncated ranking scores
    against the whole database when ``n_relevant`` is its relevant count.

    Args:
        relevant_ranked: ``[n]`` booleans or 0/1 in rank order (best first).
        n_relevant: number of relevant items in the whole database; ``None``
            uses the number of relevant items in the ranking.

    Returns:
        AP in ``[0, 1]``; ``0.0`` when ``n_relevant`` is 0 (nothing to find).

    Raises:
        ValueError: ``n_relevant`` is negative or smaller than the number of
            relevant items in the ranking.

    Example:
    >>> average_precision([1, 0, 1]), average_precision([1, 0, 1], n_relevant=4)
    (0.8333333333333333, 0.41666666666666663)
    """
    rel = _binary(relevant_ranked, "relevant_ranked")
    found = int(rel.sum())
    if n_relevant is None:
        n_relevant = found
    if isinstance(n_relevant, bool) or not isinstance(n_relevant, (int, np.integer)):
        raise ValueError(f"n_relevant must be an integer or None, got {n_relevant!r}")
    if n_relevant < found:
        raise ValueError(
            f"n_relevant={n_relevant} but the ranking already holds {found} "
            "relevant items"
        )
    if n_relevant == 0:
        return 0.0
    ranks = np.flatnonzero(rel) + 1.0
    precisions = np.arange(1, found + 1) / ranks
    return float(precisions.sum() / n_relevant)


def _dcg(gains: np.ndarray) -> float:
    return float((gains / np.log2(np.arange(2, gains.size + 2))).sum())


def ndcg_at_k(
    gains_ranked: Sequence[float] | np.ndarray,
    k: int,
    ideal_gains: Sequence[float] | None = None,
) -> float:
    """Normalised discounted cumulative gain of the first ``k`` results.

    ``DCG@k = sum_{i=1..k} g_i / log2(i + 1)`` with linear gains (as
    ``sklearn.metrics.ndcg_score``), divided by the DCG@k of the ideal
    ordering: ``ideal_gains`` sorted descending if given, else the ranking's
    own gains sorted descending. A ranking shorter than ``k`` simply adds no
    more gain.

    Args:
        gains_ranked: ``[n]`` non-negative gains in rank order (best first).
        k: cut-off, a positive integer.
        ideal_gains: gains of all items in the database (zeros may be
            omitted); needed for a truncated ranking to be judged against the
            whole database.

    Returns:
        nDCG in ``[0, 1]``; ``0.0`` when the ideal DCG is 0.

    Raises:
        ValueError: the ranking holds gains that ``ideal_gains`` cannot
            account for (nDCG would exceed 1).

    Example:
    >>> round(ndcg_at_k([0, 1], k=2), 4), ndcg_at_k([1, 1], k=5, ideal_gains=[1, 1])
    (0.6309, 1.0)
    """
    k = _check_k(k)
    gains = _gains(gains_ranked, "gains_ranked")
    ideal = gains if ideal_gains is None else _gains(ideal_gains, "ideal_gains")
    ideal = np.sort(ideal)[::-1]
    if ideal_gains is not None:
        mine = np.sort(gains)[::-1]
        padded = np.zeros(max(mine.size, ideal.size))
        padded[: ideal.size] = ideal
        if (mine > padded[: mine.size] + 1e-12).any():
            raise ValueError(
                "gains_ranked holds gains not in ideal_gains; pass the gains of "
                "every item in the database"
            )
    best = _dcg(ideal[:k])
    return _dcg(gains[:k]) / best if best > 0 else 0.0


def score_at_top_k(
    query_scores: np.ndarray, relevance: np.ndarray, k: int = 30
) -> int | float:
    """Wang et al.'s (deep ranking, CVPR 2014) score at top K for one query.

    Triplets ``(query, p, n)`` with ``relevance[p] > relevance[n]`` count when
    ``p`` or ``n`` is among the query's ``k`` top-scored database items; the
    score is the number ranked correctly (``score[p] > score[n]``) minus the
    number ranked wrongly (``score[p] < score[n]``). Equal scores count
    neither way.

    The top ``k`` are the ``k`` highest scores; ties at the cut-off go to the
    lower database index (a stable sort), and ``k >= N`` takes every item.
    The query itself should not be in the database (or should be removed).
    Cost is O(k·N) time, with memory bounded by blocks of the top-k rows.

    Args:
        query_scores: ``[N]`` similarities to the query (higher = more similar).
        relevance: ``[N]`` graded ground-truth relevance (e.g. 2/1/0).
        k: how many top-scored items define the counted triplets.

    Returns:
        The score, an int (negative when most counted triplets are inverted).

    Example:
    >>> score_at_top_k(np.array([0.9, 0.8, 0.1]), np.array([0, 2, 1]), k=1)
    -2
    """
    k = _check_k(k)
    scores = _vector(query_scores, "query_scores")
    rel = _vector(relevance, "relevance")
    if scores.shape != rel.shape:
        raise ValueError(
            f"query_scores and relevance differ in shape: {scores.shape} vs {rel.shape}"
        )
    top = np.argsort(-scores, kind="stable")[:k]
    # f(a, b) = sign(rel_a - rel_b) * sign(s_a - s_b) is +1 for a correctly
    # ranked pair, -1 for an inverted one, 0 otherwise, and symmetric. Summing
    # it over (t in top, any b) counts pairs with both ends in the top twice.
    total = both = 0
    block = max(1, _MAX_BLOCK // max(1, scores.size))
    for start in range(0, top.size, block):
        rows = top[start : start + block]
        f = np.sign(rel[rows, None] - rel[None, :]) * np.sign(
            scores[rows, None] - scores[None, :]
        )
        total += int(f.sum())
        both += int(f[:, top].sum())
    return total - both // 2


def mean_score_at_top_k(
    scores_matrix: np.ndarray, relevance_matrix: np.ndarray, k: int = 30
) -> float:
    """Mean of ``score_at_top_k`` over queries.

    Args:
        scores_matrix: ``[Q, N]`` similarities, one row per query.
        relevance_matrix: ``[Q, N]`` graded relevance, one row per query.
        k: top-K cut-off.

    Raises:
        ValueError: the matrices are not 2-D, differ in shape or have no rows.
    """
    scores = np.asarray(scores_matrix)
    rel = np.asarray(relevance_matrix)
    if scores.ndim != 2 or scores.shape != rel.shape:
        raise ValueError(
            "scores_matrix and relevance_matrix must be [Q, N] of one shape, got "
            f"{scores.shape} and {rel.shape}"
        )
    if scores.shape[0] == 0:
        raise ValueError("scores_matrix has no queries")
    return float(np.mean([score_at_top_k(s, r, k) for s, r in zip(scores, rel)]))


def ranking_report(
    relevance_ranked_list: list[np.ndarray],
    n_relevant_list: list[int | None],
    ks: Sequence[int] = (5, 10),
) -> dict[str, float]:
    """Mean P@k, mAP and nDCG over queries as one flat dict.

    nDCG uses binary gains, its ideal being ``n_relevant`` relevant items, at
    the largest cut-off in ``ks`` only.

    Args:
        relevance_ranked_list: per query, ``[n_q]`` booleans in rank order.
        n_relevant_list: per query, relevant items in the whole database
            (``None`` = the relevant items in its ranking).
        ks: cut-offs for precision; the largest is also used for nDCG.

    Returns:
        ``{"p5", "p10", "map", "ndcg10"}`` for the default ``ks`` (keys
        ``p{k}`` for every k in ``ks``, ``map`` and ``ndcg{max(ks)}``).

    Example:
    >>> r = ranking_report([np.array([1, 0]), np.array([0, 1])], [1, 2], ks=(1,))
    >>> r["p1"], r["map"]
    (0.5, 0.625)
    """
    if len(relevance_ranked_list) != len(n_relevant_list):
        raise ValueError(
            "relevance_ranked_list and n_relevant_list differ in length: "
            f"{len(relevance_ranked_list)} vs {len(n_relevant_list)}"
        )
    if not relevance_ranked_list:
        raise ValueError("ranking_report needs at least one query")
    ks = [_check_k(k, "ks entry") for k in ks]
    if not ks:
        raise ValueError("ks must name at least one cut-off")
    pairs = list(zip(relevance_ranked_list, n_relevant_list))
    out = {
        f"p{k}": float(np.mean([precision_at_k(r, k) for r, _ in pairs])) for k in ks
    }
    out["map"] = float(np.mean([average_precision(r, n) for r, n in pairs]))
    kmax = max(ks)
    ndcgs = []
    for r, n in pairs:
        rel = _binary(r, "relevance_ranked")
        n = int(rel.sum()) if n is None else n
        ndcgs.append(ndcg_at_k(rel, kmax, ideal_gains=np.ones(n)))
    out[f"ndcg{kmax}"] = float(np.mean(ndcgs))
    return out
