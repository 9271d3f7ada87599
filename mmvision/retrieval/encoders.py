"""Caption encoders: texts -> L2-normalised float32 vectors, by spec string.

- ``"tfidf"``: a scikit-learn ``TfidfVectorizer`` over ``mmvision.data.text``
  tokens (word unigrams and bigrams, sublinear tf); learns its vocabulary and
  idf in ``fit`` and saves them as JSON.
- ``"minilm"``: the offline all-MiniLM-L6-v2 sentence encoder (384-d).
- ``"hub:<dir>"``: a local TF Hub text SavedModel (Universal Sentence Encoder
  style: strings -> vectors) through ``HubTextEncoder``.

Every encoder returns ``[N, dim]`` float32 rows of unit L2 norm; a row with
nothing to encode (an empty or blank text, or, for tfidf, only unknown
tokens) is all zeros. ``fingerprint()`` identifies the encoder's state (tfidf
vocabulary and idf, model weights), and ``save`` / ``load_encoder`` write and
read ``encoder.json``. TensorFlow is imported only when a neural encoder is
built.

Example:
>>> enc = get_encoder("tfidf").fit(["a red circle", "a blue square"])
>>> enc.encode(["red circle"]).shape
(1, 6)
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmvision.utils import stable_hash, write_json_atomic

ENCODERS = ("tfidf", "minilm", "hub:<dir>")  #: the valid encoder specs
ENCODER_FILE = "encoder.json"  #: what ``save`` writes and ``load_encoder`` reads
_FORMAT_VERSION = 1


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, (str, bytes)):
        raise TypeError("texts must be a sequence of str, not a single string")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] is {type(text).__name__}, expected str")
    return texts


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)  # zero rows stay zero
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)


class CaptionEncoder:
    """Base class: maps captions to ``[N, dim]`` unit-norm float32 vectors.

    Subclasses implement ``dim``, ``_encode_batch`` (non-blank texts -> float
    array) and ``fingerprint``, and set ``spec`` and ``_options``.
    """

    spec: str = ""
    _options: dict[str, Any] = {}

    @property
    def dim(self) -> int:
        """Output dimension."""
        raise NotImplementedError

    @property
    def options(self) -> dict[str, Any]:
        """JSON-able keyword options that ``get_encoder(spec, **options)`` takes."""
        return dict(self._options)

    def fit(self, texts: Sequence[str]) -> CaptionEncoder:
        """Learns from ``texts`` (a no-op for pre-trained encoders); returns self."""
        _check_texts(texts)
        return self

    def encode(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """Encodes ``texts`` in batches: float32 ``[N, dim]``, unit-norm rows
        (all zeros where there is nothing to encode).

        Raises:
            TypeError: ``texts[i]`` is not a ``str`` (the message names ``i``).
        """
        texts, batch_size = _check_texts(texts), int(batch_size)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        out = np.zeros((len(texts), self.dim), np.float32)
        rows = np.flatnonzero([bool(t.strip()) for t in texts])
        for start in range(0, len(rows), batch_size):
            idx = rows[start : start + batch_size]
            out[idx] = _unit_rows(self._encode_batch([texts[i] for i in idx]))
        return out

    def _encode_batch(self, texts: list[str]) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def fingerprint(self) -> str:
        """16 hex digits identifying the encoder's spec, options and state."""
        raise NotImplementedError

    def _state(self) -> dict[str, Any]:
        return {}

    def save(self, directory: str | os.PathLike) -> None:
        """Writes ``encoder.json`` (``FileNotFoundError`` if ``directory`` does
        not exist) atomically; tfidf adds its vocabulary and idf."""
        directory = Path(directory)
        if not directory.is_dir():
            raise FileNotFoundError(f"{directory}: no such directory")
        record = {
            "format_version": _FORMAT_VERSION,
            "spec": self.spec,
            "fingerprint": self.fingerprint(),
            "dim": self.dim,
            "options": self.options,
            **self._state(),
        }
        write_json_atomic(directory / ENCODER_FILE, record)


class TfidfEncoder(CaptionEncoder):
    """TF-IDF of ``mmvision.data.text`` tokens (scikit-learn ``TfidfVectorizer``).

    Args:
        ngram_range: word n-gram orders ``(min_n, max_n)``.
        sublinear_tf: use ``1 + log(tf)``.
        min_df: ignore terms in fewer documents (int) or a smaller fraction.
        max_features: keep only the most frequent terms.
    """

    spec = "tfidf"

    def __init__(
        self,
        ngram_range: Sequence[int] = (1, 2),
        sublinear_tf: bool = True,
        min_df: int | float = 1,
        max_features: int | None = None,
    ):
        self._options = {
            "ngram_range": [int(ngram_range[0]), int(ngram_range[1])],
            "sublinear_tf": bool(sublinear_tf),
            "min_df": min_df,
            "max_features": max_features,
        }
        self._vectorizer = None

    def _make_vectorizer(self, vocabulary: dict[str, int] | None = None):
        from sklearn.feature_extraction.text import TfidfVectorizer

        from mmvision.data.text import tokenize

        opts = dict(self._options)
        opts["ngram_range"] = tuple(opts["ngram_range"])
        return TfidfVectorizer(
            tokenizer=tokenize, lowercase=False, token_pattern=None, **opts
        ).set_params(vocabulary=vocabulary)

    def _fitted(self):
        if self._vectorizer is None:
            raise RuntimeError("the tfidf encoder is not fitted: call fit(texts)")
        return self._vectorizer

    def fit(self, texts: Sequence[str]) -> TfidfEncoder:
        """Learns the vocabulary and idf from ``texts``.

        Raises:
            ValueError: no term survives tokenisation and ``min_df``.
        """
        texts = _check_texts(texts)
        try:
            self._vectorizer = self._make_vectorizer().fit(texts)
        except ValueError as err:
            raise ValueError(f"tfidf encoder: cannot fit: {err}") from err
        return self

    @property
    def dim(self) -> int:
        """Vocabulary size (``RuntimeError`` before ``fit``)."""
        return len(self._fitted().vocabulary_)

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        return self._fitted().transform(texts).toarray()

    def _state(self) -> dict[str, Any]:
        vec = self._fitted()
        vocabulary = [""] * len(vec.vocabulary_)
        for term, index in vec.vocabulary_.items():
            vocabulary[int(index)] = term
        return {"vocabulary": vocabulary, "idf": np.asarray(vec.idf_).tolist()}

    def fingerprint(self) -> str:
        state = {"spec": self.spec, "options": self.options, **self._state()}
        payload = json.dumps(state, sort_keys=True).encode("utf-8")
        return hashlib.sha256(payload).hexdigest()[:16]

    @classmethod
    def _from_state(cls, options: dict, vocabulary: list, idf: list) -> TfidfEncoder:
        if len(vocabulary) != len(idf) or len(set(vocabulary)) != len(vocabulary):
            raise ValueError("vocabulary and idf do not match")
        encoder = cls(**options)
        vec = encoder._make_vectorizer({t: i for i, t in enumerate(vocabulary)})
        vec.idf_ = np.asarray(idf, np.float64)
        encoder._vectorizer = vec
        return encoder


class MiniLMEncoder(CaptionEncoder):
    """The frozen all-MiniLM-L6-v2 sentence encoder (384-d), built on first use.

    Args:
        sequence_length: word-piece tokens per text (longer texts are cut).
    """

    spec = "minilm"

    def __init__(self, sequence_length: int = 32):
        self.sequence_length = int(sequence_length)
        self._options = {"sequence_length": self.sequence_length}
        self._layer = None
        self._fingerprint: str | None = None

    @property
    def dim(self) -> int:
        return 384

    @property
    def layer(self):
        """The Keras layer (strings ``[B]`` -> ``[B, 384]``), built once."""
        if self._layer is None:
            from mmvision.models.text_towers import minilm_encoder

            self._layer = minilm_encoder(sequence_length=self.sequence_length)
        return self._layer

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        import tensorflow as tf

        return np.asarray(self.layer(tf.constant(texts)))

    def fingerprint(self) -> str:
        """A hash of every weight (path, shape, dtype, bytes) and the length."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            for w in self.layer.weights:
                arr = np.ascontiguousarray(np.asarray(w.numpy()))
                h.update(f"{w.path}|{arr.shape}|{arr.dtype}".encode() + arr.tobytes())
            weights = h.hexdigest()
            self._fingerprint = stable_hash(self.spec, weights, self.sequence_length)
        return self._fingerprint


def _saved_model_files(directory: Path) -> list[Path]:
    """The graph file, then the sorted ``variables/`` files ([] if no graph)."""
    names = ("saved_model.pb", "saved_model.pbtxt")
    files = [directory / n for n in names if (directory / n).is_file()]
    if files and (directory / "variables").is_dir():
        variables = (directory / "variables").rglob("*")
        files += sorted(p for p in variables if p.is_file())
    return files


class HubEncoder(CaptionEncoder):
    """A local TF Hub text SavedModel (strings ``[N]`` -> ``[N, D]``, Universal
    Sentence Encoder style) through ``HubTextEncoder``; never downloads.

    Args:
        directory: the SavedModel directory (``spec`` holds its absolute path).

    Raises:
        ValueError: ``directory`` does not exist or holds no ``saved_model.pb``.
    """

    def __init__(self, directory: str | os.PathLike):
        path = os.fspath(directory)
        self.directory = Path(os.path.abspath(os.path.expanduser(path)))
        if not self.directory.is_dir():
            raise ValueError(f"hub encoder {path!r}: no such directory")
        if not _saved_model_files(self.directory)[:1]:
            raise ValueError(f"hub encoder {path!r}: directory has no saved_model.pb")
        self.spec = f"hub:{self.directory}"
        self._layer = None
        self._fingerprint: str | None = None

    @property
    def layer(self):
        """The ``HubTextEncoder`` layer, loaded once."""
        if self._layer is None:
            from mmvision.layers.hub_text_encoder import HubTextEncoder

            self._layer = HubTextEncoder(str(self.directory))
        return self._layer

    @property
    def dim(self) -> int:
        return int(self.layer.output_dim)

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        import tensorflow as tf

        return np.asarray(self.layer(tf.constant(texts)))

    def fingerprint(self) -> str:
        """A hash of ``saved_model.pb`` and the ``variables/`` files' bytes."""
        if self._fingerprint is None:
            h = hashlib.sha256(b"hub")
            for file in _saved_model_files(self.directory):
                h.update(file.relative_to(self.directory).as_posix().encode() + b"\0")
                with open(file, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                h.update(b"\0")
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint


def get_encoder(spec: str, **options: Any) -> CaptionEncoder:
    """The encoder that ``spec`` (see ``ENCODERS``) names, built with ``options``.

    Raises:
        ValueError: an unknown spec, or a hub directory that does not exist.
    """
    if spec == "tfidf":
        return TfidfEncoder(**options)
    if spec == "minilm":
        return MiniLMEncoder(**options)
    if isinstance(spec, str) and spec.startswith("hub:") and len(spec) > 4:
        return HubEncoder(spec[4:], **options)
    raise ValueError(
        f"unknown caption encoder {spec!r}; valid specs: {', '.join(ENCODERS)}"
    )


def load_encoder(directory: str | os.PathLike) -> CaptionEncoder:
    """Reads ``directory/encoder.json`` written by ``CaptionEncoder.save``.

    A tfidf encoder is restored exactly from its vocabulary and idf; a minilm
    or hub encoder is re-created and must have the stored fingerprint.

    Raises:
        ValueError: the file is missing or corrupt, or the fingerprints differ
            (the message names the file).
    """
    path = Path(directory) / ENCODER_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        spec, stored = record["spec"], record["fingerprint"]
        options = record.get("options") or {}
        if not isinstance(spec, str) or not isinstance(options, dict):
            raise TypeError("'spec' must be a string and 'options' an object")
    except FileNotFoundError as err:
        raise ValueError(f"{path}: no such encoder file") from err
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: corrupt encoder file ({err!r})") from err
    try:
        if spec == "tfidf":
            vocabulary, idf = list(record["vocabulary"]), list(record["idf"])
            encoder = TfidfEncoder._from_state(options, vocabulary, idf)
        else:
            encoder = get_encoder(spec, **options)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: cannot restore encoder {spec!r}: {err!r}") from err
    actual = encoder.fingerprint()
    if actual != stored:
        raise ValueError(
            f"{path}: encoder fingerprint mismatch: the file says {stored}, the "
            f"re-created {spec!r} encoder has {actual}"
        )
    return encoder
