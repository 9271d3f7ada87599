"""ModalityPresence and PresenceGate: zero a modality where its input is missing."""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="mmvision")
class ModalityPresence(keras.layers.Layer):
    """``[B, 1]`` float: 1 where the raw input is present, 0 where it is missing.

    A text input (``tf.string``, shape ``[B]`` or ``[B, 1]``) is missing when
    it is empty after stripping white space (web metadata: 34% of Flickr
    descriptions are absent); an image input is missing when all its pixels
    are zero.

    Example:

    ```python
    present = ModalityPresence()(title_strings)   # [B, 1]
    ```
    """

    def call(self, raw):
        if raw.dtype == tf.string:
            present = tf.strings.length(tf.strings.strip(tf.reshape(raw, [-1]))) > 0
        else:
            axes = list(range(1, len(raw.shape)))
            present = tf.reduce_max(tf.abs(raw), axis=axes) > 0
        return tf.cast(present, self.compute_dtype)[:, None]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)


@keras.saving.register_keras_serializable(package="mmvision")
class PresenceGate(keras.layers.Layer):
    """Multiplies features ``[B, D]`` by a presence ``[B, 1]`` (0 or 1).

    This makes "missing" mean the same thing at training time
    (``ModalityDropout`` zeroes features) and at test time (the data has no
    text or no image), whatever bias the tower's last layer has.

    Example:

    ```python
    gated = PresenceGate()([title_features, ModalityPresence()(title_strings)])
    ```
    """

    def call(self, inputs):
        features, presence = inputs
        return features * keras.ops.cast(presence, features.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])
