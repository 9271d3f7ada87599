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
        rate: probability in ``[0, 1]`` of dropping each modality, or one
            probability per modality (e.g. drop the text more often than the
            image so the model stays good when text is missing).
        seed: optional int seed of the random draws.

    Example:

    ```python
    drop = ModalityDropout(rate=0.3)
    image_feat, text_feat = drop([image_feat, text_feat], training=True)
    ```
    """

    def __init__(
        self, rate: float | list[float] = 0.2, seed: int | None = None, **kwargs
    ):
        super().__init__(**kwargs)
        rates = list(rate) if isinstance(rate, (list, tuple)) else [rate]
        if not rates or not all(0.0 <= float(r) <= 1.0 for r in rates):
            raise ValueError(
                f"ModalityDropout: rate must be in [0, 1] (or a list of such), "
                f"got {rate!r}"
            )
        self.rate = (
            [float(r) for r in rates]
            if isinstance(rate, (list, tuple))
            else float(rate)
        )
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
        if isinstance(self.rate, list) and len(self.rate) != len(input_shape):
            raise ValueError(
                f"ModalityDropout: {len(self.rate)} rates for {len(input_shape)} "
                "modalities"
            )
        self.built = True

    def call(self, inputs, training=False):
        inputs = list(inputs)
        num = len(inputs)
        rates = self.rate if isinstance(self.rate, list) else [self.rate] * num
        if not training or max(rates) == 0.0 or num < 2:
            return inputs
        batch = ops.shape(inputs[0])[0]
        draws = keras.random.uniform((batch, num), seed=self.seed_generator)
        drop = draws < ops.convert_to_tensor([rates], dtype=draws.dtype)
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
