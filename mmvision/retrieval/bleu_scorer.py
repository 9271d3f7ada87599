"""Sentence BLEU of one query caption against every caption of a database.

``BleuScorer`` keeps, per n-gram order, sparse count matrices (database rows
x n-gram vocabulary, in a few row blocks so that ``add`` stays cheap) and the
reference lengths, so a query is scored against all ``N`` captions with a few
sparse column look-ups instead of ``N`` Python BLEU calls. The query is the
hypothesis and each database caption is the single reference. The result
equals, to rounding,

``nltk.translate.bleu_score.sentence_bleu([ref], hyp, weights=(1/max_n,)*max_n,
smoothing_function=SmoothingFunction(epsilon=smoothing).method1)``

on ``mmvision.data.text.tokenize`` tokens, including nltk's edge cases:

- no unigram match gives 0;
- a zero match count of order ``n`` becomes ``smoothing / max(1, #query
  n-grams)`` (so a query shorter than ``n`` has ``p_n = smoothing``);
- a precision that is still 0 (``smoothing=0``) is left out of the
  geometric mean, as nltk does;
- brevity penalty ``exp(1 - r / c)`` when the query length ``c`` is below
  the reference length ``r``, else 1.

Example:
>>> scorer = BleuScorer(["red circle on blue", "green square"])
>>> scorer.score("red circle on blue").round(3).tolist()
[1.0, 0.0]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np


def _ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(zip(*(tokens[k:] for k in range(n))))


class BleuScorer:
    """Vectorised sentence BLEU of a query against every database caption.

    Args:
        captions: the initial database captions (raw text; tokenised with
            ``mmvision.data.text.tokenize``).
        max_n: highest n-gram order (uniform weights ``1 / max_n``).
        smoothing: nltk ``SmoothingFunction(epsilon=smoothing).method1``:
            the epsilon that replaces a zero match count.

    Raises:
        ValueError: ``max_n < 1``, or ``smoothing`` outside ``[0, 1]`` (so that
            every precision, and the score, stays within ``[0, 1]``).
    """

    def __init__(
        self, captions: Sequence[str] = (), max_n: int = 4, smoothing: float = 0.1
    ):
        if int(max_n) != max_n or int(max_n) < 1:
            raise ValueError(f"max_n must be an integer >= 1, got {max_n!r}")
        smoothing = float(smoothing)
        if not 0.0 <= smoothing <= 1.0:  # also rejects NaN
            raise ValueError(f"smoothing must be in [0, 1], got {smoothing!r}")
        self.max_n = int(max_n)
        self.smoothing = smoothing
        self._vocab: list[dict[tuple[str, ...], int]] = [{} for _ in range(self.max_n)]
        # Row blocks, each ``[n-gram count matrix per order]``; see ``_push``.
        self._blocks: list[list] = []
        self._lengths = np.zeros(0, np.float64)  # reference lengths [N]
        self._size = 0
        self.add(captions)

    def __len__(self) -> int:
        return self._size

    def add(self, captions: Sequence[str]) -> None:
        """Appends ``captions`` to the database (their rows follow the old ones).

        Raises:
            TypeError: ``captions`` is a single string.
        """
        if isinstance(captions, (str, bytes)):
            raise TypeError("captions must be a sequence of captions, not a string")
        from mmvision.data.text import tokenize

        token_lists = [tokenize(c) for c in captions]
        if not token_lists:
            return
        from scipy import sparse

        lengths = np.array([len(t) for t in token_lists], np.int64)
        rows_of = np.arange(len(token_lists), dtype=np.int64)
        block = []
        for n in range(1, self.max_n + 1):
            vocab = self._vocab[n - 1]
            column = vocab.setdefault  # a new n-gram gets the next column
            cols = [
                column(gram, len(vocab))
                for tokens in token_lists
                for gram in zip(*(tokens[k:] for k in range(n)))
            ]
            # One entry per occurrence; duplicates are summed into counts.
            rows = np.repeat(rows_of, np.maximum(lengths - n + 1, 0))
            matrix = sparse.csc_matrix(
                (np.ones(len(cols)), (rows, np.asarray(cols, np.int64))),
                shape=(len(token_lists), len(vocab)),
            )
            matrix.sum_duplicates()
            block.append(matrix)
        self._push(block)
        self._lengths = np.concatenate([self._lengths, lengths.astype(np.float64)])
        self._size += len(token_lists)

    def _push(self, block: list) -> None:
        """Appends a row block, merging the last blocks while the newer one is at
        least half as tall as the one before it: O(log N) blocks, and each row is
        copied O(log N) times over all ``add`` calls."""
        from scipy import sparse

        self._blocks.append(block)
        while (
            len(self._blocks) > 1
            and self._blocks[-2][0].shape[0] <= 2 * self._blocks[-1][0].shape[0]
        ):
            newer = self._blocks.pop()
            older = self._blocks.pop()
            merged = []
            for top, bottom in zip(older, newer):
                top = top.copy()
                top.resize(top.shape[0], bottom.shape[1])  # new n-gram columns
                stacked = sparse.vstack([top, bottom], format="csc")
                merged.append(stacked)
            self._blocks.append(merged)

    def _matches(self, n: int, grams: Counter) -> np.ndarray:
        """Clipped match counts of the query's n-grams against every row."""
        out = np.zeros(self._size, np.float64)
        vocab = self._vocab[n - 1]
        known = [(vocab[g], c) for g, c in grams.items() if g in vocab]
        if not known:
            return out
        cols = np.fromiter((k for k, _ in known), np.int64, len(known))
        query_counts = np.fromiter((c for _, c in known), np.float64, len(known))
        offset = 0
        for block in self._blocks:
            matrix = block[n - 1]
            height, width = matrix.shape
            inside = cols < width  # columns the block has (older blocks: fewer)
            if inside.any():
                sub = matrix[:, cols[inside]]  # CSC [height, #inside]
                per_entry = np.repeat(query_counts[inside], np.diff(sub.indptr))
                clipped = np.minimum(sub.data, per_entry)
                out[offset : offset + height] = np.bincount(
                    sub.indices, weights=clipped, minlength=height
                )
            offset += height
        return out

    def score(self, query: str) -> np.ndarray:
        """Sentence BLEU of ``query`` (hypothesis) against each caption.

        Returns:
            float64 ``[N]`` in ``[0, 1]``, one score per database caption.

        Raises:
            ValueError: ``query`` has no tokens (``"empty query caption"``).
        """
        from mmvision.data.text import tokenize

        tokens = tokenize(query)
        if not tokens:
            raise ValueError(f"empty query caption: {query!r} has no tokens")
        if self._size == 0:
            return np.zeros(0, np.float64)
        weight = 1.0 / self.max_n
        log_sum = np.zeros(self._size, np.float64)
        unigram_matches = None
        for n in range(1, self.max_n + 1):
            grams = _ngrams(tokens, n)
            denominator = max(1, sum(grams.values()))
            matches = self._matches(n, grams)
            if n == 1:
                unigram_matches = matches
            numerator = np.where(matches == 0, self.smoothing, matches)
            precision = numerator / denominator
            positive = precision > 0
            log_sum[positive] += weight * np.log(precision[positive])
        c = float(len(tokens))
        r = self._lengths
        penalty = np.where(c < r, np.exp(1.0 - r / c), 1.0)
        scores = penalty * np.exp(log_sum)
        scores[unigram_matches == 0] = 0.0
        return scores

    def score_many(self, queries: Sequence[str]) -> np.ndarray:
        """``score`` for each query: float64 ``[Q, N]``.

        Raises:
            TypeError: ``queries`` is a single string.
            ValueError: a query has no tokens.
        """
        if isinstance(queries, (str, bytes)):
            raise TypeError("queries must be a sequence of captions, not a string")
        out = np.zeros((len(queries), self._size), np.float64)
        for i, query in enumerate(queries):
            out[i] = self.score(query)
        return out


__all__ = ["BleuScorer"]
