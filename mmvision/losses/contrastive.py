"""The contrastive (siamese pair) loss.

For a pair with label ``y`` (1: similar, 0: dissimilar) and Euclidean
distance ``d`` between its two embeddings:

    loss = y * d + (1 - y) * max(0, m - d)             (squared=False)
    loss = y * d^2 + (1 - y) * max(0, m - d)^2         (squared=True)

with margin ``m = 2`` by default. Similar pairs are pulled together;
dissimilar pairs are pushed apart until they are ``m`` away, and then left
alone. ``squared=True`` is the form of Hadsell, Chopra & LeCun (2006) without
their factor ``1/2``.
"""

from __future__ import annotations

import keras
from keras import ops

from mmvision.losses.distances import distance
from mmvision.losses.triplet import check_reduction, unstack_embeddings


def contrastive(
    labels,
    first,
    second,
    margin: float = 2.0,
    squared: bool = False,
    reduction: str = "mean",
):
    """The contrastive loss of pairs (see the module docstring).

    Args:
        labels: ``[B]`` 1 for a similar pair, 0 for a dissimilar one (any
            numeric dtype; ``[B, 1]`` is flattened).
        first: embeddings ``[B, D]`` of the first item of each pair.
        second: embeddings ``[B, D]`` of the second item.
        margin: the distance ``m`` beyond which dissimilar pairs cost nothing.
        squared: square both terms (the Hadsell et al. form).
        reduction: ``"mean"`` (a scalar) or ``"none"`` (per-pair ``[B]``).

    Returns:
        The scalar mean loss, or ``[B]`` losses with ``reduction="none"``.
    """
    check_reduction(reduction)
    d = distance(first, second, "euclidean")
    y = ops.cast(ops.reshape(labels, (-1,)), d.dtype)
    pull = d
    push = ops.relu(margin - d)
    if squared:
        pull, push = ops.square(pull), ops.square(push)
    losses = y * pull + (1.0 - y) * push
    return ops.mean(losses) if reduction == "mean" else losses


@keras.saving.register_keras_serializable(package="mmvision")
class ContrastiveLoss(keras.losses.Loss):
    """Keras loss for :func:`contrastive` on stacked pair embeddings.

    ``y_true`` is ``[B]`` (or ``[B, 1]``): 1 for a similar pair, 0 for a
    dissimilar one. ``y_pred`` is ``[B, 2, D]``: the two embeddings of each
    pair stacked on axis 1. ``call`` returns the per-pair losses ``[B]`` for
    the Keras ``reduction``.

    Args:
        margin: the distance beyond which dissimilar pairs cost nothing.
        squared: square both terms (the Hadsell et al. form).
        name: the loss name.
        **kwargs: ``reduction`` and ``dtype``, passed to ``keras.losses.Loss``.
    """

    def __init__(
        self,
        margin: float = 2.0,
        squared: bool = False,
        name: str = "contrastive",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.margin = float(margin)
        self.squared = bool(squared)

    def call(self, y_true, y_pred):
        first, second = unstack_embeddings(y_pred, 2, self.name)
        return contrastive(
            y_true, first, second, self.margin, self.squared, reduction="none"
        )

    def get_config(self):
        return {
            **super().get_config(),
            "dtype": self.dtype,
            "margin": self.margin,
            "squared": self.squared,
        }
