"""Run directories: one folder per training command, one format for every task.

```
config.json      the task's config (always has "task" and "preset"): enough to rerun it
run_info.json    provenance: data directory, mmvision version, dates, and what the
                 task records about its inputs (vocabulary or feature fingerprints)
model.keras      the best model (lowest val_loss)
history.csv      one row per epoch: losses, metrics, learning_rate, seconds
metrics.json     flat keys, floats
checkpoints/     last.keras, best.weights.h5, state.json (for --resume)
*.png, report.html
```

Every file is written atomically (a temporary file and a rename).
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from mmvision.utils import atomic_path, write_json_atomic

CONFIG = "config.json"
INFO = "run_info.json"
MODEL = "model.keras"
HISTORY = "history.csv"
METRICS = "metrics.json"
CHECKPOINTS = "checkpoints"
LAST = "last.keras"
BEST_WEIGHTS = "best.weights.h5"
STATE = "state.json"


class RunError(ValueError):
    """A run directory that cannot be used as asked (names the path)."""


def prepare(out: str | os.PathLike, resume: bool, create: bool = True) -> Path:
    """Checks ``out`` for a new run or for ``--resume``; returns it as a Path.

    A new run refuses a folder that already holds a run (so results are not
    mixed up); ``resume`` requires one with a checkpoint. ``create`` makes
    the folder of a new run.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunError(f"run directory {out} exists and is not a directory")
    ckpt = out / CHECKPOINTS / LAST
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
    if create:
        out.mkdir(parents=True, exist_ok=True)
    return out


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise RunError(f"{path} is not valid JSON: {e}") from None


def read_config(run: str | os.PathLike) -> dict[str, Any]:
    """The raw ``config.json`` of a run (a ``RunError`` naming a missing file)."""
    path = Path(run) / CONFIG
    if not path.is_file():
        raise RunError(f"{run} is not a run directory: {path} is missing")
    return read_json(path)


def read_task(run: str | os.PathLike) -> str:
    """The ``task`` a run's ``config.json`` names."""
    cfg = read_config(run)
    if "task" not in cfg:
        raise RunError(f"{Path(run) / CONFIG} names no task")
    return str(cfg["task"])


def write_config(run: str | os.PathLike, cfg: Any) -> None:
    """Writes a config dataclass as ``config.json`` (it must have task/preset)."""
    from mmvision.configs import to_dict

    data = to_dict(cfg)
    for key in ("task", "preset"):
        if not data.get(key):
            raise ValueError(f"config of {run} has no {key!r}")
    write_json_atomic(Path(run) / CONFIG, data)


def write_info(
    run: str | os.PathLike, data_dir: str | os.PathLike | None, **extra: Any
) -> None:
    """Writes ``run_info.json``: where the data came from and ``extra`` facts."""
    from mmvision import __version__

    path = Path(run) / INFO
    info = read_json(path) if path.is_file() else {}
    if "created" not in info:
        info["created"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    info.update(
        data_dir=str(Path(data_dir).resolve()) if data_dir else info.get("data_dir"),
        mmvision_version=__version__,
        updated=time.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    info.update(extra)
    write_json_atomic(path, json.loads(json.dumps(info, default=_plain)))


def read_info(run: str | os.PathLike) -> dict[str, Any]:
    """``run_info.json`` of a run (a ``RunError`` naming it when missing)."""
    path = Path(run) / INFO
    if not path.is_file():
        raise RunError(
            f"{path} is missing: pass the data directory explicitly (--data)"
        )
    return read_json(path)


def data_dir_of(run: str | os.PathLike, given: str | os.PathLike | None) -> Path:
    """``given`` or the data directory the run recorded."""
    if given is not None:
        return Path(given)
    recorded = read_info(run).get("data_dir")
    if not recorded:
        raise RunError(f"{Path(run) / INFO} records no data_dir; pass --data")
    return Path(recorded)


def _plain(v: Any) -> Any:
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, Path):
        return str(v)
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


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


def read_metrics(run: str | os.PathLike) -> dict[str, Any]:
    path = Path(run) / METRICS
    return read_json(path) if path.is_file() else {}


def write_metrics(run: str | os.PathLike, metrics: dict[str, Any]) -> dict[str, Any]:
    """Merges flat ``metrics`` into the run's ``metrics.json`` (atomic)."""
    current = read_metrics(run)
    current.update(_flatten(metrics))
    write_json_atomic(Path(run) / METRICS, current)
    return current


def save_model_atomic(model: Any, path: str | os.PathLike) -> None:
    """``model.save`` through a temporary file and a rename."""
    with atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)


def save_weights_atomic(model: Any, path: str | os.PathLike) -> None:
    with atomic_path(path, suffix=".weights.h5") as tmp:
        model.save_weights(tmp)


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


def load_model(path: str | os.PathLike, compile: bool = True) -> Any:
    """``keras.saving.load_model`` with mmvision's layers and losses registered;
    a missing or unreadable file is a ``RunError`` naming it."""
    import keras

    import mmvision.layers  # noqa: F401  (registers the layers)
    import mmvision.losses  # noqa: F401  (and the losses of compiled checkpoints)
    import mmvision.models.captioner  # noqa: F401  (and the caption layers)

    path = Path(path)
    if not path.is_file():
        raise RunError(f"no trained model: {path} is missing")
    try:
        return keras.saving.load_model(path, compile=compile)
    except Exception as e:  # a truncated or foreign file
        raise RunError(f"cannot load {path}: {type(e).__name__}: {e}") from None


def load_checkpoint(run: str | os.PathLike) -> tuple[Any, dict[str, Any]]:
    """``(model, state)`` from ``run/checkpoints``; a corrupt or truncated
    checkpoint is a ``RunError`` naming the file, never a fresh start."""
    ckpt = Path(run) / CHECKPOINTS / LAST
    state_path = Path(run) / CHECKPOINTS / STATE
    try:
        model = load_model(ckpt)
    except RunError as e:
        raise RunError(f"corrupt checkpoint {ckpt}: {e}") from None
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
