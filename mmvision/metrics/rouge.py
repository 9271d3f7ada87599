"""ROUGE-L with the coco-caption (pycocoevalcap) convention.

For one hypothesis and several references: P = max over references of
LCS/len(hyp), R = max over references of LCS/len(ref) (the two maxima may come
from different references), F = (1 + beta^2) P R / (R + beta^2 P), beta = 1.2.
The corpus score is the mean of the per-example scores. Tokens are whatever
the caller passes (mmvision uses ``mmvision.data.text.tokenize``).
"""

from __future__ import annotations

from collections.abc import Sequence

from mmvision.metrics.bleu import check_corpus, check_tokens


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token lists."""
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, start=1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(
    references: Sequence[Sequence[str]],
    hypothesis: Sequence[str],
    beta: float = 1.2,
) -> float:
    """Sentence ROUGE-L F-score, coco-caption style (see the module docstring).

    An empty hypothesis, or no common token with any reference, scores 0.
    An empty reference contributes precision 0 and recall 0.

    Args:
        references: reference token lists (at least one).
        hypothesis: hypothesis token list.
        beta: recall weight; 1.2 as in coco-caption.

    Example:
    >>> # LCS 2: P = 2/2, R = 2/3, F = 2.44 * 1 * 2/3 / (2/3 + 1.44 * 1)
    >>> round(rouge_l([["dog", "runs", "fast"]], ["dog", "runs"]), 4)
    0.7722
    """
    if isinstance(references, (str, bytes)):
        raise ValueError("references must be a list of token lists, got a string")
    refs = [check_tokens(r, f"references[{j}]") for j, r in enumerate(references)]
    hyp = check_tokens(hypothesis, "hypothesis")
    if not refs:
        raise ValueError("rouge_l needs at least one reference")
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    if not hyp:
        return 0.0
    precision = recall = 0.0
    for ref in refs:
        if not ref:
            continue
        lcs = lcs_length(ref, hyp)
        precision = max(precision, lcs / len(hyp))
        recall = max(recall, lcs / len(ref))
    if precision == 0 or recall == 0:
        return 0.0
    b2 = beta**2
    return (1 + b2) * precision * recall / (recall + b2 * precision)


def corpus_rouge_l(
    references_list: Sequence[Sequence[Sequence[str]]],
    hypotheses: Sequence[Sequence[str]],
    beta: float = 1.2,
) -> float:
    """Mean sentence ROUGE-L over a corpus (coco-caption's reported value)."""
    refs_all, hyps = check_corpus(references_list, hypotheses)
    scores = [rouge_l(r, h, beta=beta) for r, h in zip(refs_all, hyps)]
    return float(sum(scores) / len(scores))
