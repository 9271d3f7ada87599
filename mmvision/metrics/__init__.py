"""mmvision.metrics: caption and classification metrics (pure Python / numpy).

Caption metrics score token lists; ``caption_metrics`` tokenises strings with
``mmvision.data.text.tokenize`` and returns the flat dict a run's
``metrics.json`` holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mmvision.metrics.bleu import corpus_bleu
from mmvision.metrics.cider import cider_d
from mmvision.metrics.classification import (
    confusion_matrix,
    per_class_accuracy,
    top_k_accuracy,
)
from mmvision.metrics.rouge import corpus_rouge_l, lcs_length, rouge_l


def caption_metrics(
    references_list: Sequence[Sequence[Any]], hypotheses: Sequence[Any]
) -> dict[str, float]:
    """BLEU-1..4, ROUGE-L and CIDEr-D of a caption corpus as one flat dict.

    Captions given as strings are tokenised with
    ``mmvision.data.text.tokenize`` (the vocabulary's cleaning); token lists
    are used as they are.

    Returns:
        ``{"bleu1", "bleu2", "bleu3", "bleu4", "rouge_l", "cider_d"}`` floats.

    Example:
    >>> m = caption_metrics([["A red circle.", "red circle"]], ["a red circle"])
    >>> m["bleu1"], m["rouge_l"]
    (1.0, 1.0)
    """
    from mmvision.data.text import tokenize

    def toks(x: Any) -> Any:
        return tokenize(x) if isinstance(x, (str, bytes)) or x is None else x

    if isinstance(references_list, (str, bytes)) or isinstance(
        hypotheses, (str, bytes)
    ):
        raise ValueError("references_list and hypotheses must be lists")
    refs = [
        [toks(r) for r in refs]
        if not isinstance(refs, (str, bytes))
        else refs  # check_corpus names the bad entry
        for refs in references_list
    ]
    hyps = [toks(h) for h in hypotheses]
    out = dict(corpus_bleu(refs, hyps))
    out["rouge_l"] = corpus_rouge_l(refs, hyps)
    out["cider_d"] = cider_d(refs, hyps)[0]
    return out


__all__ = [
    "caption_metrics",
    "cider_d",
    "confusion_matrix",
    "corpus_bleu",
    "corpus_rouge_l",
    "lcs_length",
    "per_class_accuracy",
    "rouge_l",
    "top_k_accuracy",
]
