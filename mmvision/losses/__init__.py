"""mmvision.losses: metric-learning losses, one concept per file.

- ``distances``: ``pairwise_distances`` and row-wise ``distance``
  (``"euclidean"``, ``"squared_euclidean"``, ``"cosine"``, safe sqrt).
- ``triplet``: the triplet hinge (deep ranking) on ready-made triplets.
- ``softmax_ratio``: Hoffer & Ailon's softmax-ratio triplet loss.
- ``contrastive``: the siamese pair loss.
- ``accuracy``: triplet accuracy as Keras metrics (ready-made triplets and
  labelled batches), recorded every epoch.
- ``mining``: online batch-all / batch-hard / semi-hard triplet mining on
  labelled embeddings, ``hardest_fraction`` and the ``EMPTY_BATCHES`` counter.

Each loss is a pure ``keras.ops`` function plus a ``keras.losses.Loss``
subclass. Importing this package registers every Loss with Keras
(``package="mmvision"``), so ``keras.saving.load_model`` needs no
``custom_objects``. ``LOSSES`` names them; ``get(name, **kwargs)`` builds one.
"""

from __future__ import annotations

from mmvision.losses.accuracy import batch_triplet_accuracy, triplet_accuracy
from mmvision.losses.contrastive import ContrastiveLoss, contrastive
from mmvision.losses.distances import METRICS, distance, pairwise_distances
from mmvision.losses.mining import (
    EMPTY_BATCHES,
    BatchAllTripletLoss,
    BatchHardTripletLoss,
    SemiHardTripletLoss,
    batch_all_triplet_loss,
    batch_hard_triplet_loss,
    hardest_fraction,
    semi_hard_triplet_loss,
)
from mmvision.losses.softmax_ratio import SoftmaxRatioLoss, softmax_ratio
from mmvision.losses.triplet import TripletHingeLoss, triplet_hinge

LOSSES = {
    "triplet_hinge": TripletHingeLoss,
    "softmax_ratio": SoftmaxRatioLoss,
    "contrastive": ContrastiveLoss,
    "batch_all": BatchAllTripletLoss,
    "batch_hard": BatchHardTripletLoss,
    "semi_hard": SemiHardTripletLoss,
}


def get(name: str, **kwargs):
    """Builds the loss registered as ``name`` in :data:`LOSSES`.

    Args:
        name: a key of ``LOSSES``.
        **kwargs: the loss's constructor arguments (``margin``, ``metric``...).

    Returns:
        A ``keras.losses.Loss``.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; expected one of {sorted(LOSSES)}")
    return LOSSES[name](**kwargs)


__all__ = [
    "EMPTY_BATCHES",
    "LOSSES",
    "METRICS",
    "BatchAllTripletLoss",
    "BatchHardTripletLoss",
    "ContrastiveLoss",
    "SemiHardTripletLoss",
    "SoftmaxRatioLoss",
    "TripletHingeLoss",
    "batch_all_triplet_loss",
    "batch_hard_triplet_loss",
    "batch_triplet_accuracy",
    "contrastive",
    "distance",
    "get",
    "hardest_fraction",
    "pairwise_distances",
    "semi_hard_triplet_loss",
    "softmax_ratio",
    "triplet_accuracy",
    "triplet_hinge",
]
