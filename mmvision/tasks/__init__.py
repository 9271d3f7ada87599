"""Trainable tasks: one module per task on ``tasks.base.Task``.

``get("classifier")`` returns a task instance; ``training.fit_task`` trains
any of them. Adding a task: a new file here, its config module, and one line
in ``configs.registry.TASKS``.
"""

from __future__ import annotations

from mmvision.configs.registry import TASKS, task_class
from mmvision.tasks.base import Task


def names() -> list[str]:
    return sorted(TASKS)


def get(name: str, **kwargs) -> Task:
    """A new instance of the task ``name``; ``ValueError`` lists the names."""
    return task_class(name)(**kwargs)


__all__ = ["Task", "get", "names"]
