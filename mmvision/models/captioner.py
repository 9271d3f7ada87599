"""The CNN-LSTM "merge" captioner, its masked loss and its decoding step.

Architecture (the Flickr8k Keras reference)::

    image features [B, D] -> Dropout -> Dense(units, relu) ------------.
    tokens [B, T] -> Embedding(mask_zero) -> Dropout -> LSTM(units) --> add
        -> Dense(units, relu) -> Dense(vocab) -> softmax

Trained with *sequence targets* (default): the LSTM returns every step, so
one example is one caption, ``tokens_in = [startseq, w1 .. wn]`` and
``tokens_out = [w1 .. wn, endseq]`` padded with 0, and the loss is the mean
cross entropy over non-padding positions. ``per_word=True`` builds the
reference's variant instead (LSTM returns its last step; one example per
word prefix, a scalar next-word target); both variants have the same layers
and weights, so weights move between them with ``set_weights``.

Inputs are named after the feature-dict keys: ``"image_features"`` (cached
features) or ``"image"`` (raw pixels [0, 255], end to end through a tower
layer named ``"image_tower"``), and ``"tokens_in"``. The sequence model takes
tokens of any length up to ``max_len`` (``[B, None]``), so training batches
padded only to their longest caption cost what their captions cost; the
per-word model keeps the reference's fixed ``[B, max_len]`` prefixes.

Example:
>>> model = build_captioner(vocab_size=50, max_len=8, feature_dim=128)
>>> sorted(model.input)  # doctest: +SKIP
['image_features', 'tokens_in']
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers, ops

from mmvision.models.names import IMAGE_INPUT
from mmvision.models.names import IMAGE_TOWER as TOWER_LAYER

FEATURES_INPUT = "image_features"
TOKENS_INPUT = "tokens_in"


@keras.saving.register_keras_serializable(package="mmvision")
class MergeAdd(keras.layers.Layer):
    """Adds image features ``[B, U]`` to every step of a sequence ``[B, T, U]``.

    With a ``[B, U]`` sequence output (per-word model) it is a plain add.
    The output carries no Keras mask: the caption loss masks padding from
    the targets itself, and a mask on the output makes Keras weight that
    loss a second time (measured on the demo world: the decoder then
    early-stopped about 8 epochs sooner and lost 0.025 beam BLEU-4).
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, features, sequence):
        if len(sequence.shape) == 3:
            features = ops.expand_dims(features, 1)
        return features + sequence

    def compute_mask(self, features, sequence=None, mask=None):
        return None

    def compute_output_shape(self, features_shape, sequence_shape):
        return tuple(sequence_shape)


def masked_sparse_categorical_crossentropy(y_true: Any, y_pred: Any) -> Any:
    """Per-position cross entropy with padding (``y_true == 0``) set to 0.

    ``y_true`` int ``[B, T]`` (or ``[B]``), ``y_pred`` probabilities
    ``[B, T, V]`` (or ``[B, V]``). Returns a tensor shaped like ``y_true``.
    """
    y_true = ops.cast(y_true, "int32")
    ce = keras.losses.sparse_categorical_crossentropy(y_true, y_pred)
    mask = ops.cast(ops.not_equal(y_true, 0), ce.dtype)
    return ce * mask


@keras.saving.register_keras_serializable(package="mmvision")
class MaskedSparseCategoricalCrossentropy(keras.losses.Loss):
    """Mean cross entropy over the non-padding target tokens of a batch.

    ``sum(ce * mask) / sum(mask)``: every real token of the batch weighs the
    same, whichever caption it belongs to, as in the per-word table where
    every row is one token. Works for sequence (``[B, T]``) and per-word
    (``[B]``) targets.
    """

    def __init__(self, name: str = "masked_sparse_categorical_crossentropy", **kwargs):
        kwargs.pop("reduction", None)
        super().__init__(name=name, reduction="sum", **kwargs)

    def call(self, y_true, y_pred):
        per_token = masked_sparse_categorical_crossentropy(y_true, y_pred)
        count = ops.sum(
            ops.cast(ops.not_equal(ops.cast(y_true, "int32"), 0), per_token.dtype)
        )
        return per_token / ops.maximum(count, 1.0)

    def get_config(self):
        config = {"name": self.name}
        if self.dtype is not None:
            config["dtype"] = self.dtype
        return config


def build_captioner(
    vocab_size: int,
    max_len: int | None = 32,
    feature_dim: int | None = None,
    image_tower: keras.Model | None = None,
    embed_dim: int = 256,
    units: int = 256,
    dropout: float = 0.5,
    per_word: bool = False,
    name: str = "captioner",
) -> keras.Model:
    """Builds the merge captioner (see the module docstring).

    Args:
        vocab_size: output classes (``len(vocabulary)``).
        max_len: the per-word model's fixed prefix length ``T``; the
            sequence model takes tokens ``[B, None]`` of any length (batches
            padded to ``max_len`` or to their longest caption), so there it
            is only checked.
        feature_dim: width of cached image features (input
            ``"image_features"``); give this or ``image_tower``.
        image_tower: a model raw pixels ``[H, W, 3]`` -> ``[D]`` (input
            ``"image"``), trained with the caption loss unless frozen;
            it is renamed ``"image_tower"``.
        embed_dim, units, dropout: layer sizes and dropout rate.
        per_word: the reference's per-word model (``[B, V]`` output).

    Returns:
        A functional ``keras.Model`` ``{image|image_features, tokens_in}`` ->
        probabilities ``[B, T, V]`` (``[B, V]`` with ``per_word``).
    """
    if (feature_dim is None) == (image_tower is None):
        raise ValueError("give exactly one of feature_dim and image_tower")
    if int(vocab_size) < 5:
        raise ValueError(f"vocab_size must be >= 5, got {vocab_size}")
    if per_word and max_len is None:
        raise ValueError("a per-word captioner needs max_len (its prefix length)")
    if max_len is not None and int(max_len) < 2:
        raise ValueError(f"max_len must be >= 2, got {max_len}")
    if image_tower is not None:
        shape = tuple(image_tower.input_shape[1:])
        image_in = keras.Input(shape=shape, name=IMAGE_INPUT)
        image_tower.name = TOWER_LAYER
        feats = image_tower(image_in)
    else:
        image_in = keras.Input(shape=(int(feature_dim),), name=FEATURES_INPUT)
        feats = image_in
    length = int(max_len) if per_word else None
    tokens_in = keras.Input(shape=(length,), dtype="int32", name=TOKENS_INPUT)

    f = layers.Dropout(dropout, name="feature_dropout")(feats)
    f = layers.Dense(units, activation="relu", name="feature_dense")(f)
    s = layers.Embedding(vocab_size, embed_dim, mask_zero=True, name="embedding")(
        tokens_in
    )
    s = layers.Dropout(dropout, name="token_dropout")(s)
    s = layers.LSTM(units, return_sequences=not per_word, name="lstm")(s)
    x = MergeAdd(name="merge")(f, s)
    x = layers.Dense(units, activation="relu", name="decoder_dense")(x)
    x = layers.Dense(vocab_size, name="logits")(x)
    probs = layers.Activation("softmax", dtype="float32", name="probs")(x)
    return keras.Model(
        {image_in.name: image_in, TOKENS_INPUT: tokens_in}, probs, name=name
    )


def convert_captioner(
    model: keras.Model, per_word: bool, max_len: int | None = None
) -> keras.Model:
    """The same captioner with the other output mode, sharing no weights (copied).

    ``max_len`` is the per-word model's prefix length; it defaults to the
    token input length of ``model`` and is required when converting a
    sequence model (which takes any length) to per-word.
    """
    tower = image_tower_of(model)
    lstm = model.get_layer("lstm")
    max_len = max_len or model.input[TOKENS_INPUT].shape[1]
    if per_word and not max_len:
        raise ValueError(
            "convert_captioner: give max_len (the per-word prefix length); the "
            "sequence model takes tokens of any length"
        )
    kwargs = dict(
        vocab_size=model.get_layer("logits").units,
        max_len=max_len,
        embed_dim=model.get_layer("embedding").output_dim,
        units=lstm.units,
        dropout=model.get_layer("feature_dropout").rate,
        per_word=per_word,
        name=model.name,
    )
    if tower is not None:
        tower = keras.models.clone_model(tower)
        kwargs["image_tower"] = tower
    else:
        kwargs["feature_dim"] = model.input[FEATURES_INPUT].shape[-1]
    other = build_captioner(**kwargs)
    other.set_weights(model.get_weights())
    return other


def image_tower_of(model: keras.Model) -> keras.Model | None:
    """The ``"image_tower"`` layer of an end-to-end captioner, else None."""
    try:
        return model.get_layer(TOWER_LAYER)
    except ValueError:
        return None


class CaptionerInference:
    """The decoding view of a trained captioner: one LSTM step at a time.

    ``initial_state(features)`` and ``step(tokens, state)`` follow the
    ``mmvision.decoding`` step-function contract; they reuse the model's
    layers (no copy), so the step probabilities equal the full model's
    output at every position.

    Args:
        model: a model from ``build_captioner`` (either output mode).
    """

    def __init__(self, model: keras.Model):
        self.model = model
        self.tower = image_tower_of(model)
        self.feature_dense = model.get_layer("feature_dense")
        self.embedding = model.get_layer("embedding")
        self.lstm = model.get_layer("lstm")
        self.decoder_dense = model.get_layer("decoder_dense")
        self.logits = model.get_layer("logits")
        self.units = self.lstm.units
        self.vocab_size = self.logits.units

    @property
    def image_shape(self) -> tuple[int, ...] | None:
        return None if self.tower is None else tuple(self.tower.input_shape[1:])

    def image_features(self, images: Any) -> Any:
        """Tower features of raw-pixel images (end-to-end models only)."""
        if self.tower is None:
            raise ValueError("this captioner takes cached features, not images")
        return self.tower(images, training=False)

    def initial_state(self, features: Any) -> dict[str, Any]:
        feats = self.feature_dense(ops.convert_to_tensor(features, "float32"))
        zeros = ops.zeros_like(feats[:, :1]) * ops.zeros((1, self.units))
        return {"image": feats, "h": zeros, "c": zeros}

    def step(self, tokens: Any, state: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        x = ops.take(self.embedding.embeddings, ops.cast(tokens, "int32"), axis=0)
        h, (h2, c2) = self.lstm.cell(x, [state["h"], state["c"]], training=False)
        y = self.decoder_dense(state["image"] + h)
        log_probs = ops.log_softmax(ops.cast(self.logits(y), "float32"), axis=-1)
        return log_probs, {"image": state["image"], "h": h2, "c": c2}


@keras.saving.register_keras_serializable(package="mmvision")
class MaskedNextWordAccuracy(keras.metrics.Metric):
    """Share of real (non-padding) target tokens predicted exactly: the
    next-word accuracy of sequence (``[B, T]``) and per-word (``[B]``) targets."""

    def __init__(self, name: str = "accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.correct = self.add_variable(shape=(), initializer="zeros", name="correct")
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, "int32")
        pred = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
        mask = ops.cast(ops.not_equal(y_true, 0), "float32")
        hits = ops.cast(ops.equal(y_true, pred), "float32") * mask
        self.correct.assign_add(ops.sum(hits))
        self.total.assign_add(ops.sum(mask))

    def result(self):
        return self.correct / ops.maximum(self.total, 1.0)

    def reset_state(self):
        self.correct.assign(0.0)
        self.total.assign(0.0)
