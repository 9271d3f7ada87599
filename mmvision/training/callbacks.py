"""The Keras callbacks every task trains with (``training.loop`` adds them).

- ``EpochLog``: adds ``learning_rate`` and ``seconds`` (wall time of the
  epoch) to the epoch logs, so the one ``CSVLogger`` history has them.
- ``RunCheckpoint``: after every epoch, ``checkpoints/last.keras`` (model and
  optimizer, for ``--resume``), ``best.weights.h5`` (lowest ``val_loss``) and
  ``state.json`` (epoch, best_val_loss, best_epoch), each atomic.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

from mmvision.training import run_dir
from mmvision.utils import write_json_atomic


class EpochLog(keras.callbacks.Callback):
    """Adds the optimizer's learning rate and the epoch's seconds to the logs.

    List it before a ``CSVLogger`` so that the history has both columns.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        lr = self.model.optimizer.learning_rate
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(lr))
        logs["seconds"] = round(time.perf_counter() - getattr(self, "_t0", 0.0), 3)


class RunCheckpoint(keras.callbacks.Callback):
    """Keeps ``run/checkpoints`` current after every epoch (see the module).

    Args:
        run: the run directory.
        state: ``run_dir.new_state()`` or a loaded state; updated in place.
        monitor: the log key whose lowest value marks the best weights
            (``loss`` when the run has no validation data).
    """

    def __init__(
        self, run: str | os.PathLike, state: dict[str, Any], monitor="val_loss"
    ):
        super().__init__()
        self.dir = Path(run) / run_dir.CHECKPOINTS
        self.state, self.monitor = state, monitor

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.dir.mkdir(parents=True, exist_ok=True)
        value = float(logs.get(self.monitor, logs.get("loss", np.inf)))
        if value < self.state["best_val_loss"]:
            self.state["best_val_loss"] = value
            self.state["best_epoch"] = epoch + 1
            run_dir.save_weights_atomic(self.model, self.dir / run_dir.BEST_WEIGHTS)
        run_dir.save_model_atomic(self.model, self.dir / run_dir.LAST)
        self.state["epoch"] = epoch + 1
        write_json_atomic(self.dir / run_dir.STATE, self.state)


class EpochProgress(keras.callbacks.Callback):
    """One tqdm bar over a run's epochs with the latest losses (for ``verbose=0``
    fits: a console of progress bars instead of a screen per epoch)."""

    def __init__(self, label: str, epochs: int):
        super().__init__()
        self.label, self.epochs, self.bar = label, int(epochs), None

    def on_train_begin(self, logs=None):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=self.epochs, desc=f"  {self.label}", unit="epoch",
                        leave=True, dynamic_ncols=True)  # fmt: skip

    def on_epoch_end(self, epoch, logs=None):
        if self.bar is None:
            return
        logs = logs or {}
        self.bar.n = epoch + 1
        shown = {k: f"{v:.3f}" for k, v in logs.items() if k in _SHOWN}
        self.bar.set_postfix(shown, refresh=True)

    def on_train_end(self, logs=None):
        if self.bar is not None:
            self.bar.close()


_SHOWN = ("loss", "val_loss", "val_top1", "val_accuracy")
