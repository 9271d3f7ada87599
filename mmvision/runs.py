"""Run directories (DESIGN.md): one folder per training command.

``config.json`` (enough to rerun it), ``model.keras``, ``history.csv``,
``metrics.json`` (flat keys, floats), ``checkpoints/`` for ``--resume``,
plots (``*.png``) and ``report.html``. Every file is written atomically.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from mmvision.utils import atomic_path, write_json_atomic

CONFIG = "config.json"
MODEL = "model.keras"
HISTORY = "history.csv"
METRICS = "metrics.json"
CHECKPOINTS = "checkpoints"


class RunError(ValueError):
    """A run directory that cannot be used as asked (names the path)."""


def prepare(out: str | os.PathLike, resume: bool) -> Path:
    """Checks ``out`` for a new run or for ``--resume``; returns it as a Path.

    A new run refuses a folder that already holds a run (so results are not
    mixed up); ``resume`` requires one with a checkpoint.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunError(f"run directory {out} exists and is not a directory")
    ckpt = out / CHECKPOINTS / "last.keras"
    if resume:
        if not ckpt.exists():
            raise RunError(
                f"nothing to resume in {out}: no checkpoint {ckpt} "
                "(start a new run without --resume)"
            )
        return out
    if out.is_dir() and ((out / CONFIG).exists() or (out / CHECKPOINTS).exists()):
        raise RunError(
            f"{out} already holds a run; pass --resume to continue it or choose "
            "another --out"
        )
    out.mkdir(parents=True, exist_ok=True)
    return out


def read_config(run: str | os.PathLike) -> dict[str, Any]:
    path = Path(run) / CONFIG
    if not path.is_file():
        raise RunError(f"{run} is not a run directory: {path} is missing")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise RunError(f"{path} is not valid JSON: {e}") from None


def _flatten(metrics: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"test": {"top1": x}}`` -> ``{"test_top1": x}``; numpy scalars -> Python."""
    out: dict[str, Any] = {}
    for k, v in metrics.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "_"))
        elif isinstance(v, (np.floating, np.integer)):
            out[key] = v.item()
        elif isinstance(v, (int, float, str, bool)) or v is None:
            out[key] = v
    return out


def write_metrics(run: str | os.PathLike, metrics: dict[str, Any]) -> dict[str, Any]:
    """Merges flat ``metrics`` into the run's ``metrics.json`` (atomic)."""
    path = Path(run) / METRICS
    current = json.loads(path.read_text()) if path.exists() else {}
    current.update(_flatten(metrics))
    write_json_atomic(path, current)
    return current


def save_model_atomic(model: Any, path: str | os.PathLike) -> None:
    """``model.save`` through a temporary file and a rename."""
    with atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)


def save_weights_atomic(model: Any, path: str | os.PathLike) -> None:
    with atomic_path(path, suffix=".weights.h5") as tmp:
        model.save_weights(tmp)


BEST_WEIGHTS = "best.weights.h5"
STATE = "state.json"


def new_state() -> dict[str, Any]:
    """The checkpoint state of a run that has not trained yet."""
    return {"epoch": 0, "best_val_loss": float("inf"), "best_epoch": 0}


def optimizer_steps_per_epoch(dataset: Any, n_examples: int, batch_size: int) -> int:
    """Optimizer iterations one ``model.fit`` epoch over ``dataset`` takes.

    ``ceil(n_examples / batch_size)`` batches, plus one where the dataset's
    length is unknown (a ``filter`` for undecodable images, length buckets):
    Keras 3 then ends each epoch with a train step on an empty batch, which
    counts as an iteration. Learning-rate schedules that decay over the run
    (``CosineDecay``) need the true count to reach their end on the last step.
    """
    import tensorflow as tf

    steps = max(1, math.ceil(int(n_examples) / int(batch_size)))
    unknown = int(dataset.cardinality()) == int(tf.data.UNKNOWN_CARDINALITY)
    return steps + int(unknown)


def checkpoint_callback(run: str | os.PathLike, state: dict[str, Any]) -> Any:
    """A Keras callback keeping ``run/checkpoints`` current after every epoch.

    Saves the last model (with optimizer state, for ``--resume``) as
    ``last.keras``, the weights of the lowest ``val_loss`` so far as
    ``best.weights.h5`` and ``state`` (epoch, best_val_loss, best_epoch,
    updated in place) as ``state.json``, each atomically.
    """
    import keras

    ckpt_dir = Path(run) / CHECKPOINTS

    class RunCheckpoint(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            ckpt_dir.mkdir(parents=True, exist_ok=True)
            val = float(logs.get("val_loss", np.inf))
            if val < state["best_val_loss"]:
                state["best_val_loss"] = val
                state["best_epoch"] = epoch + 1
                save_weights_atomic(self.model, ckpt_dir / BEST_WEIGHTS)
            save_model_atomic(self.model, ckpt_dir / "last.keras")
            state["epoch"] = epoch + 1
            write_json_atomic(ckpt_dir / STATE, state)

    return RunCheckpoint()


def learning_rate_log() -> Any:
    """A Keras callback adding the optimizer's current learning rate to the
    epoch logs (list it before a ``CSVLogger`` to get the column)."""
    import keras

    class LearningRateLog(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                lr = self.model.optimizer.learning_rate
                logs["learning_rate"] = float(keras.ops.convert_to_numpy(lr))

    return LearningRateLog()


def load_checkpoint(run: str | os.PathLike) -> tuple[Any, dict[str, Any]]:
    """``(model, state)`` from ``run/checkpoints``; a corrupt or truncated
    checkpoint is a ``RunError`` naming the file, never a fresh start."""
    import keras

    import mmvision.layers  # noqa: F401  (registers the layers)

    ckpt = Path(run) / CHECKPOINTS / "last.keras"
    state_path = Path(run) / CHECKPOINTS / STATE
    try:
        model = keras.saving.load_model(ckpt)
    except Exception as e:  # a truncated or foreign file: never a fresh start
        raise RunError(f"corrupt checkpoint {ckpt}: {type(e).__name__}: {e}") from None
    try:
        state = json.loads(state_path.read_text())
        int(state["epoch"])
    except Exception as e:
        raise RunError(f"corrupt checkpoint state {state_path}: {e}") from None
    return model, state


def save_best_model(model: Any, run: str | os.PathLike) -> None:
    """Loads the best checkpointed weights (when there are any) into ``model``
    and saves it as ``run/model.keras``."""
    best = Path(run) / CHECKPOINTS / BEST_WEIGHTS
    if best.exists():
        model.load_weights(best)
    save_model_atomic(model, Path(run) / MODEL)


INFO = "run_info.json"


def write_info(run: str | os.PathLike, data_dir: str | os.PathLike) -> None:
    """Records where the data came from, so ``evaluate RUN`` can find it."""
    import time

    from mmvision import __version__

    write_json_atomic(
        Path(run) / INFO,
        {
            "data_dir": str(Path(data_dir).resolve()),
            "mmvision_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        },
    )


def read_info(run: str | os.PathLike) -> dict[str, Any]:
    path = Path(run) / INFO
    if not path.is_file():
        raise RunError(
            f"{path} is missing: pass the data directory explicitly (--data)"
        )
    return json.loads(path.read_text(encoding="utf-8"))
