"""Triplet accuracy as Keras metrics, so every epoch's history (train and
validation) records it next to the loss.

- ``triplet_accuracy(y_true, y_pred)``: on ready-made triplets, ``y_pred``
  ``[B, 3, D]`` (anchor, positive, negative; ``stacked_model``): the
  fraction with ``D(a, p) < D(a, n)``. ``y_true`` is ignored.
- ``batch_triplet_accuracy(labels, embeddings)``: on a labelled batch
  (online mining): the fraction of every valid in-batch triplet
  ``(a, p, n)`` (``a != p`` same label, ``n`` another label) with
  ``D(a, p) < D(a, n)``; 0.0 for a batch without a valid triplet.

Both are registered with Keras (``package="mmvision"``), so a checkpoint of
a model compiled with them loads without ``custom_objects``.
"""

from __future__ import annotations

import keras
from keras import ops

from mmvision.losses.distances import pairwise_distances
from mmvision.losses.triplet import unstack_embeddings


@keras.saving.register_keras_serializable(package="mmvision")
def triplet_accuracy(y_true, y_pred):
    """``[B]`` 1.0 where ``D(a, p) < D(a, n)`` (Euclidean), else 0.0."""
    a, p, n = unstack_embeddings(y_pred, 3, "triplet_accuracy")
    d_ap = ops.sum(ops.square(a - p), axis=-1)
    d_an = ops.sum(ops.square(a - n), axis=-1)
    return ops.cast(d_ap < d_an, "float32")


@keras.saving.register_keras_serializable(package="mmvision")
def batch_triplet_accuracy(y_true, y_pred):
    """The fraction of the batch's valid triplets ranked right (a scalar)."""
    labels = ops.reshape(ops.cast(y_true, "int32"), (-1,))
    dist = pairwise_distances(y_pred, metric="squared_euclidean")
    same = ops.equal(labels[:, None], labels[None, :])
    n = ops.shape(labels)[0]
    not_self = ops.logical_not(ops.cast(ops.eye(n), "bool"))
    pos = ops.logical_and(same, not_self)  # [a, p]
    neg = ops.logical_not(same)  # [a, n]
    valid = ops.logical_and(pos[:, :, None], neg[:, None, :])  # [a, p, n]
    right = ops.logical_and(valid, dist[:, :, None] < dist[:, None, :])
    total = ops.sum(ops.cast(valid, "float32"))
    return ops.sum(ops.cast(right, "float32")) / ops.maximum(total, 1.0)
