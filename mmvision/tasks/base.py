"""The shared shape of a trainable task: what ``training.loop.fit_task`` calls.

A task knows its data, its model and its evaluation; the loop owns
everything else (run directory, checkpoints, history, early stopping,
``--resume``, ``tf.distribute``). A new task is a new file in
``mmvision/tasks/`` with a ``Task`` subclass, a config module, and one line
in ``configs.registry.TASKS``.

Order of the calls in ``fit_task``::

    data = task.load_data(cfg, data_dir, run=run)       # readers, splits, vocabulary
    cfg, data = task.prepare(cfg, data, run, strategy)  # e.g. features, sub-runs
    train_ds, val_ds = task.datasets(cfg, data)
    model = task.build_model(cfg, data)                 # new runs, under the strategy
    task.compile(model, cfg, task.steps_per_epoch(cfg, data, train_ds))
    task.write_assets(cfg, data, run)                   # classes.json, vocab.txt
    model.fit(train_ds, validation_data=val_ds, callbacks=[..., *task callbacks])
    metrics = task.after_fit(run, model, cfg, data)     # val/test figures
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar


class Task:
    """Base class of every task (see the module docstring)."""

    #: the ``task`` value of its configs and run directories.
    name: ClassVar[str] = ""
    #: config keys ``--resume`` may change (``fnmatch`` patterns on dotted
    #: keys); every other difference from the stored config is refused.
    resume_keys: ClassVar[tuple[str, ...]] = ("train.epochs", "train.verbose")

    # ------------------------------------------------------------- config
    def epochs(self, cfg: Any) -> int:
        return int(cfg.train.epochs)

    def seed(self, cfg: Any) -> int:
        return int(cfg.train.seed)

    def verbose(self, cfg: Any) -> int:
        return int(getattr(cfg.train, "verbose", 2))

    def patience(self, cfg: Any) -> int:
        """Early-stopping patience on ``val_loss`` (0: off)."""
        return 0

    # --------------------------------------------------------------- data
    def load_data(self, cfg: Any, data_dir: str | os.PathLike, run: Path | None = None):
        """Reads and splits the data ``cfg`` names (``run``: the run directory,
        for assets a resumed run must reuse, such as its vocabulary)."""
        raise NotImplementedError

    def prepare(self, cfg: Any, data: Any, run: Path, strategy: Any = None):
        """Work between reading and training (``(cfg, data)`` may change)."""
        return cfg, data

    def run_info(self, cfg: Any, data: Any) -> dict[str, Any]:
        """Facts about the inputs recorded in ``run_info.json``."""
        return {}

    def write_assets(self, cfg: Any, data: Any, run: Path) -> None:
        """Files beside the model that inference needs (classes, vocabulary)."""

    def datasets(self, cfg: Any, data: Any) -> tuple[Any, Any]:
        """``(train, val)`` ``tf.data`` pipelines (``val`` may be ``None``)."""
        raise NotImplementedError

    def steps_per_epoch(self, cfg: Any, data: Any, train_ds: Any) -> int:
        """Optimizer steps of one epoch (schedules decaying over the run)."""
        return 1

    # -------------------------------------------------------------- model
    def build_model(self, cfg: Any, data: Any) -> Any:
        raise NotImplementedError

    def compile(self, model: Any, cfg: Any, steps_per_epoch: int = 1) -> None:
        raise NotImplementedError

    def schedule(self, cfg: Any, steps_per_epoch: int = 1) -> Any:
        """The learning-rate schedule over the whole run, or ``None`` for a
        constant rate. A resume with a new ``train.epochs`` gets it anew, so
        the schedule ends on the new last step."""
        return None

    def default_callbacks(self, cfg: Any) -> list[Any]:
        """Task callbacks beside the loop's own (e.g. ReduceLROnPlateau)."""
        return []

    # --------------------------------------------------------- evaluation
    def after_fit(self, run: Path, model: Any, cfg: Any, data: Any) -> dict[str, Any]:
        """Figures computed right after training (merged into metrics.json)."""
        return {}

    def evaluate(
        self,
        run: str | os.PathLike,
        data_dir: str | os.PathLike | None = None,
        split: str | None = None,
    ) -> dict[str, Any]:
        """The task's full evaluation of a finished run (``mmvision evaluate``)."""
        raise NotImplementedError(f"task {self.name!r} has no evaluation")
