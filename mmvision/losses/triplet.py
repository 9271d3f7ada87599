"""The triplet hinge loss: ``max(0, margin + D(a, p) - D(a, n))``.

This is the ranking loss of *deep ranking* (Wang et al., 2014) with gap
``g = margin``: the anchor must be closer to the positive than to the
negative by at least the margin. The triplets come ready-made (from
``samplers.class_triplets`` or a triplet list); for triplets mined inside a
batch of labelled embeddings, see :mod:`mmvision.losses.mining`.
"""

from __future__ import annotations

import keras
from keras import ops

from mmvision.losses.distances import check_metric, distance

REDUCTIONS = ("mean", "none")


def check_reduction(reduction: str) -> str:
    """Returns ``reduction`` if it is ``"mean"`` or ``"none"``.

    Raises:
        ValueError: for any other value.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"unknown reduction {reduction!r}; expected one of {list(REDUCTIONS)}"
        )
    return reduction


def unstack_embeddings(y_pred, count: int, owner: str) -> list:
    """Splits stacked embeddings ``[B, count, D]`` into ``count`` tensors ``[B, D]``.

    Args:
        y_pred: the stacked embeddings.
        count: the expected size of axis 1 (3 for triplets, 2 for pairs).
        owner: the loss name, for the error message.

    Returns:
        A list of ``count`` tensors ``[B, D]``.

    Raises:
        ValueError: if ``y_pred`` is not ``[B, count, D]``.
    """
    shape = tuple(y_pred.shape)
    if len(shape) != 3 or (shape[1] is not None and shape[1] != count):
        raise ValueError(
            f"{owner}: y_pred must be [batch, {count}, dim] embeddings, "
            f"got shape {shape}"
        )
    return [y_pred[:, i, :] for i in range(count)]


def triplet_hinge(
    anchor,
    positive,
    negative,
    margin: float = 1.0,
    metric: str = "euclidean",
    reduction: str = "mean",
):
    """The triplet hinge loss ``max(0, margin + D(a, p) - D(a, n))``.

    Args:
        anchor: embeddings ``[B, D]``.
        positive: embeddings ``[B, D]`` of the same class as ``anchor``.
        negative: embeddings ``[B, D]`` of another class.
        margin: the gap ``g`` the loss asks for between the two distances.
        metric: ``"euclidean"``, ``"squared_euclidean"`` or ``"cosine"``.
        reduction: ``"mean"`` (a scalar, the mean over the batch) or
            ``"none"`` (the per-triplet losses ``[B]``).

    Returns:
        The scalar mean loss, or ``[B]`` losses with ``reduction="none"``.
    """
    check_metric(metric)
    check_reduction(reduction)
    d_pos = distance(anchor, positive, metric)
    d_neg = distance(anchor, negative, metric)
    losses = ops.relu(margin + d_pos - d_neg)
    return ops.mean(losses) if reduction == "mean" else losses


@keras.saving.register_keras_serializable(package="mmvision")
class TripletHingeLoss(keras.losses.Loss):
    """Keras loss for :func:`triplet_hinge` on stacked triplet embeddings.

    ``y_pred`` is ``[B, 3, D]``: anchor, positive and negative embeddings
    stacked on axis 1 (a model that embeds the three images with one shared
    tower and stacks them). ``y_true`` is ignored; pass zeros of shape
    ``[B]``. ``call`` returns the per-triplet losses ``[B]``, which the
    Keras ``reduction`` (default ``"sum_over_batch_size"``, the mean) reduces.

    Args:
        margin: the gap between the positive and negative distances.
        metric: ``"euclidean"``, ``"squared_euclidean"`` or ``"cosine"``.
        name: the loss name.
        **kwargs: ``reduction`` and ``dtype``, passed to ``keras.losses.Loss``.
    """

    def __init__(
        self,
        margin: float = 1.0,
        metric: str = "euclidean",
        name: str = "triplet_hinge",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.margin = float(margin)
        self.metric = check_metric(metric)

    def call(self, y_true, y_pred):
        anchor, positive, negative = unstack_embeddings(y_pred, 3, self.name)
        return triplet_hinge(
            anchor, positive, negative, self.margin, self.metric, reduction="none"
        )

    def get_config(self):
        return {
            **super().get_config(),
            "dtype": self.dtype,
            "margin": self.margin,
            "metric": self.metric,
        }
