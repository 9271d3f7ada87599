"""Dataclass configs and named presets (configs are code).

``get_preset(name)`` finds a preset of any task; ``apply_overrides`` applies
``--set section.field=value`` strings.
"""

from __future__ import annotations

from typing import Any

from mmvision.configs.base import apply_overrides, from_dict, to_dict
from mmvision.configs.classifier import PRESETS as CLASSIFIER_PRESETS
from mmvision.configs.classifier import (
    ClassifierConfig,
    DataConfig,
    ModelConfig,
    TrainConfig,
)


def _families() -> dict[str, dict[str, Any]]:
    families: dict[str, dict[str, Any]] = {"classifier": CLASSIFIER_PRESETS}
    try:
        from mmvision.configs import captioner
    except ImportError:
        pass
    else:
        families["captioner"] = dict(captioner.PRESETS)
    return families


def preset_names(task: str | None = None) -> list[str]:
    """Names of the presets of ``task`` (all tasks when ``None``)."""
    fams = _families()
    if task is not None and task not in fams:
        raise ValueError(f"unknown task {task!r}; valid: {sorted(fams)}")
    return sorted(n for t, ps in fams.items() if task in (None, t) for n in ps)


def get_preset(name: str, task: str | None = None) -> Any:
    """The preset called ``name``; ``ValueError`` lists the valid names."""
    for t, presets in _families().items():
        if task in (None, t) and name in presets:
            preset = presets[name]
            return preset() if callable(preset) else preset
    raise ValueError(f"unknown preset {name!r}; valid: {preset_names(task)}")


__all__ = [
    "ClassifierConfig",
    "DataConfig",
    "ModelConfig",
    "TrainConfig",
    "apply_overrides",
    "from_dict",
    "get_preset",
    "preset_names",
    "to_dict",
]
