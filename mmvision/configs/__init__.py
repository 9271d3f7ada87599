"""One config dialect for every task (configs are code).

Configs are frozen dataclasses with a ``task`` and a ``preset`` field;
presets are functions registered per task (``registry.register``) and found
with ``get_preset(task, name)``; ``apply_overrides`` parses
``--set section.field=value`` strings; ``to_dict``/``from_dict`` round-trip a
config through a run's ``config.json``.
"""

from __future__ import annotations

from mmvision.configs import registry
from mmvision.configs.base import apply_overrides, from_dict, to_dict
from mmvision.configs.captioner import CaptionerConfig
from mmvision.configs.classifier import (
    ClassifierConfig,
    DataConfig,
    ModelConfig,
    TrainConfig,
)
from mmvision.configs.concept_tagger import ConceptTaggerConfig
from mmvision.configs.registry import find_task, get_preset, preset_names, tasks

#: task name -> its config class.
CONFIG_CLASSES = {task: registry.config_class(task) for task in registry.TASKS}


def config_from_dict(data: dict) -> object:
    """The config of a run's ``config.json`` content, by its ``task`` key."""
    task = data.get("task")
    if task not in CONFIG_CLASSES:
        raise ValueError(f"config has task {task!r}; valid: {sorted(CONFIG_CLASSES)}")
    return from_dict(CONFIG_CLASSES[task], data)


__all__ = [
    "CONFIG_CLASSES",
    "CaptionerConfig",
    "ClassifierConfig",
    "ConceptTaggerConfig",
    "DataConfig",
    "ModelConfig",
    "TrainConfig",
    "apply_overrides",
    "config_from_dict",
    "find_task",
    "from_dict",
    "get_preset",
    "preset_names",
    "tasks",
    "to_dict",
]
