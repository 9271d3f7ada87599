"""Captioner configs: dataclasses and named presets.

A ``CaptionerConfig`` is enough to rerun a captioning run: it is written to
the run directory's ``config.json`` (``to_dict``) and read back
(``configs.from_dict``). Presets:

- ``flickr8k_xception_lstm``: the reference setup. Xception ImageNet
  features (2048-d, 299 px, pixels scaled to [-1, 1] inside the tower), cached
  once; merge decoder (Dense 256 / Embedding 256 + LSTM 256); max length 32.
- ``demo_captioner``: sized for a 2-core CPU on the demo world (64 px). No
  ImageNet weights exist offline, so a ``small_resnet`` tower first learns
  the world from the words of its training captions (``features.pretrain=
  "concepts"``, the ``concept_tagger`` task); the decoder then trains on its cached
  features. ``--set features.pretrain=none --set features.source=RUN`` uses
  another run's tower instead (a classifier run, e.g. ``demo_image_resnet``);
  a random tower is refused.
- ``demo_captioner_e2e``: a ``small_cnn`` tower trained end to end with the
  caption loss from pixels; needs no other run, learns less.
- ``demo_captioner_smoke``: trains in seconds; what the tests run.

Example:
>>> from mmvision.configs import get_preset
>>> get_preset("captioner", "demo_captioner").model.units
256
"""

from __future__ import annotations

import dataclasses

from mmvision.configs.registry import register


@dataclasses.dataclass(frozen=True)
class CaptionerDataConfig:
    """Data settings.

    Args:
        image_size: side of the square images fed to the tower (pixels).
        max_len: caption length in tokens (input and target sequences).
        min_count: keep words seen at least this often in training captions.
        max_vocab: vocabulary size cap (including the 4 reserved tokens).
        batch_size: examples per batch (captions, or words in ``per_word``).
        padding: sequence batches padded to ``"max_len"``, to the batch's
            longest caption (``"batch"``) or batched by length and cut
            (``"bucket"``, the default: the LSTM runs the steps the captions
            need); see ``pipelines.caption_dataset``. Per-word rows always
            keep ``max_len``.
    """

    image_size: int = 299
    max_len: int = 32
    min_count: int = 1
    max_vocab: int | None = None
    batch_size: int = 64
    padding: str = "bucket"


@dataclasses.dataclass(frozen=True)
class CaptionerFeaturesConfig:
    """Where image features come from.

    Args:
        tower: image tower name (``mmvision.models.image_towers.NAMES``).
        weights: ``"imagenet"``, ``None`` or a ``.h5`` path (the tower's).
        source: a run directory (``model.keras`` holding a layer named
            ``"image_tower"``, ``config.json`` with ``data.image_size``);
            overrides ``tower`` / ``weights``.
        end_to_end: train the tower with the caption loss from pixels
            instead of caching features.
        freeze_fraction: fraction of the tower's layers frozen (end to end).
        cache_dir: feature cache directory (default ``$MMVISION_CACHE/features``
            or ``~/.cache/mmvision/features``).
        batch_size: images per batch when extracting features.
        pretrain: ``"none"``, or ``"concepts"``: first train ``tower`` (from
            ``weights``) on the words of the training captions
            (the ``concept_tagger`` task) into ``RUN/tower``, then cache its
            features. For when no pre-trained weights fit the images.
        pretrain_epochs, pretrain_batch_size, pretrain_learning_rate: its
            training (cosine decay to 0).
        pretrain_augment: its augmentation preset (``mmvision.data.augment``;
            ``"dihedral"`` only where orientation does not change the words).
    """

    tower: str = "xception"
    weights: str | None = "imagenet"
    source: str | None = None
    end_to_end: bool = False
    freeze_fraction: float = 0.0
    cache_dir: str | None = None
    batch_size: int = 32
    pretrain: str = "none"
    pretrain_epochs: int = 30
    pretrain_batch_size: int = 32
    pretrain_learning_rate: float = 3e-3
    pretrain_augment: str | None = "flip"


@dataclasses.dataclass(frozen=True)
class CaptionerModelConfig:
    """Merge decoder sizes (``mmvision.models.captioner.build_captioner``)."""

    embed_dim: int = 256
    units: int = 256
    dropout: float = 0.5


@dataclasses.dataclass(frozen=True)
class CaptionerTrainConfig:
    """Training settings.

    Args:
        epochs: maximum epochs.
        learning_rate: Adam learning rate.
        per_word: train on the reference's per-word expansion table (one
            example per word prefix) instead of sequence targets.
        patience: early stopping on validation loss (0 = off).
        seed: shuffling and initialisation seed.
        evaluate: score the test split after training (``metrics.json``).
        verbose: Keras ``fit`` verbosity.
    """

    epochs: int = 20
    learning_rate: float = 1e-3
    per_word: bool = False
    patience: int = 3
    seed: int = 0
    evaluate: bool = True
    verbose: int = 2


@dataclasses.dataclass(frozen=True)
class CaptionerDecodeConfig:
    """Decoding settings: beam width (1 = greedy) and length normalisation.

    ``length_penalty`` is alpha in ``score = sum(log p) / length ** alpha``.
    """

    beam: int = 3
    length_penalty: float = 1.0
    eval_split: str = "test"
    grid_images: int = 12


@dataclasses.dataclass(frozen=True)
class CaptionerConfig:
    """A whole captioning run (see the module docstring)."""

    preset: str = "custom"
    task: str = "captioner"
    data: CaptionerDataConfig = dataclasses.field(default_factory=CaptionerDataConfig)
    features: CaptionerFeaturesConfig = dataclasses.field(
        default_factory=CaptionerFeaturesConfig
    )
    model: CaptionerModelConfig = dataclasses.field(
        default_factory=CaptionerModelConfig
    )
    train: CaptionerTrainConfig = dataclasses.field(
        default_factory=CaptionerTrainConfig
    )
    decode: CaptionerDecodeConfig = dataclasses.field(
        default_factory=CaptionerDecodeConfig
    )


@register("captioner")
def flickr8k_xception_lstm() -> CaptionerConfig:
    """The reference: cached Xception features, LSTM 256 merge decoder."""
    return CaptionerConfig(preset="flickr8k_xception_lstm")


@register("captioner")
def demo_captioner() -> CaptionerConfig:
    """A ``small_resnet`` tower trained on caption words, then the decoder on
    its cached features (no ImageNet weights exist offline; the demo world's
    words do not depend on orientation, so the tower sees all 8 flips/turns).
    """
    return CaptionerConfig(
        preset="demo_captioner",
        data=CaptionerDataConfig(image_size=64, batch_size=64),
        features=CaptionerFeaturesConfig(
            tower="small_resnet",
            weights=None,
            end_to_end=False,
            batch_size=128,
            pretrain="concepts",
            pretrain_epochs=40,
            pretrain_augment="dihedral",
        ),  # fmt: skip
        train=CaptionerTrainConfig(epochs=40, learning_rate=2e-3, patience=4),
        decode=CaptionerDecodeConfig(beam=3),
    )


@register("captioner")
def demo_captioner_e2e() -> CaptionerConfig:
    """A ``small_cnn`` tower trained end to end from pixels with the caption loss."""
    return CaptionerConfig(
        preset="demo_captioner_e2e",
        data=CaptionerDataConfig(image_size=64, batch_size=64),
        features=CaptionerFeaturesConfig(
            tower="small_cnn", weights=None, end_to_end=True, batch_size=128
        ),
        train=CaptionerTrainConfig(epochs=5, learning_rate=2e-3, patience=2),
        decode=CaptionerDecodeConfig(beam=3),
    )


@register("captioner")
def demo_captioner_smoke() -> CaptionerConfig:
    """Trains in seconds on a tiny world: what the tests use."""
    return CaptionerConfig(
        preset="demo_captioner_smoke",
        data=CaptionerDataConfig(image_size=32, max_len=16, batch_size=32),
        features=CaptionerFeaturesConfig(
            tower="small_cnn", weights=None, end_to_end=True, batch_size=64
        ),
        model=CaptionerModelConfig(embed_dim=32, units=32, dropout=0.2),
        train=CaptionerTrainConfig(epochs=2, learning_rate=3e-3, patience=0, verbose=0),
        decode=CaptionerDecodeConfig(beam=2, grid_images=4),
    )


#: the config class of this task (``registry.config_class``).
CONFIG = CaptionerConfig
