"""The caption vocabulary: ``Vocabulary``, the word <-> id mapping.

Cleaning and tokenisation live in ``mmvision.data.text``; this module maps the
cleaned words to ids. ``Vocabulary`` is re-exported by ``mmvision.data.text``,
so ``mmvision.data.text.Vocabulary`` and ``mmvision.data.vocabulary.Vocabulary``
are the same class.

The ``Vocabulary`` reserves four ids, then lists words by descending count,
ties broken alphabetically, so building it twice from the same captions gives
the same ids:

====  ============  ===========================================
id    token         meaning
====  ============  ===========================================
0     ``""``        padding / mask (Keras ``mask_zero=True``)
1     ``[UNK]``     out-of-vocabulary word
2     ``startseq``  start of a caption
3     ``endseq``    end of a caption
====  ============  ===========================================

``vocab.txt`` holds one token per line, line ``i`` (from 0) is id ``i``. The
padding token, an empty string, is written as the literal line ``[PAD]`` so
that the file has no blank line (a blank line would be ambiguous with a
trailing newline or an editor's stray empty line); ``Vocabulary.load`` maps
``[PAD]`` on line 0 back to ``""``. Cleaned captions never contain ``[`` or
``]``, so ``[PAD]`` and ``[UNK]`` cannot collide with a word.

This module is pure Python; only ``Vocabulary.text_vectorization`` imports
Keras, lazily.
"""

from __future__ import annotations

import collections
import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from mmvision.data.text import (
    END_ID,
    END_TOKEN,
    PAD_FILE_TOKEN,
    PAD_ID,
    PAD_TOKEN,
    RESERVED_TOKENS,
    START_ID,
    START_TOKEN,
    UNK_ID,
    tokenize,
)
from mmvision.utils import write_text_atomic

__all__ = ["Vocabulary"]


def _iter_captions(captions: Iterable[Any]) -> Iterable[Any]:
    """Flattens one level of lists (a Manifest ``captions`` column)."""
    for item in captions:
        if isinstance(item, (list, tuple)) or (
            hasattr(item, "tolist") and not isinstance(item, (str, bytes))
        ):
            seq = item.tolist() if hasattr(item, "tolist") else item
            if isinstance(seq, list):
                yield from seq
                continue
        yield item


class Vocabulary:
    """The word <-> id mapping of a caption model.

    Ids 0-3 are ``""`` (padding), ``[UNK]``, ``startseq``, ``endseq``; words
    follow. Build one with ``Vocabulary.build`` from captions or
    ``Vocabulary.load`` from a ``vocab.txt``; ``fingerprint()`` identifies
    it, so a run can refuse a vocabulary that does not match its model.

    Args:
        tokens: every token in id order, starting with the four reserved ones.
        source: where the tokens came from, used in error messages.

    Example:
    >>> vocab = Vocabulary.build(["A dog runs.", "A dog sits."])
    >>> vocab.tokens
    ['', '[UNK]', 'startseq', 'endseq', 'dog', 'runs', 'sits']
    >>> vocab.encode("the dog runs")
    [2, 1, 4, 5, 3]
    >>> vocab.decode([2, 4, 5, 3, 0, 0])
    'dog runs'
    """

    def __init__(self, tokens: Sequence[str], source: str | None = None):
        tokens = [str(t) for t in tokens]
        where = f" in {source}" if source else ""
        if len(tokens) < len(RESERVED_TOKENS) or tuple(
            tokens[: len(RESERVED_TOKENS)]
        ) != tuple(RESERVED_TOKENS):
            raise ValueError(
                f"vocabulary{where} must start with the reserved tokens "
                f"{list(RESERVED_TOKENS)} (ids 0-3); got {tokens[:4]}"
            )
        index: dict[str, int] = {}
        for i, token in enumerate(tokens):
            if token in index:
                raise ValueError(
                    f"vocabulary{where} has the token {token!r} twice "
                    f"(ids {index[token]} and {i})"
                )
            if i >= len(RESERVED_TOKENS) and (
                token == "" or token != token.strip() or len(token.split()) != 1
            ):
                raise ValueError(
                    f"vocabulary{where}: token {i} ({token!r}) is empty or "
                    "holds whitespace"
                )
            index[token] = i
        self._tokens = tokens
        self._index = index
        self.source = source

    # ------------------------------------------------------------------ build
    @classmethod
    def build(
        cls,
        captions: Iterable[Any],
        min_count: int = 1,
        max_size: int | None = None,
        source: str | None = None,
    ) -> Vocabulary:
        """Builds a vocabulary from raw captions.

        Each caption goes through ``clean_caption``; a caption may also be a
        list of captions (a Manifest ``captions`` cell). ``startseq`` /
        ``endseq`` already in the captions are not counted as words.

        Args:
            captions: raw caption strings (or lists of them).
            min_count: keep words seen at least this many times.
            max_size: total size including the 4 reserved tokens; the most
                frequent words are kept. ``None`` keeps every word.
            source: named in errors, e.g. the caption file's path.

        Raises:
            ValueError: bad arguments, no captions, or no word left.
        """
        where = f" from {source}" if source else ""
        if isinstance(captions, (str, bytes)):
            raise ValueError(
                f"captions must be an iterable of captions, not one string{where}"
            )
        if int(min_count) < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        if max_size is not None and int(max_size) <= len(RESERVED_TOKENS):
            raise ValueError(
                f"max_size must be > {len(RESERVED_TOKENS)} (the reserved tokens "
                f"{list(RESERVED_TOKENS)} count towards it), got {max_size}"
            )
        counts: collections.Counter = collections.Counter()
        n_captions = 0
        for caption in _iter_captions(captions):
            n_captions += 1
            counts.update(
                w for w in tokenize(caption) if w not in (START_TOKEN, END_TOKEN)
            )
        if n_captions == 0:
            raise ValueError(f"cannot build a vocabulary{where}: no captions")
        if not counts:
            raise ValueError(
                f"cannot build a vocabulary{where}: {n_captions} captions but no "
                "word survives cleaning"
            )
        words = sorted(
            (w for w, c in counts.items() if c >= min_count),
            key=lambda w: (-counts[w], w),
        )
        if not words:
            top, top_count = min(counts.items(), key=lambda wc: (-wc[1], wc[0]))
            raise ValueError(
                f"cannot build a vocabulary{where}: no word occurs at least "
                f"min_count={min_count} times (most frequent: {top!r} x{top_count} "
                f"among {len(counts)} distinct words)"
            )
        if max_size is not None:
            words = words[: int(max_size) - len(RESERVED_TOKENS)]
        return cls([*RESERVED_TOKENS, *words], source=source)

    # ----------------------------------------------------------------- lookup
    @property
    def tokens(self) -> list[str]:
        """All tokens in id order (a copy)."""
        return list(self._tokens)

    @property
    def words(self) -> list[str]:
        """The tokens after the reserved ones."""
        return self._tokens[len(RESERVED_TOKENS) :]

    pad_id = PAD_ID
    unk_id = UNK_ID
    start_id = START_ID
    end_id = END_ID

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, word: object) -> bool:
        return word in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self._tokens == other._tokens

    def __hash__(self) -> int:
        return hash(tuple(self._tokens))

    def __repr__(self) -> str:
        return f"Vocabulary(size={len(self)}, fingerprint={self.fingerprint()!r})"

    def index(self, word: str) -> int:
        """The id of ``word``, or ``UNK_ID`` (1) when it is not in the vocabulary."""
        return self._index.get(word, UNK_ID)

    def token(self, idx: int) -> str:
        """The token with id ``idx``."""
        idx = int(idx)
        if not 0 <= idx < len(self._tokens):
            raise ValueError(f"id {idx} out of range [0, {len(self._tokens)})")
        return self._tokens[idx]

    def encode(
        self, text: Any, max_len: int | None = None, add_special: bool = True
    ) -> list[int]:
        """Cleans ``text`` and maps its words to ids.

        Args:
            text: a raw caption.
            max_len: when given, the ids are cut to ``max_len`` (from the end,
                so a long caption loses its ``endseq``) and right-padded with
                0 to exactly ``max_len``, as ``TextVectorization`` with
                ``output_sequence_length`` does.
            add_special: wrap the words in ``startseq`` / ``endseq``.

        Returns:
            A list of ids; unknown words map to ``UNK_ID``.
        """
        words = tokenize(text)
        ids = [self._index.get(w, UNK_ID) for w in words]
        if add_special:
            ids = [START_ID, *ids, END_ID]
        if max_len is not None:
            if int(max_len) < 1:
                raise ValueError(f"max_len must be >= 1, got {max_len}")
            max_len = int(max_len)
            ids = ids[:max_len] + [PAD_ID] * max(0, max_len - len(ids))
        return ids

    def decode(self, ids: Iterable[Any], strip_special: bool = True) -> str:
        """Maps ids back to a caption, stopping at the first ``endseq``.

        Padding ids (0) are skipped. With ``strip_special`` (default)
        ``startseq`` and ``endseq`` are left out; otherwise they are kept
        (``endseq`` still ends the caption). Unknown ids raise ``ValueError``.
        """
        if hasattr(ids, "numpy"):
            ids = ids.numpy()
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        words = []
        for raw in ids:
            idx = int(raw)
            if not 0 <= idx < len(self._tokens):
                raise ValueError(
                    f"id {idx} out of range for a vocabulary of {len(self)} tokens"
                )
            if idx == PAD_ID:
                continue
            if idx == END_ID:
                if not strip_special:
                    words.append(END_TOKEN)
                break
            if idx == START_ID and strip_special:
                continue
            words.append(self._tokens[idx])
        return " ".join(words)

    # ---------------------------------------------------------------- storage
    def to_text(self) -> str:
        """The ``vocab.txt`` content (see the module docstring)."""
        lines = [PAD_FILE_TOKEN, *self._tokens[1:]]
        return "\n".join(lines) + "\n"

    def save(self, path: str | os.PathLike) -> Path:
        """Writes ``vocab.txt`` atomically (one token per line, ``[PAD]`` first)."""
        path = Path(path)
        write_text_atomic(path, self.to_text())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocabulary:
        """Reads a ``vocab.txt`` written by ``save``.

        Raises:
            FileNotFoundError: the file does not exist.
            ValueError: the file is empty, not UTF-8, has a blank line, a
                duplicate token or lacks the reserved tokens (the message
                names the file and the line).
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"vocabulary file not found: {path}")
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(f"{path}: not UTF-8 text ({err})") from None
        if text.startswith("\ufeff"):
            text = text[1:]
        lines = text.splitlines()
        if not lines or all(not line.strip() for line in lines):
            raise ValueError(f"{path}: empty vocabulary file")
        tokens = []
        seen: dict[str, int] = {}
        for lineno, raw in enumerate(lines, start=1):
            line = raw.strip()
            if not line:
                raise ValueError(
                    f"{path}:{lineno}: blank line (the padding token is written "
                    f"as {PAD_FILE_TOKEN!r} on line 1)"
                )
            if line in seen:
                raise ValueError(
                    f"{path}:{lineno}: duplicate token {line!r} "
                    f"(first on line {seen[line]})"
                )
            seen[line] = lineno
            tokens.append(line)
        expected = [PAD_FILE_TOKEN, *RESERVED_TOKENS[1:]]
        if tokens[: len(expected)] != expected:
            raise ValueError(
                f"{path}: missing reserved tokens: the first {len(expected)} lines "
                f"must be {expected}, got {tokens[: len(expected)]}"
            )
        tokens[0] = PAD_TOKEN
        return cls(tokens, source=str(path))

    def fingerprint(self) -> str:
        """First 16 hex digits of the SHA-256 of the ``vocab.txt`` content.

        Equal fingerprints mean equal token lists (and ids); store it beside a
        model and check it with ``check_fingerprint`` before decoding.
        """
        return hashlib.sha256(self.to_text().encode("utf-8")).hexdigest()[:16]

    def check_fingerprint(self, expected: str, what: str = "the model") -> None:
        """Raises ``ValueError`` when this vocabulary is not the one ``what`` used."""
        if expected != self.fingerprint():
            src = f" ({self.source})" if self.source else ""
            raise ValueError(
                f"vocabulary{src} does not match {what}: fingerprint "
                f"{self.fingerprint()} (size {len(self)}) != expected {expected}"
            )

    # ------------------------------------------------------------------ keras
    def text_vectorization(self, max_len: int | None = None, **kwargs: Any) -> Any:
        """A ``keras.layers.TextVectorization`` giving the same ids as ``encode``.

        The layer is built with ``standardize=None`` and
        ``split="whitespace"``: it does not clean text, so it reproduces
        ``encode(text, add_special=False)`` only on text that is already
        cleaned — feed it ``clean_caption(x)`` (or ``wrap(x)`` to get
        ``startseq``/``endseq`` ids). Keras' default standardization
        (``lower_and_strip_punctuation``) would keep digits and one-letter
        words and so disagree with ``clean_caption``. The lookup (split +
        vocabulary table) runs in-graph, so the layer can sit inside an
        exported SavedModel. Index 0 is the mask token ``""`` and index 1 the
        OOV token ``[UNK]``, exactly as in this vocabulary.

        Args:
            max_len: ``output_sequence_length``: pad with 0 / truncate to it.
                ``None`` pads to the longest text of each batch.
            **kwargs: passed to ``TextVectorization`` (e.g. ``name``).
        """
        import keras

        return keras.layers.TextVectorization(
            standardize=None,
            split="whitespace",
            output_mode="int",
            output_sequence_length=max_len,
            vocabulary=self._tokens[2:],  # without mask and OOV: Keras adds them
            **kwargs,
        )
