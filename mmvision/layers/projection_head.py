"""ProjectionHead: the Dense "pseudo-tuning" block after a frozen encoder."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="mmvision")
class ProjectionHead(keras.layers.Layer):
    """Dense "pseudo-tuning" block put after a frozen text or image encoder.

    A frozen encoder (Universal Sentence Encoder, BERT, MiniLM, an ImageNet
    CNN) gives fixed features; a few trainable Dense layers on top adapt them
    to the task without touching the encoder's weights.

    Args:
        units: width of each hidden layer (and of the output).
        depth: number of Dense+Dropout blocks; 0 makes the layer an identity.
        dropout: dropout rate after each block.
        activation: activation of each Dense layer.

    Example:

    ```python
    head = ProjectionHead(units=64, depth=2, dropout=0.1)
    head(np.zeros((4, 512), "float32")).shape  # (4, 64)
    ```
    """

    def __init__(
        self,
        units: int = 256,
        depth: int = 1,
        dropout: float = 0.2,
        activation: str = "relu",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(units) < 1:
            raise ValueError(f"ProjectionHead: units must be >= 1, got {units!r}")
        if int(depth) < 0:
            raise ValueError(f"ProjectionHead: depth must be >= 0, got {depth!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(
                f"ProjectionHead: dropout must be in [0, 1), got {dropout!r}"
            )
        self.units = int(units)
        self.depth = int(depth)
        self.dropout = float(dropout)
        self.activation = activation
        self.blocks = [
            keras.layers.Dense(
                self.units,
                activation=activation,
                name=f"dense_{i}",
                dtype=self.dtype_policy,
            )
            for i in range(self.depth)
        ]
        self.drop = keras.layers.Dropout(self.dropout)

    def build(self, input_shape):
        shape = tuple(input_shape)
        for block in self.blocks:
            block.build(shape)
            shape = shape[:-1] + (self.units,)
        self.built = True

    def call(self, x, training=False):
        for block in self.blocks:
            x = self.drop(block(x), training=training)
        return x

    def compute_output_shape(self, input_shape):
        if self.depth == 0:
            return tuple(input_shape)
        return tuple(input_shape)[:-1] + (self.units,)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "depth": self.depth,
            "dropout": self.dropout,
            "activation": self.activation,
        }
