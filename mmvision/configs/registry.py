"""One preset registry for every task: ``get_preset(task, name)``.

Presets are functions returning a frozen config dataclass; a config module
names its config class ``CONFIG`` and registers each preset with
``@register("classifier")``; ``TASKS`` below lists every task once.

Example:
>>> cfg = get_preset("captioner", "demo_captioner_smoke")
>>> cfg.task, cfg.preset
('captioner', 'demo_captioner_smoke')
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

#: The one registry of tasks: name -> (the module of its config class and
#: presets, its ``tasks.Task`` class as "module:Class"). A new task is a line
#: here, a config module and a task module.
TASKS = {
    "classifier": (
        "mmvision.configs.classifier",
        "mmvision.tasks.classifier:ClassifierTask",
    ),
    "captioner": (
        "mmvision.configs.captioner",
        "mmvision.tasks.captioner:CaptionerTask",
    ),
    "concept_tagger": (
        "mmvision.configs.concept_tagger",
        "mmvision.tasks.concept_tagger:ConceptTaggerTask",
    ),
    "embedder": ("mmvision.configs.embedder", "mmvision.tasks.embedder:EmbedderTask"),
}
#: task name -> module whose import registers that task's presets.
PRESET_MODULES = {task: module for task, (module, _) in TASKS.items()}

_PRESETS: dict[str, dict[str, Callable[[], Any]]] = {}


def register(task: str) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
    """Decorator: registers a preset function under ``task`` and its own name."""

    def wrap(fn: Callable[[], Any]) -> Callable[[], Any]:
        _PRESETS.setdefault(task, {})[fn.__name__] = fn
        return fn

    return wrap


def _load(task: str | None) -> None:
    for t, module in PRESET_MODULES.items():
        if task in (None, t):
            importlib.import_module(module)


def tasks() -> list[str]:
    """Names of the tasks that have presets."""
    return sorted(PRESET_MODULES)


def preset_names(task: str | None = None) -> list[str]:
    """Names of the presets of ``task`` (every task when ``None``)."""
    if task is not None and task not in PRESET_MODULES:
        raise ValueError(f"unknown task {task!r}; valid: {tasks()}")
    _load(task)
    return sorted(n for t, ps in _PRESETS.items() if task in (None, t) for n in ps)


def get_preset(task: str, name: str) -> Any:
    """A fresh config of preset ``name`` of ``task``.

    Raises:
        ValueError: an unknown task or preset (the valid names listed).
    """
    if task not in PRESET_MODULES:
        raise ValueError(f"unknown task {task!r}; valid: {tasks()}")
    _load(task)
    presets = _PRESETS.get(task, {})
    if name not in presets:
        raise ValueError(f"unknown {task} preset {name!r}; valid: {sorted(presets)}")
    cfg = presets[name]()
    if getattr(cfg, "preset", name) != name or getattr(cfg, "task", task) != task:
        raise ValueError(f"preset function {name!r} returned {cfg.task}/{cfg.preset}")
    return cfg


def find_task(name: str) -> str:
    """The task that owns preset ``name`` (an error when none or several do)."""
    owners = [t for t in tasks() if name in preset_names(t)]
    if len(owners) != 1:
        raise ValueError(
            f"preset {name!r} belongs to {owners or 'no task'}; valid: {preset_names()}"
        )
    return owners[0]


def _check(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; valid: {tasks()}")


def config_class(task: str) -> type:
    """The config dataclass of ``task`` (its config module's ``CONFIG``)."""
    _check(task)
    return importlib.import_module(TASKS[task][0]).CONFIG


def task_class(task: str) -> type:
    """The ``tasks.Task`` subclass of ``task``."""
    _check(task)
    module, cls = TASKS[task][1].split(":")
    return getattr(importlib.import_module(module), cls)
