"""Configs and presets of the multimodal classifier.

The ``webvision_*`` presets mirror the WebVision study's Table 2 (image size
300, batch 256 unimodal / 128 multimodal, the study's optimizer per model with
TensorFlow's documented default parameters, learning rate 0.001; first 50% of
the image tower frozen). USE and BERT are directories the user supplies:
``--set model.text_tower=hub:/path/to/use`` or
``--set model.text_tower=keras_hub:/path/to/bert``. The ``demo_*`` presets are
sized for a 2-core CPU and the 64 px demo world; ``demo_classifier_smoke``
trains in seconds and is what the tests run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mmvision.configs.registry import register


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from and how it is split and fed.

    Args:
        format: reader in ``mmvision.data.sources`` (``webvision``, ``folders``,
            ``table``, ``tiny_imagenet``). For a demo world root, the matching
            layout below it is used (``webvision/``, ``folders/`` ...).
        sources: WebVision sources to read.
        fields: text fields fed to the model (any of title, description, tags).
        image_size: square input side in pixels.
        split: ``"stratified"`` (per-class split of the train lists, the
            study's way) or ``"given"`` (the reader's own split column).
        val_fraction, test_fraction: per-class fractions of ``stratified``.
        split_seed: seed of the split.
        augment: augmentation preset of ``mmvision.data.augment`` for training
            (``""`` for none).
        cache: cache decoded images in memory after the first epoch.
    """

    format: str = "webvision"
    sources: tuple[str, ...] = ("google", "flickr")
    fields: tuple[str, ...] = ("title", "description", "tags")
    image_size: int = 64
    split: str = "stratified"
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    split_seed: int = 0
    augment: str = ""
    cache: bool = True


@dataclass(frozen=True)
class ModelConfig:
    """The towers and the fusion.

    Args:
        image_tower: a name of ``image_towers.NAMES`` or ``None`` (text-only).
        image_weights: ``None``, ``"imagenet"``, a weights file, or a run
            directory whose image tower is copied (``demo_fused_pretrained``).
        freeze_fraction: fraction of the image backbone's layers frozen.
        text_tower: a spec of ``text_towers`` or ``None`` (image-only).
        text_dim: output width of each text tower.
        text_options: extra options of the text tower (JSON with ``--set``).
        share_text_tower: one text tower for every field instead of one each.
        fusion: ``"concat"`` (the study's concatenation) or ``"late"``
            (average of per-modality softmax outputs over present modalities).
        modality_dropout: rate of ``ModalityDropout`` between the image and the
            text modality while training (0 disables it).
        text_dropout: the text modality's own rate (default: ``modality_dropout``);
            higher than the image's keeps the model good when text is missing.
        hidden_units: width of the Dense block after fusion (0: none).
        dropout: dropout after the fused Dense block.
    """

    image_tower: str | None = "small_cnn"
    image_weights: str | None = None
    freeze_fraction: float = 0.0
    text_tower: str | None = "bow"
    text_dim: int = 128
    text_options: dict[str, Any] = field(default_factory=dict)
    share_text_tower: bool = False
    fusion: str = "concat"
    modality_dropout: float = 0.0
    text_dropout: float | None = None
    hidden_units: int = 256
    dropout: float = 0.3


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and callbacks.

    ``lr_schedule``: ``"plateau"`` (ReduceLROnPlateau on val_loss, with
    ``reduce_lr_patience`` / ``reduce_lr_factor``) or ``"cosine"`` (cosine
    decay from ``learning_rate`` to 0 over ``epochs``, per step; steadier
    for towers trained from scratch, whose val loss is noisy early on).
    ``early_stopping_patience`` 0 turns early stopping off.
    """

    epochs: int = 15
    batch_size: int = 64
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    lr_schedule: str = "plateau"
    early_stopping_patience: int = 4
    reduce_lr_patience: int = 2
    reduce_lr_factor: float = 0.5
    label_smoothing: float = 0.0
    seed: int = 0
    verbose: int = 2


@dataclass(frozen=True)
class ClassifierConfig:
    """Everything a classifier run needs; saved as the run's ``config.json``."""

    preset: str = "demo_fused"
    task: str = "classifier"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def _study(name, image, text, optimizer, batch, **model) -> ClassifierConfig:
    return ClassifierConfig(
        preset=name,
        data=DataConfig(
            image_size=300, val_fraction=0.02, test_fraction=0.02, augment="flip"
        ),
        model=ModelConfig(
            image_tower=image,
            image_weights="imagenet" if image else None,
            freeze_fraction=0.5,
            text_tower=text,
            text_dim=512,
            **model,
        ),
        train=TrainConfig(
            epochs=30,
            batch_size=batch,
            optimizer=optimizer,
            learning_rate=1e-3,  # the TensorFlow default of all three optimizers
            verbose=1,
        ),
    )


# Placeholders the user replaces with a local directory (nothing downloads):
#   --set model.text_tower=hub:/path/to/universal-sentence-encoder
#   --set model.text_tower=keras_hub:/path/to/bert  (or hub:/path/to/bert)
_USE = "hub:universal-sentence-encoder"
_BERT = "keras_hub:bert"


def _demo(name: str, **model) -> ClassifierConfig:
    return ClassifierConfig(preset=name, model=ModelConfig(**model))


# The WebVision study's models (Table 2: image size 300, ImageNet weights).
@register("classifier")
def webvision_inceptionv3():
    return _study("webvision_inceptionv3", "inceptionv3", None, "adagrad", 256)


@register("classifier")
def webvision_resnet50v2():
    return _study("webvision_resnet50v2", "resnet50v2", None, "nadam", 256)


@register("classifier")
def webvision_mobilenetv2():
    return _study("webvision_mobilenetv2", "mobilenetv2", None, "nadam", 256)


@register("classifier")
def webvision_use_dnn():
    return _study("webvision_use_dnn", None, _USE, "adamax", 256)


@register("classifier")
def webvision_resnet50v2_use():
    return _study("webvision_resnet50v2_use", "resnet50v2", _USE, "adamax", 128)


@register("classifier")
def webvision_inceptionv3_use():
    return _study("webvision_inceptionv3_use", "inceptionv3", _USE, "adagrad", 128)


@register("classifier")
def webvision_mobilenetv2_use():
    return _study("webvision_mobilenetv2_use", "mobilenetv2", _USE, "adamax", 128)


@register("classifier")
def webvision_bert_dnn():
    return _study("webvision_bert_dnn", None, _BERT, "nadam", 256)


@register("classifier")
def webvision_inceptionv3_bert():
    return _study("webvision_inceptionv3_bert", "inceptionv3", _BERT, "adagrad", 128)


@register("classifier")
def webvision_resnet50v2_bert():
    return _study("webvision_resnet50v2_bert", "resnet50v2", _BERT, "nadam", 128)


@register("classifier")
def webvision_mobilenetv2_bert():
    return _study("webvision_mobilenetv2_bert", "mobilenetv2", _BERT, "nadam", 128)


# Sized for this CPU and the 64 px demo world.
@register("classifier")
def demo_image():
    return _demo("demo_image", text_tower=None)


@register("classifier")
def demo_text_bow():
    return _demo("demo_text_bow", image_tower=None)


@register("classifier")
def demo_text_minilm():
    return _demo("demo_text_minilm", image_tower=None, text_tower="minilm")


@register("classifier")
def demo_fused():
    return _demo("demo_fused", modality_dropout=0.2, text_dropout=0.5)


@register("classifier")
def demo_fused_pretrained():
    """The study's recipe on the demo world: a pre-trained image tower, frozen.

    No ImageNet weights exist offline, so the tower of an image-only run
    stands in: ``--set model.image_weights=RUN_DIR``.
    """
    return _demo(
        "demo_fused_pretrained",
        modality_dropout=0.2,
        text_dropout=0.5,
        freeze_fraction=1.0,
    )


@register("classifier")
def demo_fused_minilm():
    return _demo(
        "demo_fused_minilm", text_tower="minilm", modality_dropout=0.2, text_dropout=0.5
    )


@register("classifier")
def demo_late_fusion():
    return _demo("demo_late_fusion", fusion="late", freeze_fraction=1.0)


@register("classifier")
def demo_image_resnet():
    """A shape-aware image tower: ``small_resnet`` with the 8 lossless
    flips/turns of the square, cosine decay, no early stopping (its val loss
    is noisy while it learns)."""
    return ClassifierConfig(
        preset="demo_image_resnet",
        data=DataConfig(augment="dihedral"),
        model=ModelConfig(image_tower="small_resnet", text_tower=None),
        train=TrainConfig(
            epochs=30,
            batch_size=32,
            learning_rate=3e-3,
            lr_schedule="cosine",
            early_stopping_patience=0,
        ),
    )


@register("classifier")
def demo_classifier_smoke():
    """A fused classifier that trains in seconds at 32 px: what the tests run."""
    return ClassifierConfig(
        preset="demo_classifier_smoke",
        data=DataConfig(image_size=32),
        model=ModelConfig(text_dim=16, hidden_units=32, modality_dropout=0.2),
        train=TrainConfig(epochs=2, batch_size=32, verbose=0),
    )


#: the config class of this task (``registry.config_class``).
CONFIG = ClassifierConfig
