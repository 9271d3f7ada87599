"""Run directories (DESIGN.md): one folder per training command.

``config.json`` (enough to rerun it), ``model.keras``, ``history.csv``,
``metrics.json`` (flat keys, floats), ``checkpoints/`` for ``--resume``,
plots (``*.png``) and ``report.html``. Every file is written atomically.
"""

from __future__ import annotations

import json
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
