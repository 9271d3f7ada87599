"""ModalityDropout: drop whole modalities per example while training."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mmvision")
class ModalityDropout(keras.layers.Layer):
    """Zeroes whole modality feature vectors per example, never all of them.

    Takes a list of ``M`` feature tensors (one per modality, e.g. image, title,
    tags), each ``[B, D_i]`` (any rank >= 2 works; the first axis is the
    batch), and returns a list of the same shapes. While training, each
    example independently draws, for every modality, "drop" with probability
    ``rate``; if that would drop every modality of an example, one of them
    (chosen uniformly) is kept. Dropped features are set to zero; kept ones
    are passed unchanged (no rescaling). At inference it is the identity.

    So the probability that a given modality of an example is dropped is
    ``rate - rate**M / M`` (for ``M = 1``: never). The model learns to
    classify when a modality is missing; at test time a missing modality is
    given to the model as it is missing in the data (empty string, zero
    image), the layer itself does not force drops.

    Args:
        rate: probability in ``[0, 1]`` of dropping each modality.
        seed: optional int seed of the random draws.

    Example:

    ```python
    drop = ModalityDropout(rate=0.3)
    image_feat, text_feat = drop([image_feat, text_feat], training=True)
    ```
    """

    def __init__(self, rate: float = 0.2, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= float(rate) <= 1.0:
            raise ValueError(f"ModalityDropout: rate must be in [0, 1], got {rate!r}")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        if (
            not isinstance(input_shape, (list, tuple))
            or not input_shape
            or not all(isinstance(s, (list, tuple)) for s in input_shape)
        ):
            raise ValueError(
                "ModalityDropout expects a list of modality tensors, got input "
                f"shape {input_shape!r}"
            )
        self.built = True

    def call(self, inputs, training=False):
        inputs = list(inputs)
        num = len(inputs)
        if not training or self.rate == 0.0 or num < 2:
            return inputs
        batch = ops.shape(inputs[0])[0]
        drop = keras.random.uniform((batch, num), seed=self.seed_generator) < self.rate
        all_dropped = ops.all(drop, axis=1, keepdims=True)
        rescue = keras.random.randint((batch,), 0, num, seed=self.seed_generator)
        rescue = ops.cast(ops.one_hot(rescue, num), "bool")
        drop = ops.logical_and(
            drop, ops.logical_not(ops.logical_and(all_dropped, rescue))
        )
        outputs = []
        for i, x in enumerate(inputs):
            keep = ops.cast(ops.logical_not(drop[:, i]), x.dtype)
            keep = ops.reshape(keep, (-1,) + (1,) * (len(x.shape) - 1))
            outputs.append(x * keep)
        return outputs

    def compute_output_shape(self, input_shape):
        return [tuple(s) for s in input_shape]

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
