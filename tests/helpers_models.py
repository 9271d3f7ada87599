"""Shared helpers for model and layer tests.

- ``run_model_saving_test``: ``.keras`` save/load with no ``custom_objects``
  gives the same predictions.
- ``run_train_step``: one optimizer step of ``tower`` + Dense head changes the
  trainable weights and gives a finite loss.
- ``run_layer_test``: output shape, config round trip, ``.keras`` round trip
  of a layer inside a model.
- ``make_tiny_use`` / ``make_tiny_bert``: local TF SavedModels with the
  signatures of the Universal Sentence Encoder (strings -> ``[N, 512]``) and
  of a TF Hub BERT preprocessor + encoder pair.
- ``make_tiny_keras_hub_preset``: a tiny ``BertBackbone`` + ``BertTokenizer``
  written with ``save_to_preset``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import keras
import numpy as np

import mmvision.layers  # noqa: F401  (registers the layers for load_model)

TINY_VOCAB = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "a",
    "an",
    "the",
    "red",
    "green",
    "blue",
    "big",
    "small",
    "circle",
    "square",
    "triangle",
    "star",
    "on",
    "in",
    "of",
    "and",
    "white",
    "black",
    "background",
    "dog",
    "cat",
    ".",
]


def strings(texts) -> np.ndarray:
    """A numpy object array of strings (what Keras string inputs accept)."""
    return np.asarray(list(texts), dtype=object)


def predict(model: keras.Model, x):
    """``model.predict`` as a numpy array (a list of arrays for several outputs)."""
    out = model.predict(x, verbose=0, batch_size=64)
    if isinstance(out, (list, tuple)):
        return [np.asarray(o) for o in out]
    return np.asarray(out)


def run_model_saving_test(
    model: keras.Model,
    x,
    tmp_path: str | os.PathLike,
    atol: float = 1e-5,
    file_name: str = "model.keras",
) -> keras.Model:
    """Saves ``model`` to ``.keras``, reloads it with no ``custom_objects``.

    Asserts the reloaded model's predictions on ``x`` equal the original's
    (``atol``) and returns the reloaded model.
    """
    path = Path(tmp_path) / file_name
    expected = predict(model, x)
    model.save(path)
    loaded = keras.saving.load_model(path)
    got = predict(loaded, x)
    if not isinstance(expected, list):
        got, expected = [got], [expected]
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, atol=atol, rtol=0)
    assert [w.shape for w in loaded.weights] == [w.shape for w in model.weights]
    return loaded


def run_train_step(
    tower: keras.Model,
    x,
    num_classes: int = 3,
    seed: int = 0,
    run_eagerly: bool = False,
) -> float:
    """One ``train_on_batch`` of ``tower`` + ``Dense(num_classes)``.

    Asserts the loss is finite, that at least one trainable weight of the
    tower changed (if it has any) and that its non-trainable weights, apart
    from BatchNorm moving statistics, did not. Returns the loss.
    ``run_eagerly=True`` skips tracing the train step (minutes for the big
    ``keras.applications`` graphs on a busy CPU, under a second eagerly).
    """
    inputs = tower.input
    logits = keras.layers.Dense(num_classes, name="head")(tower.output)
    model = keras.Model(inputs, logits)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        run_eagerly=run_eagerly,
    )
    n = len(x) if not isinstance(x, dict) else len(next(iter(x.values())))
    y = np.random.default_rng(seed).integers(0, num_classes, size=(n,))
    tower_before = [np.array(w) for w in tower.trainable_weights]
    frozen_before = [np.array(w) for w in tower.non_trainable_weights]
    loss = float(np.asarray(model.train_on_batch(x, y)))
    assert np.isfinite(loss)
    changed = [
        not np.array_equal(b, np.array(w))
        for b, w in zip(tower_before, tower.trainable_weights)
    ]
    if tower_before:
        assert any(changed), "no trainable weight of the tower changed"
    # Non-trainable weights other than BatchNorm statistics stay fixed.
    for b, w in zip(frozen_before, tower.non_trainable_weights):
        if "moving" not in w.path:
            np.testing.assert_array_equal(b, np.array(w), err_msg=w.path)
    return loss


def run_layer_test(
    layer: keras.layers.Layer,
    input_data,
    expected_output_shape,
    tmp_path: str | os.PathLike,
    atol: float = 1e-6,
) -> None:
    """Checks a layer: output shape, from_config(get_config), .keras round trip."""
    out = layer(input_data)
    outs = out if isinstance(out, (list, tuple)) else [out]
    shapes = (
        expected_output_shape
        if isinstance(out, (list, tuple))
        else [expected_output_shape]
    )
    for o, s in zip(outs, shapes):
        assert tuple(o.shape) == tuple(s)
    config = layer.get_config()
    clone = layer.__class__.from_config(config)
    # serialize_keras_object turns nested objects left in configs into dicts.
    normalize = keras.saving.serialize_keras_object
    assert normalize(clone.get_config()) == normalize(config)
    serialized = keras.saving.serialize_keras_object(layer)
    again = keras.saving.deserialize_keras_object(serialized)
    assert type(again) is type(layer)
    # Inside a model, through a .keras file.
    if isinstance(input_data, (list, tuple)):
        inputs = [keras.Input(shape=np.shape(d)[1:]) for d in input_data]
    else:
        inputs = keras.Input(shape=np.shape(input_data)[1:], dtype=_dtype(input_data))
    model = keras.Model(inputs, layer(inputs))
    run_model_saving_test(
        model, input_data, tmp_path, atol=atol, file_name="layer.keras"
    )


def _dtype(x) -> str:
    a = np.asarray(x)
    return "string" if a.dtype == object else str(a.dtype)


# ---------------------------------------------------------------- TF Hub stand-ins


def _tf():
    import tensorflow as tf

    return tf


def make_tiny_use(path: str | os.PathLike, dim: int = 512, buckets: int = 97) -> str:
    """A SavedModel with the Universal Sentence Encoder's call signature.

    ``model(strings [N]) -> float32 [N, dim]``: the mean of hashed word
    embeddings, L2-normalised (zeros for an empty string).
    """
    tf = _tf()

    class TinyUSE(tf.Module):
        def __init__(self):
            super().__init__()
            self.table = tf.Variable(
                tf.random.stateless_normal([buckets, dim], seed=[1, 2]), name="table"
            )

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, texts):
            words = tf.strings.split(tf.strings.lower(texts))
            ids = tf.strings.to_hash_bucket_fast(words, buckets)
            vectors = tf.gather(self.table, ids)  # ragged [N, None, dim]
            total = tf.reduce_sum(vectors, axis=1)
            count = tf.cast(tf.maximum(words.row_lengths(), 1), tf.float32)
            mean = total / count[:, None]
            return tf.math.l2_normalize(mean, axis=-1)

    module = TinyUSE()
    tf.saved_model.save(module, os.fspath(path))
    return os.fspath(path)


def make_tiny_bert(
    path: str | os.PathLike,
    dim: int = 768,
    seq_len: int = 16,
    vocab: int = 50,
) -> tuple[str, str]:
    """A TF Hub BERT pair: ``(preprocessor_dir, encoder_dir)`` under ``path``.

    Preprocessor: strings ``[N]`` -> dict ``input_word_ids``, ``input_mask``,
    ``input_type_ids`` (int32 ``[N, seq_len]``; hashed word ids, [CLS]=1,
    [SEP]=2). Encoder: that dict -> dict ``pooled_output`` ``[N, dim]``
    (tanh of a projection of the masked mean), ``sequence_output``
    ``[N, seq_len, dim]``, like TF Hub's BERT encoders.
    """
    tf = _tf()
    path = Path(path)

    class TinyBertPreprocessor(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, texts):
            words = tf.strings.split(tf.strings.lower(texts))
            ids = tf.cast(
                tf.strings.to_hash_bucket_fast(words, vocab - 3) + 3, tf.int32
            )
            ids = ids[:, : seq_len - 2]
            n = tf.shape(texts)[0]
            cls = tf.fill([n, 1], 1)
            sep = tf.fill([n, 1], 2)
            ids = tf.concat([cls, ids, sep], axis=1)
            word_ids = ids.to_tensor(0, shape=[None, seq_len])
            mask = tf.cast(word_ids > 0, tf.int32)
            return {
                "input_word_ids": word_ids,
                "input_mask": mask,
                "input_type_ids": tf.zeros_like(word_ids),
            }

    spec = tf.TensorSpec([None, None], tf.int32)

    class TinyBertEncoder(tf.Module):
        def __init__(self):
            super().__init__()
            self.table = tf.Variable(
                tf.random.stateless_normal([vocab, dim], seed=[3, 4]), name="table"
            )
            self.pooler = tf.Variable(
                tf.random.stateless_normal([dim, dim], seed=[5, 6]) / dim**0.5,
                name="pooler",
            )

        @tf.function(
            input_signature=[
                {
                    "input_word_ids": spec,
                    "input_mask": spec,
                    "input_type_ids": spec,
                }
            ]
        )
        def __call__(self, inputs):
            seq = tf.gather(self.table, inputs["input_word_ids"])
            mask = tf.cast(inputs["input_mask"], tf.float32)[..., None]
            mean = tf.reduce_sum(seq * mask, axis=1) / tf.maximum(
                tf.reduce_sum(mask, axis=1), 1.0
            )
            pooled = tf.tanh(tf.matmul(mean, self.pooler))
            return {"pooled_output": pooled, "sequence_output": seq}

    pre_dir, enc_dir = path / "bert_preprocess", path / "bert_encoder"
    tf.saved_model.save(TinyBertPreprocessor(), os.fspath(pre_dir))
    tf.saved_model.save(TinyBertEncoder(), os.fspath(enc_dir))
    return os.fspath(pre_dir), os.fspath(enc_dir)


def make_tiny_keras_hub_preset(
    path: str | os.PathLike, hidden_dim: int = 16, **backbone_kwargs: Any
) -> str:
    """A tiny keras-hub BERT preset (backbone + tokenizer) saved to ``path``."""
    import keras_hub

    keras.utils.set_random_seed(0)
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=TINY_VOCAB, lowercase=True)
    config = dict(
        vocabulary_size=len(TINY_VOCAB),
        num_layers=1,
        num_heads=2,
        hidden_dim=hidden_dim,
        intermediate_dim=2 * hidden_dim,
        max_sequence_length=32,
    )
    config.update(backbone_kwargs)
    backbone = keras_hub.models.BertBackbone(**config)
    backbone.save_to_preset(os.fspath(path))
    tokenizer.save_to_preset(os.fspath(path))
    return os.fspath(path)
