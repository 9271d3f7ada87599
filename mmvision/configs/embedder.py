"""Configs of the image embedder: similarity embeddings trained with a
ranking loss (Wang et al.'s deep ranking, Hoffer & Ailon's triplet network,
or online-mined triplets on P x K batches).

``train.mode`` picks how triplets are formed:

- ``"offline"``: ``(anchor, positive, negative)`` triplets drawn from the
  Manifest's classes, re-drawn each epoch, fed to ``stacked_model`` with
  ``train.loss`` (``triplet_hinge`` or ``softmax_ratio``).
- ``"online"``: class-balanced P x K batches of labelled images fed to the
  embedder itself; ``train.miner`` (``batch_hard``, ``semi_hard``,
  ``batch_all``) forms the triplets inside each batch.

Presets: ``deep_ranking``, ``deep_ranking_multiscale``, ``triplet_net``,
``demo_embedder``, ``demo_embedder_offline`` and ``demo_embedder_smoke``
(seconds; what the tests run).

Example:
>>> from mmvision.configs import get_preset
>>> get_preset("embedder", "demo_embedder_smoke").train.mode
'online'
"""

from __future__ import annotations

import dataclasses

from mmvision.configs.registry import register


@dataclasses.dataclass(frozen=True)
class EmbedderDataConfig:
    """The labelled images and how they are split and fed.

    Args:
        format: reader in ``mmvision.data.sources`` (for a demo world root,
            the layout below it: ``folders``, ``webvision``, ``tiny_imagenet``).
        sources: WebVision sources to read (``format="webvision"`` only).
        image_size: square input side in pixels.
        augment: an ``mmvision.data.augment`` preset for training, ``None``
            for none.
        split: ``"stratified"`` (per-class fractions) or ``"given"``.
        val_fraction, test_fraction: per-class fractions of ``stratified``.
        split_seed: seed of the split.
        split_file: a list assigning images to ``train`` / ``val`` /
            ``test`` (``data.split_lists``: a ``.jsonl`` of ``id`` and
            ``split``, e.g. a demo world's ``ground_truth.jsonl``, or
            ``<id> <split>`` lines), relative to the data directory; it
            replaces ``split`` and the images it does not list are left out
            (counted in the run's ``run_info``).
        eval_batch_size: images per batch when embedding a split.
        val_triplets: fixed validation/test triplets scored for triplet
            accuracy (and the offline validation loss).
        held_out: class names kept out of training entirely (their rows
            form the split ``"unseen"``, scored as ``unseen_map`` etc.).
        triplets: offline mode: a triplet list (``query positive negative``
            paths a line, relative to the data directory) to train on, as
            the deep-ranking reference; only triplets whose three images
            are in the train split are kept (the rest are counted).
        strict: a malformed triplet line or a missing image is an error
            naming the line (``False``: a counted skip).
    """

    format: str = "folders"
    sources: tuple[str, ...] = ("google", "flickr")
    image_size: int = 64
    augment: str | None = "flip"
    split: str = "stratified"
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    split_seed: int = 0
    split_file: str | None = None
    eval_batch_size: int = 128
    val_triplets: int = 256
    held_out: tuple[str, ...] = ()
    triplets: str | None = None
    strict: bool = False


@dataclasses.dataclass(frozen=True)
class EmbedderModelConfig:
    """The embedding network.

    Args:
        tower: an ``image_towers`` name, or ``"triplet_net"`` for Hoffer &
            Ailon's 4-convolution CIFAR network.
        weights: initial tower weights (``None``, ``"imagenet"`` from the
            offline cache, a weights file, or a run directory whose
            ``image_tower`` is a ``tower`` at this image size, e.g. an
            image-only classifier run: the pre-trained ``f`` of deep ranking).
        dim: the embedding width.
        multiscale: Wang et al.'s two shallow branches beside the tower.
        l2_normalize: unit-norm embeddings (``triplet_net`` is never
            normalised inside; the saved model normalises its output).
        dropout: rate of a Dropout before the projection.
    """

    tower: str = "small_cnn"
    weights: str | None = None
    dim: int = 64
    multiscale: bool = False
    l2_normalize: bool = True
    dropout: float = 0.0


@dataclasses.dataclass(frozen=True)
class EmbedderTrainConfig:
    """The optimisation and how triplets are formed.

    Args:
        mode: ``"offline"`` (sampled triplets) or ``"online"`` (P x K batches).
        loss: the offline loss, ``triplet_hinge`` or ``softmax_ratio``.
        miner: the online loss, ``batch_hard``, ``semi_hard`` or ``batch_all``.
        margin: the hinge margin (``triplet_hinge`` and the miners).
        metric: ``euclidean``, ``squared_euclidean`` or ``cosine``.
        hardest_p: online: keep the hardest fraction of the batch's triplets
            (``None``: all).
        in_class_negative_fraction: offline sampled triplets: the fraction
            whose negative comes from the anchor's own class (deep
            ranking's fine-grained triplets; the nearer of two class-mates
            in 8x8 pixel thumbnails is the positive). The paper keeps
            about 20% out-of-class ones: at most 0.8 is sensible.
        batch_size: offline triplets per batch.
        p, k: online classes per batch and images per class.
        steps_per_epoch: batches per epoch (``None``: about one pass).
        lr_schedule: ``None`` (constant) or ``"cosine"`` (cosine decay to 0
            over ``epochs``).
        epochs, optimizer, learning_rate, patience, seed, verbose: as usual;
            ``patience`` is early stopping on ``val_loss`` (0: off).
    """

    mode: str = "online"
    loss: str = "triplet_hinge"
    miner: str = "batch_hard"
    margin: float = 1.0
    metric: str = "euclidean"
    hardest_p: float | None = None
    in_class_negative_fraction: float = 0.0
    batch_size: int = 32
    p: int = 8
    k: int = 4
    steps_per_epoch: int | None = None
    epochs: int = 10
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    lr_schedule: str | None = None
    patience: int = 0
    seed: int = 0
    verbose: int = 2


@dataclasses.dataclass(frozen=True)
class EmbedderConfig:
    """A whole embedder run; saved as its ``config.json``."""

    preset: str = "custom"
    task: str = "embedder"
    data: EmbedderDataConfig = dataclasses.field(default_factory=EmbedderDataConfig)
    model: EmbedderModelConfig = dataclasses.field(default_factory=EmbedderModelConfig)
    train: EmbedderTrainConfig = dataclasses.field(default_factory=EmbedderTrainConfig)


def _deep_ranking(name: str, multiscale: bool) -> EmbedderConfig:
    return EmbedderConfig(
        preset=name,
        data=EmbedderDataConfig(image_size=224, augment="deep_ranking"),
        model=EmbedderModelConfig(tower="resnet18", dim=4096, multiscale=multiscale),
        train=EmbedderTrainConfig(
            mode="offline", loss="triplet_hinge", margin=1.0, metric="euclidean",
            epochs=21, optimizer="sgd", learning_rate=1e-3,
        ),
    )  # fmt: skip


@register("embedder")
def deep_ranking() -> EmbedderConfig:
    """Wang et al.'s deep ranking: resnet18, 4096-d, hinge 1.0, 21 epochs."""
    return _deep_ranking("deep_ranking", multiscale=False)


@register("embedder")
def deep_ranking_multiscale() -> EmbedderConfig:
    """``deep_ranking`` with the paper's two shallow multi-scale branches."""
    return _deep_ranking("deep_ranking_multiscale", multiscale=True)


@register("embedder")
def triplet_net() -> EmbedderConfig:
    """Hoffer & Ailon: the CIFAR net, 32 px, 128-d, softmax ratio, Adam."""
    return EmbedderConfig(
        preset="triplet_net",
        data=EmbedderDataConfig(image_size=32, augment=None),
        model=EmbedderModelConfig(tower="triplet_net", dim=128, l2_normalize=False),
        train=EmbedderTrainConfig(
            mode="offline", loss="softmax_ratio", batch_size=128, epochs=500,
            learning_rate=5e-4, patience=50,
        ),
    )  # fmt: skip


@register("embedder")
def demo_embedder() -> EmbedderConfig:
    """``small_cnn`` at 64 px, online semi-hard mining (margin 0.2 on unit
    vectors) on 8 x 4 batches, on a CPU. (Batch-hard from scratch collapses
    on the demo world: its loss sits at the margin.)"""
    return EmbedderConfig(
        preset="demo_embedder",
        train=EmbedderTrainConfig(
            mode="online", miner="semi_hard", margin=0.2, epochs=25
        ),
    )


@register("embedder")
def demo_embedder_offline() -> EmbedderConfig:
    """``demo_embedder`` with offline triplets and the hinge loss."""
    return EmbedderConfig(
        preset="demo_embedder_offline",
        train=EmbedderTrainConfig(mode="offline", loss="triplet_hinge", epochs=8),
    )


@register("embedder")
def demo_embedder_smoke() -> EmbedderConfig:
    """A tiny ``small_cnn`` embedder at 32 px that trains in seconds."""
    return EmbedderConfig(
        preset="demo_embedder_smoke",
        data=EmbedderDataConfig(
            image_size=32, augment=None, eval_batch_size=64, val_triplets=64
        ),
        model=EmbedderModelConfig(dim=16),
        train=EmbedderTrainConfig(
            p=4, k=2, batch_size=16, steps_per_epoch=3, epochs=2, verbose=0
        ),
    )


#: the config class of this task (``registry.config_class``).
CONFIG = EmbedderConfig
