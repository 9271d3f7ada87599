"""Trainable tasks: one module per task on ``tasks.base.Task``.

``get("classifier")`` returns a task instance; ``training.fit_task`` trains
any of them. Adding a task: a new file here and one line in ``REGISTRY``.
"""

from __future__ import annotations

import importlib

from mmvision.tasks.base import Task

#: task name -> "module:Class".
REGISTRY = {
    "classifier": "mmvision.tasks.classifier:ClassifierTask",
    "captioner": "mmvision.tasks.captioner:CaptionerTask",
    "concept_tagger": "mmvision.tasks.concept_tagger:ConceptTaggerTask",
}


def names() -> list[str]:
    return sorted(REGISTRY)


def get(name: str, **kwargs) -> Task:
    """A new instance of the task ``name``; ``ValueError`` lists the names."""
    if name not in REGISTRY:
        raise ValueError(f"unknown task {name!r}; valid: {names()}")
    module, cls = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)(**kwargs)


__all__ = ["REGISTRY", "Task", "get", "names"]
