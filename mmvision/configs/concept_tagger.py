"""Configs of the caption-word ("visual concept") tagger: an image tower
trained to predict the words of an image's captions.

Presets: ``demo_concept_tagger`` (``small_resnet`` at 64 px, the 8 flips and
turns of the square, 40 epochs) and ``demo_concept_tagger_smoke`` (seconds;
what the tests run). The captioner builds one of these configs from its
``features.pretrain*`` settings when it pre-trains its own tower.

Example:
>>> from mmvision.configs import get_preset
>>> get_preset("concept_tagger", "demo_concept_tagger").model.tower
'small_resnet'
"""

from __future__ import annotations

import dataclasses

from mmvision.configs.registry import register


@dataclasses.dataclass(frozen=True)
class ConceptDataConfig:
    """Images and the caption vocabulary.

    Args:
        image_size: square input side in pixels.
        batch_size: training images per batch.
        eval_batch_size: images per batch when scoring.
        augment: an ``mmvision.data.augment`` preset (``"dihedral"`` only where
            orientation does not change the words), ``None`` for none.
        min_count, max_vocab: vocabulary of the training captions (as the
            captioner builds it, so both share one vocabulary).
    """

    image_size: int = 64
    batch_size: int = 32
    eval_batch_size: int = 128
    augment: str | None = "flip"
    min_count: int = 1
    max_vocab: int | None = None


@dataclasses.dataclass(frozen=True)
class ConceptModelConfig:
    """The tower (``image_towers`` name and initial weights) and its head."""

    tower: str = "small_resnet"
    weights: str | None = None
    dropout: float = 0.2


@dataclasses.dataclass(frozen=True)
class ConceptTrainConfig:
    """Adam with cosine decay to 0 over ``epochs`` (per step)."""

    epochs: int = 30
    learning_rate: float = 3e-3
    seed: int = 0
    verbose: int = 2


@dataclasses.dataclass(frozen=True)
class ConceptTaggerConfig:
    """A whole caption-word tagger run; saved as its ``config.json``."""

    preset: str = "custom"
    task: str = "concept_tagger"
    data: ConceptDataConfig = dataclasses.field(default_factory=ConceptDataConfig)
    model: ConceptModelConfig = dataclasses.field(default_factory=ConceptModelConfig)
    train: ConceptTrainConfig = dataclasses.field(default_factory=ConceptTrainConfig)


@register("concept_tagger")
def demo_concept_tagger() -> ConceptTaggerConfig:
    """``small_resnet`` on the demo world's caption words, all 8 symmetries."""
    return ConceptTaggerConfig(
        preset="demo_concept_tagger",
        data=ConceptDataConfig(augment="dihedral"),
        train=ConceptTrainConfig(epochs=40),
    )


@register("concept_tagger")
def demo_concept_tagger_smoke() -> ConceptTaggerConfig:
    """A ``small_cnn`` tagger at 32 px that trains in seconds."""
    return ConceptTaggerConfig(
        preset="demo_concept_tagger_smoke",
        data=ConceptDataConfig(image_size=32, batch_size=32, augment=None),
        model=ConceptModelConfig(tower="small_cnn"),
        train=ConceptTrainConfig(epochs=2, verbose=0),
    )


#: the config class of this task (``registry.config_class``).
CONFIG = ConceptTaggerConfig
