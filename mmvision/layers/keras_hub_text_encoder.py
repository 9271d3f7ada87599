"""KerasHubTextEncoder: a keras-hub text backbone + its preprocessor as a layer."""

from __future__ import annotations

import os

import keras
from keras import ops

POOLINGS = ("pooled", "mean", "cls")


def _import_keras_hub():
    try:
        import keras_hub
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError(
            "keras-hub text towers need the `keras-hub` package: "
            "pip install 'mmvision[text]' (or pip install keras-hub)"
        ) from err
    return keras_hub


def _maybe_deserialize(obj):
    if isinstance(obj, dict):
        _import_keras_hub()  # registers the keras_hub classes
        return keras.saving.deserialize_keras_object(obj)
    return obj


@keras.saving.register_keras_serializable(package="mmvision")
class KerasHubTextEncoder(keras.layers.Layer):
    """Strings in, one vector per string out, through a keras-hub backbone.

    Wraps a keras-hub text preprocessor (tokenizer + packer, outputs
    ``token_ids`` / ``padding_mask`` / ``segment_ids``) and a backbone (e.g.
    ``BertBackbone``), and pools the backbone's outputs:

    - ``"pooled"``: the backbone's ``pooled_output`` (BERT's [CLS] + tanh
      pooler);
    - ``"mean"``: mean of ``sequence_output`` over non-padding tokens (the
      sentence-transformers pooling of all-MiniLM-L6-v2);
    - ``"cls"``: ``sequence_output[:, 0]``.

    Both sub-layers are serialized into the config and their weights and
    vocabulary into ``.keras`` files, so a saved model needs no preset
    directory to reload. ``exact_gelu=True`` replaces the tanh-approximated
    GELU that keras-hub's BERT uses in its feed-forward blocks with the exact
    one (what Hugging Face BERT models such as all-MiniLM-L6-v2 were trained
    with); it is re-applied on every construction, including when loading.

    Args:
        backbone: a keras-hub backbone (or its serialized config).
        preprocessor: a keras-hub preprocessor layer producing the backbone's
            inputs from strings (or its serialized config).
        pooling: one of ``"pooled"``, ``"mean"``, ``"cls"``.
        normalize: L2-normalise the output vectors.
        exact_gelu: use exact GELU in the transformer feed-forward layers.
        trainable: fine-tune the backbone (default ``False``: frozen).

    Example:

    ```python
    enc = KerasHubTextEncoder.from_preset("/models/bert_tiny", sequence_length=64)
    enc(tf.constant(["a dog on a beach"])).shape  # (1, hidden_dim)
    ```
    """

    def __init__(
        self,
        backbone,
        preprocessor,
        pooling: str = "pooled",
        normalize: bool = False,
        exact_gelu: bool = False,
        **kwargs,
    ):
        trainable = kwargs.pop("trainable", False)
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if pooling not in POOLINGS:
            raise ValueError(
                f"KerasHubTextEncoder: unknown pooling {pooling!r}; valid: "
                f"{', '.join(POOLINGS)}"
            )
        self.backbone = _maybe_deserialize(backbone)
        self.preprocessor = _maybe_deserialize(preprocessor)
        self.pooling = pooling
        self.normalize = bool(normalize)
        self.exact_gelu = bool(exact_gelu)
        if pooling == "pooled" and "pooled_output" not in _output_names(self.backbone):
            raise ValueError(
                f"KerasHubTextEncoder: backbone {type(self.backbone).__name__} has no "
                "'pooled_output'; use pooling='mean' or 'cls'"
            )
        if self.exact_gelu:
            set_exact_gelu(self.backbone)
        self.output_dim = int(self.backbone.hidden_dim)
        # Set after the sub-layers exist so that it reaches their variables.
        self.trainable = bool(trainable)
        self.built = True

    @classmethod
    def from_preset(
        cls,
        preset: str | os.PathLike,
        sequence_length: int = 128,
        pooling: str = "pooled",
        normalize: bool = False,
        exact_gelu: bool = False,
        tokenizer_kwargs: dict | None = None,
        **kwargs,
    ) -> KerasHubTextEncoder:
        """Builds the encoder from a local keras-hub or Hugging Face preset dir."""
        keras_hub = _import_keras_hub()
        preset = os.fspath(preset)
        if not os.path.isdir(preset):
            raise FileNotFoundError(
                f"keras-hub preset {preset!r}: no such directory (mmvision loads "
                "presets from local directories only, see save_to_preset)"
            )
        backbone = keras_hub.models.Backbone.from_preset(preset)
        tokenizer = keras_hub.tokenizers.Tokenizer.from_preset(
            preset, **(tokenizer_kwargs or {})
        )
        preprocessor = keras_hub.models.TextClassifierPreprocessor.from_preset(
            preset, tokenizer=tokenizer, sequence_length=sequence_length
        )
        return cls(
            backbone,
            preprocessor,
            pooling=pooling,
            normalize=normalize,
            exact_gelu=exact_gelu,
            **kwargs,
        )

    def call(self, inputs):
        import tensorflow as tf

        x = tf.convert_to_tensor(inputs)
        if x.shape.rank == 2:  # [B, 1] -> [B]; never squeeze the batch axis.
            x = tf.squeeze(x, axis=-1)
        features = self.preprocessor(x)
        if isinstance(features, tuple):  # (x, y, sample_weight) convention
            features = features[0]
        outputs = self.backbone(features)
        if self.pooling == "pooled":
            pooled = outputs["pooled_output"]
        else:
            sequence = outputs["sequence_output"]
            if self.pooling == "cls":
                pooled = sequence[:, 0, :]
            else:
                mask = ops.cast(features["padding_mask"], sequence.dtype)[..., None]
                total = ops.sum(sequence * mask, axis=1)
                pooled = total / ops.maximum(ops.sum(mask, axis=1), 1e-9)
        pooled = ops.cast(pooled, self.compute_dtype)
        if self.normalize:
            pooled = ops.normalize(pooled, axis=-1, order=2)
        return pooled

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "preprocessor": keras.saving.serialize_keras_object(self.preprocessor),
            "pooling": self.pooling,
            "normalize": self.normalize,
            "exact_gelu": self.exact_gelu,
        }


def _output_names(backbone) -> list[str]:
    out = getattr(backbone, "output", None)
    return list(out) if isinstance(out, dict) else []


def set_exact_gelu(backbone) -> int:
    """Sets exact GELU in every transformer feed-forward layer; returns the count."""
    count = 0
    for layer in getattr(backbone, "transformer_layers", []):
        dense = getattr(layer, "_feedforward_intermediate_dense", None)
        if dense is not None:
            dense.activation = keras.activations.gelu
            count += 1
    if count == 0:
        raise ValueError(
            f"exact_gelu: backbone {type(backbone).__name__} has no transformer "
            "feed-forward layers to patch"
        )
    return count
