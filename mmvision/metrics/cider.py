"""CIDEr-D, following coco-caption's ``pycocoevalcap/cider/cider_scorer.py``.

For every image, the hypothesis and each reference become tf-idf vectors of
their n-grams, one vector per order n = 1..N. The idf of an n-gram is
``log(I) - log(max(1, df))`` where ``I`` is the number of images in the
corpus being scored and ``df`` the number of images whose references contain
the n-gram (so document frequencies come from this corpus' references, and a
one-image corpus scores 0). For each reference and order::

    sim_n = sum_g min(h_g, r_g) * r_g / (|h| |r|) * exp(-delta^2 / (2 sigma^2))

(hypothesis weights clipped by the reference's, "-D"), averaged over n and
over the references, times 10. As in coco-caption, ``delta`` is the
difference of the two captions' numbers of *bigrams* (its ``length`` counts
order-2 n-grams). For ``n >= 2`` that is the difference in words whenever it
matters (it differs only when a caption is empty, and an empty caption's
similarity is 0 anyway); with ``n = 1`` there is no length penalty at all,
again as in coco-caption. Tokens are whatever the caller passes; coco-caption
uses the PTB tokeniser, mmvision ``mmvision.data.text.tokenize``.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Sequence

import numpy as np

from mmvision.metrics.bleu import check_corpus


def _counts(tokens: Sequence[str], n: int) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    for k in range(1, n + 1):
        for i in range(len(tokens) - k + 1):
            counts[tuple(tokens[i : i + k])] += 1
    return counts


def cider_d(
    references_list: Sequence[Sequence[Sequence[str]]],
    hypotheses: Sequence[Sequence[str]],
    n: int = 4,
    sigma: float = 6.0,
) -> tuple[float, np.ndarray]:
    """Corpus CIDEr-D and the score of every example.

    Args:
        references_list: per image, a list of reference token lists.
        hypotheses: per image, one hypothesis token list.
        n: highest n-gram order (4 in coco-caption).
        sigma: width of the Gaussian length penalty (6 in coco-caption).

    Returns:
        ``(mean score, per-example scores as a float64 array)``. Scores are on
        coco-caption's scale (x10; a perfect caption often scores > 1).

    Example:
    >>> refs = [[["red", "circle"]], [["blue", "square"]]]
    >>> score, per = cider_d(refs, [["red", "circle"], ["green", "star"]])
    >>> per.round(3).tolist()  # orders 3, 4 have no n-grams: (1 + 1 + 0 + 0) / 4 * 10
    [5.0, 0.0]
    """
    if int(n) < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    n = int(n)
    refs_all, hyps = check_corpus(references_list, hypotheses)

    ref_counts = [[_counts(r, n) for r in refs] for refs in refs_all]
    doc_freq: collections.Counter = collections.Counter()
    for refs in ref_counts:
        doc_freq.update({g for counts in refs for g in counts})
    log_n_images = math.log(float(len(refs_all)))

    def vectorize(counts: collections.Counter):
        vec: list[dict] = [{} for _ in range(n)]
        norm = [0.0] * n
        length = 0
        for gram, tf in counts.items():
            k = len(gram) - 1
            w = float(tf) * (log_n_images - math.log(max(1.0, doc_freq[gram])))
            vec[k][gram] = w
            norm[k] += w * w
            if k == 1:  # coco-caption counts bigrams as the "length"
                length += tf
        return vec, [math.sqrt(x) for x in norm], length

    two_sigma2 = 2.0 * float(sigma) ** 2
    scores = np.zeros(len(hyps), dtype=np.float64)
    for i, (hyp, refs) in enumerate(zip(hyps, ref_counts)):
        vec_h, norm_h, len_h = vectorize(_counts(hyp, n))
        total = np.zeros(n, dtype=np.float64)
        for counts in refs:
            vec_r, norm_r, len_r = vectorize(counts)
            penalty = math.exp(-(float(len_h - len_r) ** 2) / two_sigma2)
            for k in range(n):
                val = 0.0
                for gram, w_h in vec_h[k].items():
                    w_r = vec_r[k].get(gram, 0.0)
                    val += min(w_h, w_r) * w_r
                if norm_h[k] != 0 and norm_r[k] != 0:
                    val /= norm_h[k] * norm_r[k]
                total[k] += val * penalty
        scores[i] = float(np.mean(total)) / len(refs) * 10.0
    return float(np.mean(scores)), scores
