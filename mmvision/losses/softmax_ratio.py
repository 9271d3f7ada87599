"""The softmax-ratio triplet loss of Hoffer & Ailon (*Deep metric learning
using Triplet network*, 2015).

The two distances ``d+ = D(a, p)`` and ``d- = D(a, n)`` go through a softmax,

    (s+, s-) = softmax(d+, d-),    s+ = e^{d+} / (e^{d+} + e^{d-}),

and the loss is the mean squared error between ``(s+, s-)`` and the target
``(0, 1)``. The mean is taken as ``keras.losses.mean_squared_error`` takes it,
**over the 2 components**:

    loss = ((s+)^2 + (s- - 1)^2) / 2 = (s+)^2        (since s- - 1 = -s+)

which is half the paper's ``||(s+, s- - 1)||^2``: the same minimiser and
gradient direction, scaled by one half. Unlike the hinge loss it never
reaches exactly 0, so every triplet keeps pushing ``d-`` above ``d+``.
"""

from __future__ import annotations

import keras
from keras import ops

from mmvision.losses.distances import check_metric, distance
from mmvision.losses.triplet import check_reduction, unstack_embeddings


def softmax_ratio(
    anchor,
    positive,
    negative,
    metric: str = "euclidean",
    reduction: str = "mean",
):
    """The Hoffer & Ailon softmax-ratio loss (see the module docstring).

    Args:
        anchor: embeddings ``[B, D]``.
        positive: embeddings ``[B, D]`` of the same class as ``anchor``.
        negative: embeddings ``[B, D]`` of another class.
        metric: the distance; the paper uses ``"euclidean"``.
        reduction: ``"mean"`` (a scalar, the mean over the batch) or
            ``"none"`` (the per-triplet losses ``[B]``).

    Returns:
        The scalar mean loss, or ``[B]`` losses with ``reduction="none"``.
    """
    check_metric(metric)
    check_reduction(reduction)
    d_pos = distance(anchor, positive, metric)
    d_neg = distance(anchor, negative, metric)
    scores = ops.softmax(ops.stack([d_pos, d_neg], axis=-1), axis=-1)
    target = ops.convert_to_tensor([0.0, 1.0], dtype=scores.dtype)
    losses = ops.mean(ops.square(scores - target), axis=-1)
    return ops.mean(losses) if reduction == "mean" else losses


@keras.saving.register_keras_serializable(package="mmvision")
class SoftmaxRatioLoss(keras.losses.Loss):
    """Keras loss for :func:`softmax_ratio` on stacked triplet embeddings.

    ``y_pred`` is ``[B, 3, D]`` (anchor, positive, negative on axis 1);
    ``y_true`` is ignored (pass zeros ``[B]``). ``call`` returns the
    per-triplet losses ``[B]`` for the Keras ``reduction``.

    Args:
        metric: the distance; the paper uses ``"euclidean"``.
        name: the loss name.
        **kwargs: ``reduction`` and ``dtype``, passed to ``keras.losses.Loss``.
    """

    def __init__(
        self, metric: str = "euclidean", name: str = "softmax_ratio", **kwargs
    ):
        super().__init__(name=name, **kwargs)
        self.metric = check_metric(metric)

    def call(self, y_true, y_pred):
        anchor, positive, negative = unstack_embeddings(y_pred, 3, self.name)
        return softmax_ratio(anchor, positive, negative, self.metric, "none")

    def get_config(self):
        return {**super().get_config(), "dtype": self.dtype, "metric": self.metric}
