"""Online triplet mining on a batch of labelled embeddings.

Each miner takes ``labels [B]`` (int class ids) and ``embeddings [B, D]``,
builds the ``[B, B]`` distance matrix and forms the triplets inside the batch.
A positive pair is ``(a, p)`` with ``a != p`` and the same label; a negative
is any ``n`` with another label. The per-triplet loss is the hinge
``max(0, margin + D(a, p) - D(a, n))``.

- :func:`batch_all_triplet_loss`: every valid ``(a, p, n)``; the mean is over
  the triplets with a positive loss only (easy triplets would dilute it).
- :func:`batch_hard_triplet_loss`: per anchor, its farthest positive and its
  nearest negative (Hermans et al., 2017); the mean over the anchors that
  have both.
- :func:`semi_hard_triplet_loss`: per positive pair, the nearest negative
  farther than the positive (FaceNet, Schroff et al., 2015). If that negative
  lies inside the margin (``D(a,p) < D(a,n) < D(a,p) + margin``) it is a
  semi-hard negative; if it lies beyond, the pair is easy and costs 0. When
  *no* negative is farther than the positive, the pair falls back to its
  farthest (easiest) negative, as TensorFlow Addons' semi-hard loss does.
  The mean is over the positive pairs that have a negative.

``hardest_p`` replaces each mean by :func:`hardest_fraction` of the
per-anchor losses (per positive pair for semi-hard; for batch-all, an
anchor's loss is the mean of its positive-loss triplets).

**Empty batches.** A batch with no positive pair (all labels distinct) or no
negative (one label) has nothing to mine: every miner returns exactly 0.0
with zero gradients, never NaN. In eager mode it also adds 1 to
``EMPTY_BATCHES[miner]`` (``"batch_all"``, ``"batch_hard"``, ``"semi_hard"``).
The counter is a Python-side hook, so it only counts when the loss runs
eagerly (``model.fit(..., run_eagerly=True)`` or a plain call): inside
``tf.function`` (the default ``model.fit``) the Python code runs once, at
tracing, on symbolic tensors, and nothing is counted; the 0.0 still holds.
"""

from __future__ import annotations

import collections

import keras
from keras import ops

from mmvision.losses.distances import check_metric, pairwise_distances

EMPTY_BATCHES: collections.Counter = collections.Counter()
"""Eager-mode count of batches with nothing to mine, keyed by miner name."""


def hardest_fraction(per_example_losses, p: float = 0.5, mask=None):
    """Mean of the largest ``ceil(p * n)`` of ``n`` losses ("the hardest p").

    Args:
        per_example_losses: losses of any shape (flattened).
        p: the fraction to keep, in ``(0, 1]``; at least one loss is kept.
        mask: optional booleans of the same shape; only ``True`` entries count
            (``n`` is their number).

    Returns:
        A scalar; 0.0 when no entry counts.

    Raises:
        ValueError: if ``p`` is not in ``(0, 1]``.
    """
    p = _check_fraction(p)
    losses = ops.reshape(ops.convert_to_tensor(per_example_losses), (-1,))
    if mask is None:
        valid = ops.ones_like(losses, dtype="bool")
    else:
        valid = ops.reshape(ops.cast(mask, "bool"), (-1,))
    n = ops.sum(ops.cast(valid, losses.dtype))
    # 1e-4 guards ceil against float round-off (0.3 * 10 -> 3.0000001).
    k = ops.where(n > 0, ops.maximum(ops.ceil(p * n - 1e-4), 1.0), 0.0)
    fill = ops.stop_gradient(ops.min(losses)) - 1.0
    ranked = -ops.sort(-ops.where(valid, losses, fill))  # descending
    rank = ops.cast(ops.arange(ops.shape(ranked)[0]), losses.dtype)
    top = ops.where(rank < k, ranked, ops.zeros_like(ranked))
    return ops.sum(top) / ops.maximum(k, 1.0)


def batch_all_triplet_loss(
    labels,
    embeddings,
    margin: float = 1.0,
    metric: str = "euclidean",
    hardest_p: float | None = None,
    return_fraction: bool = False,
):
    """Mean hinge loss over all valid in-batch triplets with a positive loss.

    Args:
        labels: int class ids ``[B]``.
        embeddings: ``[B, D]``.
        margin: the hinge margin.
        metric: ``"euclidean"``, ``"squared_euclidean"`` or ``"cosine"``.
        hardest_p: if set, the mean of the hardest fraction of the anchors.
        return_fraction: also return the fraction of valid triplets whose
            loss is positive (0.0 for an empty batch).

    Returns:
        The scalar loss, or ``(loss, fraction)`` with ``return_fraction``.
    """
    dist, positive, negative = _batch(labels, embeddings, metric)
    valid = ops.logical_and(
        ops.expand_dims(positive, 2), ops.expand_dims(negative, 1)
    )  # [a, p, n]
    hinge = margin + ops.expand_dims(dist, 2) - ops.expand_dims(dist, 1)
    losses = ops.where(valid, ops.relu(hinge), ops.zeros_like(hinge))
    active = ops.cast(ops.logical_and(valid, losses > 0.0), losses.dtype)
    n_valid = ops.sum(ops.cast(valid, losses.dtype))
    _note_empty("batch_all", n_valid)
    if hardest_p is None:
        loss = ops.sum(losses) / ops.maximum(ops.sum(active), 1.0)
    else:
        per_anchor = ops.sum(losses, axis=(1, 2)) / ops.maximum(
            ops.sum(active, axis=(1, 2)), 1.0
        )
        loss = hardest_fraction(per_anchor, hardest_p, ops.any(valid, axis=(1, 2)))
    if not return_fraction:
        return loss
    return loss, ops.sum(active) / ops.maximum(n_valid, 1.0)


def batch_hard_triplet_loss(
    labels,
    embeddings,
    margin: float = 1.0,
    metric: str = "euclidean",
    hardest_p: float | None = None,
):
    """Per anchor, the hinge of its farthest positive and nearest negative.

    Args:
        labels: int class ids ``[B]``.
        embeddings: ``[B, D]``.
        margin: the hinge margin.
        metric: ``"euclidean"``, ``"squared_euclidean"`` or ``"cosine"``.
        hardest_p: if set, the mean of the hardest fraction of the anchors.

    Returns:
        The scalar mean over the anchors that have a positive and a negative.
    """
    dist, positive, negative = _batch(labels, embeddings, metric)
    zeros = ops.zeros_like(dist)
    farthest_positive = ops.max(ops.where(positive, dist, zeros), axis=1)
    nearest_negative = ops.min(ops.where(negative, dist, _above(dist)), axis=1)
    valid = ops.logical_and(ops.any(positive, axis=1), ops.any(negative, axis=1))
    per_anchor = ops.relu(margin + farthest_positive - nearest_negative)
    _note_empty("batch_hard", ops.sum(ops.cast(valid, dist.dtype)))
    return _reduce(per_anchor, valid, hardest_p)


def semi_hard_triplet_loss(
    labels,
    embeddings,
    margin: float = 1.0,
    metric: str = "euclidean",
    hardest_p: float | None = None,
):
    """Per positive pair, the hinge of its semi-hard negative (module docstring).

    Args:
        labels: int class ids ``[B]``.
        embeddings: ``[B, D]``.
        margin: the hinge margin.
        metric: ``"euclidean"``, ``"squared_euclidean"`` or ``"cosine"``.
        hardest_p: if set, the mean of the hardest fraction of the pairs.

    Returns:
        The scalar mean over the positive pairs that have a negative.
    """
    dist, positive, negative = _batch(labels, embeddings, metric)
    d_ap = ops.expand_dims(dist, 2)  # [a, p, 1]
    d_an = ops.expand_dims(dist, 1)  # [a, 1, n]
    farther = ops.logical_and(ops.expand_dims(negative, 1), d_an > d_ap)
    nearest_farther = ops.min(
        ops.where(farther, d_an + ops.zeros_like(d_ap), _above(dist)), axis=2
    )
    farthest = ops.max(ops.where(negative, dist, ops.zeros_like(dist)), axis=1)
    chosen = ops.where(
        ops.any(farther, axis=2), nearest_farther, ops.expand_dims(farthest, 1)
    )
    per_pair = ops.relu(margin + dist - chosen)
    valid = ops.logical_and(positive, ops.any(negative, axis=1, keepdims=True))
    _note_empty("semi_hard", ops.sum(ops.cast(valid, dist.dtype)))
    return _reduce(per_pair, valid, hardest_p)


class _MiningLoss(keras.losses.Loss):
    """Base of the mining losses: ``y_true`` labels ``[B]``, ``y_pred`` ``[B, D]``.

    ``call`` returns the batch's scalar loss (mining is a batch statistic, not
    a sum of per-example terms), so the reduction is fixed and sample weights
    are refused.

    Args:
        margin: the hinge margin.
        metric: ``"euclidean"``, ``"squared_euclidean"`` or ``"cosine"``.
        hardest_p: if set, :func:`hardest_fraction` of the per-anchor losses.
        name: the loss name.
        **kwargs: ``dtype`` (a ``reduction`` is dropped).
    """

    miner = None  # each subclass sets its mining function and default name
    default_name = "mining_triplet"

    def __init__(
        self,
        margin: float = 1.0,
        metric: str = "euclidean",
        hardest_p: float | None = None,
        name: str | None = None,
        **kwargs,
    ):
        kwargs.pop("reduction", None)
        name = name or self.default_name
        super().__init__(name=name, reduction="sum_over_batch_size", **kwargs)
        self.margin = float(margin)
        self.metric = check_metric(metric)
        self.hardest_p = None if hardest_p is None else _check_fraction(hardest_p)

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise ValueError(
                f"{self.name}: mining losses are batch statistics and take no "
                "sample_weight"
            )
        return super().__call__(y_true, y_pred)

    def call(self, y_true, y_pred):
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        return self.miner(labels, y_pred, self.margin, self.metric, self.hardest_p)

    def get_config(self):
        return {
            "name": self.name,
            "dtype": self.dtype,
            "margin": self.margin,
            "metric": self.metric,
            "hardest_p": self.hardest_p,
        }


@keras.saving.register_keras_serializable(package="mmvision")
class BatchAllTripletLoss(_MiningLoss):
    """Keras loss for :func:`batch_all_triplet_loss`; arguments as ``_MiningLoss``."""

    miner = staticmethod(batch_all_triplet_loss)
    default_name = "batch_all_triplet"


@keras.saving.register_keras_serializable(package="mmvision")
class BatchHardTripletLoss(_MiningLoss):
    """Keras loss for :func:`batch_hard_triplet_loss`; arguments as ``_MiningLoss``."""

    miner = staticmethod(batch_hard_triplet_loss)
    default_name = "batch_hard_triplet"


@keras.saving.register_keras_serializable(package="mmvision")
class SemiHardTripletLoss(_MiningLoss):
    """Keras loss for :func:`semi_hard_triplet_loss`; arguments as ``_MiningLoss``."""

    miner = staticmethod(semi_hard_triplet_loss)
    default_name = "semi_hard_triplet"


def _batch(labels, embeddings, metric):
    """Distances ``[B, B]`` and the positive-pair and negative masks."""
    check_metric(metric)
    embeddings = ops.convert_to_tensor(embeddings)
    if len(embeddings.shape) != 2:
        raise ValueError(f"embeddings must be [batch, dim], got {embeddings.shape}")
    labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
    same = ops.equal(ops.expand_dims(labels, 1), ops.expand_dims(labels, 0))
    idx = ops.arange(ops.shape(labels)[0])
    other = ops.not_equal(ops.expand_dims(idx, 1), ops.expand_dims(idx, 0))
    dist = pairwise_distances(embeddings, metric=metric)
    return dist, ops.logical_and(same, other), ops.logical_not(same)


def _above(dist):
    """A constant above every distance (the filler for masked minima)."""
    return ops.zeros_like(dist) + ops.stop_gradient(ops.max(dist)) + 1.0


def _reduce(losses, valid, hardest_p):
    """Mean of ``losses`` where ``valid`` (0.0 if none), or the hardest fraction."""
    if hardest_p is not None:
        return hardest_fraction(losses, hardest_p, valid)
    kept = ops.where(valid, losses, ops.zeros_like(losses))
    return ops.sum(kept) / ops.maximum(ops.sum(ops.cast(valid, losses.dtype)), 1.0)


def _check_fraction(p) -> float:
    p = float(p)
    if not 0.0 < p <= 1.0:
        raise ValueError(f"the hardest fraction p must be in (0, 1], got {p!r}")
    return p


def _note_empty(miner: str, n_valid) -> None:
    """Eager-only hook: counts the batch in ``EMPTY_BATCHES`` if ``n_valid == 0``."""
    if keras.config.backend() == "tensorflow":
        import tensorflow as tf

        if not tf.executing_eagerly():
            return
    try:
        value = float(ops.convert_to_numpy(n_valid))
    except Exception:  # a traced tensor (jax.jit, torch.compile): not countable
        return
    if value == 0.0:
        EMPTY_BATCHES[miner] += 1
