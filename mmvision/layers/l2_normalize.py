"""L2Normalize: scale feature vectors to unit length."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mmvision")
class L2Normalize(keras.layers.Layer):
    """Divides features by their L2 norm along ``axis`` (zero rows stay zero).

    ``x / sqrt(max(sum(x ** 2, axis), epsilon))``, as
    ``tf.math.l2_normalize`` does: ``epsilon`` bounds the squared norm, so a
    zero vector maps to zero instead of NaN.

    Args:
        axis: the axis to normalise (an int, or a list/tuple of ints).
        epsilon: lower bound of the squared norm.

    Example:

    ```python
    L2Normalize()(np.array([[3.0, 4.0]]))  # [[0.6, 0.8]]
    ```
    """

    def __init__(
        self, axis: int | tuple[int, ...] = -1, epsilon: float = 1e-12, **kwargs
    ):
        super().__init__(**kwargs)
        self.axis = (
            tuple(int(a) for a in axis)
            if isinstance(axis, (list, tuple))
            else int(axis)
        )
        if float(epsilon) <= 0.0:
            raise ValueError(f"L2Normalize: epsilon must be > 0, got {epsilon!r}")
        self.epsilon = float(epsilon)
        self.supports_masking = True

    def call(self, x):
        x = ops.cast(x, self.compute_dtype)
        squared = ops.sum(ops.square(x), axis=self.axis, keepdims=True)
        return x * ops.rsqrt(ops.maximum(squared, self.epsilon))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        axis = list(self.axis) if isinstance(self.axis, tuple) else self.axis
        return {**super().get_config(), "axis": axis, "epsilon": self.epsilon}
