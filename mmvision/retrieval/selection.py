"""Which scored items a query returns: the similar / divergent rules.

``candidates`` applies a method's ``MethodSettings`` to a score vector:
similar = the highest scores (at or above the threshold; with image
agreement when set), divergent = the scores inside the band (highest first)
or the lowest scores (``farthest``). ``index_similar`` is the fast path
of a plain similar-by-caption query: the vector index's own search.
"""

from __future__ import annotations

import numpy as np

from mmvision.retrieval.query import Result, SearchResult
from mmvision.retrieval.settings import MethodSettings


def candidates(
    score: np.ndarray,
    mode: str,
    ms: MethodSettings,
    pool: int,
    image_score: np.ndarray | None = None,
    image_agreement: float | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """``(indices best first, sort key, items passing the rule)``.

    At most ``pool`` indices are returned; ``key`` is lower-is-better (ties
    go to the lower index). ``-inf`` scores (the query itself, history
    items) never pass.
    """
    valid = np.isfinite(score)
    if mode == "similar":
        key = -score
        if ms.threshold is not None:
            valid &= score >= ms.threshold
        if image_agreement is not None and image_score is not None:
            valid &= image_score >= image_agreement
    elif ms.divergent == "band":
        key = -score
        valid &= (score >= ms.band[0]) & (score <= ms.band[1])
    else:
        key = score
    cand = np.flatnonzero(valid)
    n_pass = len(cand)
    if n_pass > pool:
        cand = cand[np.argpartition(key[cand], pool - 1)[:pool]]
    return cand[np.lexsort((cand, key[cand]))], key, n_pass


def rule_text(mode: str, ms: MethodSettings) -> str:
    """The rule in words, for a "only n items with ..." note."""
    if mode == "similar":
        return f"score >= {ms.threshold}"
    if ms.divergent == "band":
        return f"score in [{ms.band[0]}, {ms.band[1]}]"
    return "a finite score"


def index_similar(retriever, rq, ms: MethodSettings, k: int, n_avail: int, notes):
    """Similar by caption through the vector index's own search (the ANN
    backends' fast path; exact search gives the same as ``scores``)."""
    r = retriever
    extra = int(rq.exclude is not None)
    found, sc = r.caption_index.search(rq.caption_vector[None], k + extra)
    results = [
        Result(i, float(s), r.captions[i], r.paths[i], float(s), None)
        for i, s in zip(found[0], sc[0])
        if i != rq.exclude and (ms.threshold is None or s >= ms.threshold)
    ][:k]
    if len(results) < min(k, n_avail):
        notes.append(
            f"only {len(results)} item(s) with score >= {ms.threshold} (caption)"
        )
    return SearchResult(results, "similar", "caption", rq.caption, notes)
