"""ImagePreprocessing: a tower's pixel scaling, inside the model."""

from __future__ import annotations

import keras
from keras import ops

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)

MODES = ("tf", "unit", "torch", "none")


@keras.saving.register_keras_serializable(package="mmvision")
class ImagePreprocessing(keras.layers.Layer):
    """Maps raw pixels in ``[0, 255]`` to what a backbone expects.

    Keeping this step inside the model means a saved model takes raw pixels,
    whichever tower it uses.

    Modes:
        ``"tf"``: ``x / 127.5 - 1`` to ``[-1, 1]`` (ResNetV2, Inception,
            Xception, MobileNetV2; ``keras.applications`` "tf" mode).
        ``"unit"``: ``x / 255`` to ``[0, 1]``.
        ``"torch"``: ``x / 255`` then ImageNet mean/std standardisation.
        ``"none"``: identity (only a cast to the compute dtype).

    Args:
        mode: one of ``"tf"``, ``"unit"``, ``"torch"``, ``"none"``.

    Example:

    ```python
    ImagePreprocessing("tf")(np.full((1, 2, 2, 3), 255.0))  # all 1.0
    ```
    """

    def __init__(self, mode: str = "tf", **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(
                f"ImagePreprocessing: unknown mode {mode!r}; valid modes: "
                f"{', '.join(MODES)}"
            )
        self.mode = mode

    def call(self, x):
        x = ops.cast(x, self.compute_dtype)
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "unit":
            return x / 255.0
        if self.mode == "torch":
            mean = ops.convert_to_tensor(_IMAGENET_MEAN, self.compute_dtype)
            std = ops.convert_to_tensor(_IMAGENET_STD, self.compute_dtype)
            return (x / 255.0 - mean) / std
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
