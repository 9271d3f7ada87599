"""Caption text: cleaning, tokenisation and the reserved caption tokens.

Cleaning follows the reference Flickr8k Keras captioning tutorial: lowercase,
punctuation removed, words holding a digit dropped, one-letter words dropped
("a", and the "s" left over from "dog's" -> "dog s" in some token files).
Captions are wrapped as ``"startseq ... endseq"`` for teacher forcing.

The reserved tokens and their ids (``PAD_ID, UNK_ID, START_ID, END_ID`` =
0..3) are defined here; the ``Vocabulary`` built from them lives in
``mmvision.data.vocabulary``.

This module is pure Python.
"""

from __future__ import annotations

import math
import numbers
import string
import unicodedata
from typing import Any

PAD_TOKEN = ""
UNK_TOKEN = "[UNK]"
START_TOKEN = "startseq"
END_TOKEN = "endseq"
#: The reserved tokens, in id order (ids 0..3).
RESERVED_TOKENS = (PAD_TOKEN, UNK_TOKEN, START_TOKEN, END_TOKEN)
PAD_ID, UNK_ID, START_ID, END_ID = 0, 1, 2, 3
#: How the padding token is spelled on line 0 of ``vocab.txt``.
PAD_FILE_TOKEN = "[PAD]"

_ASCII_PUNCT = set(string.punctuation)


def _is_punct(ch: str) -> bool:
    return ch in _ASCII_PUNCT or unicodedata.category(ch).startswith("P")


def _is_missing(text: Any) -> bool:
    """None, float NaN (Python or numpy) and pandas.NA / NaT count as missing."""
    if text is None or type(text).__name__ in ("NAType", "NaTType"):
        return True
    if isinstance(text, numbers.Real) and not isinstance(text, bool):
        return math.isnan(float(text))
    return False


def clean_caption(text: Any) -> str:
    """Cleans one caption the way the Flickr8k Keras captioning tutorial does.

    Splits on whitespace, lowercases, removes punctuation characters inside
    words (ASCII ``string.punctuation`` and Unicode punctuation: "dog's" ->
    "dogs", "t-shirt" -> "tshirt"), then drops words that are empty, one
    letter long ("a", "s") or not purely alphabetic (so numbers and words
    holding a digit, "2", "3rd", "mp3", go), and joins the rest with single
    spaces.

    Args:
        text: a caption; ``None``, NaN and ``pandas.NA`` give ``""``;
            ``bytes`` are decoded as UTF-8 (invalid bytes replaced).

    Returns:
        The cleaned caption (possibly ``""``).

    Example:
    >>> clean_caption("A dog's 2 red balls, on the grass!")
    'dogs red balls on the grass'
    """
    if _is_missing(text):
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    words = []
    for word in str(text).lower().split():
        word = "".join(ch for ch in word if not _is_punct(ch))
        if len(word) > 1 and word.isalpha():
            words.append(word)
    return " ".join(words)


def tokenize(text: Any) -> list[str]:
    """``clean_caption(text).split()``: the tokens every mmvision metric scores."""
    return clean_caption(text).split()


def wrap(text: Any) -> str:
    """Cleans ``text`` and wraps it as ``"startseq ... endseq"``."""
    return " ".join([START_TOKEN, *tokenize(text), END_TOKEN])


__all__ = [
    "END_ID",
    "END_TOKEN",
    "PAD_FILE_TOKEN",
    "PAD_ID",
    "PAD_TOKEN",
    "RESERVED_TOKENS",
    "START_ID",
    "START_TOKEN",
    "UNK_ID",
    "UNK_TOKEN",
    "clean_caption",
    "tokenize",
    "wrap",
]
