"""Corpus BLEU, computed exactly as ``nltk.translate.bleu_score.corpus_bleu``.

Which BLEU: nltk's corpus BLEU (Papineni et al. 2002, micro-averaged modified
n-gram precisions, brevity penalty against the closest reference length, ties
to the shorter reference), on a 0-1 scale, on whatever tokens the caller
passes. mmvision scores captions tokenised by ``mmvision.data.text.tokenize``
(lowercase, no punctuation, no digits, no one-letter words), so its figures are
not comparable with sacrebleu (13a tokeniser, 0-100) or pycocoevalcap (PTB
tokeniser) figures.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Sequence

_SMOOTHING = (None, "method1", "method2")


def check_tokens(tokens: object, what: str) -> list[str]:
    """Returns ``tokens`` as a list of str; refuses a bare string."""
    if isinstance(tokens, (str, bytes)):
        raise ValueError(
            f"{what} must be a list of tokens, got a string {tokens[:40]!r}; "
            "tokenise it first (mmvision.data.text.tokenize)"
        )
    try:
        return [str(t) for t in tokens]  # type: ignore[union-attr]
    except TypeError:
        raise ValueError(
            f"{what} must be a list of tokens, got {type(tokens).__name__}"
        ) from None


def check_corpus(
    references: Sequence[Sequence[Sequence[str]]],
    hypotheses: Sequence[Sequence[str]],
) -> tuple[list[list[list[str]]], list[list[str]]]:
    """Validates a (references, hypotheses) corpus of token lists.

    Raises:
        ValueError: lengths differ (both are named), an example has no
            reference, or a caption is a bare string instead of tokens.
    """
    if isinstance(references, (str, bytes)) or isinstance(hypotheses, (str, bytes)):
        raise ValueError("references and hypotheses must be lists, not strings")
    references, hypotheses = list(references), list(hypotheses)
    if len(references) != len(hypotheses):
        raise ValueError(
            f"references and hypotheses differ in length: {len(references)} "
            f"reference sets vs {len(hypotheses)} hypotheses"
        )
    if not hypotheses:
        raise ValueError("empty corpus: no hypotheses to score")
    refs_out, hyps_out = [], []
    for i, (refs, hyp) in enumerate(zip(references, hypotheses)):
        if isinstance(refs, (str, bytes)):
            raise ValueError(
                f"references[{i}] must be a list of token lists, got a string"
            )
        refs = [check_tokens(r, f"references[{i}][{j}]") for j, r in enumerate(refs)]
        if not refs:
            raise ValueError(f"references[{i}] is empty: each example needs >= 1")
        refs_out.append(refs)
        hyps_out.append(check_tokens(hyp, f"hypotheses[{i}]"))
    return refs_out, hyps_out


def _ngrams(tokens: Sequence[str], n: int) -> collections.Counter:
    return collections.Counter(
        tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)
    )


def corpus_bleu(
    references: Sequence[Sequence[Sequence[str]]],
    hypotheses: Sequence[Sequence[str]],
    max_n: int = 4,
    weights: Sequence[float] | None = None,
    smoothing: str | None = None,
) -> dict[str, float]:
    """Cumulative corpus BLEU-1..BLEU-``max_n`` (as reported for Flickr8k).

    ``bleuN`` is BLEU with uniform weights ``1/N`` over orders 1..N, i.e.
    nltk ``corpus_bleu`` with weights ``(1, 0, 0, 0)``, ``(.5, .5, 0, 0)``,
    ``(1/3, 1/3, 1/3, 0)``, ``(.25, .25, .25, .25)``; the result agrees with
    nltk to ~1e-15. Tokens are whatever the caller passes (mmvision passes
    ``mmvision.data.text.tokenize`` output); see the module docstring.

    Conventions copied from nltk:

    - an n-gram order whose hypothesis count is 0 in a sentence (empty
      hypothesis, or shorter than n) still adds 1 to that order's
      denominator;
    - without smoothing, a used order with no matching n-gram makes the
      score 0 (nltk returns ~1e-77 there, from ``log(sys.float_info.min)``;
      this returns exactly 0.0), and no unigram match at all makes every
      score 0 (even with smoothing);
    - the brevity penalty is 0 when all hypotheses are empty.

    Args:
        references: per example, a list of reference token lists.
        hypotheses: per example, a token list.
        max_n: highest cumulative order reported (``bleu1``..``bleu{max_n}``).
        weights: optional extra weights (w1, w2, ...): adds key ``"bleu"``.
        smoothing: ``None``, ``"method1"`` (nltk: add 0.1 to zero
            numerators) or ``"method2"`` (nltk: add 1 to numerator and
            denominator of orders >= 2).

    Returns:
        ``{"bleu1": ..., ..., f"bleu{max_n}": ...}`` (plus ``"bleu"``).

    Example:
    >>> refs = [[["dog", "runs", "on", "grass"]]]
    >>> round(corpus_bleu(refs, [["dog", "runs", "on", "grass"]])["bleu4"], 6)
    1.0
    """
    if int(max_n) < 1:
        raise ValueError(f"max_n must be >= 1, got {max_n}")
    max_n = int(max_n)
    if smoothing not in _SMOOTHING:
        raise ValueError(f"unknown smoothing {smoothing!r}; valid: {list(_SMOOTHING)}")
    if weights is not None:
        weights = [float(w) for w in weights]
        if not weights or any(w < 0 for w in weights):
            raise ValueError(f"weights must be non-empty and >= 0, got {weights}")
    refs_all, hyps = check_corpus(references, hypotheses)
    orders = max(max_n, len(weights) if weights else 0)

    numerators = [0] * (orders + 1)
    denominators = [0] * (orders + 1)
    hyp_len_total = ref_len_total = 0
    for refs, hyp in zip(refs_all, hyps):
        for n in range(1, orders + 1):
            counts = _ngrams(hyp, n)
            max_ref: dict[tuple, int] = {}
            for ref in refs:
                ref_counts = _ngrams(ref, n)
                for gram in counts:
                    max_ref[gram] = max(max_ref.get(gram, 0), ref_counts[gram])
            numerators[n] += sum(min(c, max_ref[g]) for g, c in counts.items())
            denominators[n] += max(1, sum(counts.values()))
        hyp_len = len(hyp)
        hyp_len_total += hyp_len
        ref_len_total += min(
            (len(r) for r in refs), key=lambda r: (abs(r - hyp_len), r)
        )

    if hyp_len_total > ref_len_total:
        bp = 1.0
    elif hyp_len_total == 0:
        bp = 0.0
    else:
        bp = math.exp(1 - ref_len_total / hyp_len_total)

    # Smoothed precisions, None where the order has no match (-> score 0).
    precisions: list[float | None] = [None]
    for n in range(1, orders + 1):
        num, den = numerators[n], denominators[n]
        if smoothing == "method2" and n > 1:
            num, den = num + 1, den + 1
        elif smoothing == "method1" and num == 0:
            precisions.append(0.1 / den)
            continue
        precisions.append(num / den if num > 0 else None)

    def score(w: Sequence[float]) -> float:
        if numerators[1] == 0:
            return 0.0
        terms = []
        for n, w_n in enumerate(w, start=1):
            p = precisions[n]
            if p is None:
                if w_n > 0:
                    return 0.0
                continue
            terms.append(w_n * math.log(p))
        return bp * math.exp(math.fsum(terms))

    out = {f"bleu{n}": score([1.0 / n] * n) for n in range(1, max_n + 1)}
    if weights is not None:
        out["bleu"] = score(weights)
    return out
