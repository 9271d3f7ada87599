"""LateFusion: average per-modality class probabilities over present modalities."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mmvision")
class LateFusion(keras.layers.Layer):
    """Late-fusion baseline: ``sum_m w_m p_m / sum_m w_m``.

    Called on ``[p_1, ..., p_M, w_1, ..., w_M]``: ``M`` probability tensors
    ``[B, C]`` followed by ``M`` presence weights ``[B, 1]`` (1 present, 0
    missing). An example with no modality present gets the plain average.

    Example:

    ```python
    probs = LateFusion()([image_probs, text_probs, image_present, text_present])
    ```
    """

    def call(self, inputs):
        if len(inputs) % 2 or not inputs:
            raise ValueError(
                f"LateFusion expects M probabilities then M weights, got {len(inputs)}"
            )
        m = len(inputs) // 2
        probs, weights = inputs[:m], inputs[m:]
        weights = [ops.cast(w, probs[0].dtype) for w in weights]
        total = sum(weights)
        fallback = ops.cast(total <= 0, probs[0].dtype)
        weights = [w + fallback for w in weights]
        total = total + fallback * m
        return sum(w * p for w, p in zip(weights, probs)) / total

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])
