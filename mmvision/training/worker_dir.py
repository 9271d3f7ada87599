"""Where each process of a multi-worker run writes.

Only the chief writes the run directory. Every other worker runs the same
code into a temporary directory of its own (Keras and TensorFlow need every
worker to save, or the chief's collectives wait for them), removed when
the run ends. On ``--resume`` a worker first copies the run directory (the
chief's last checkpoint: all workers resume from one backup, so they start
from identical weights and the same epoch).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmvision.training.strategy import is_chief


@contextlib.contextmanager
def for_process(out: str | os.PathLike, resume: bool, strategy: Any) -> Iterator[Path]:
    """``out`` on the chief (and outside a cluster), else a temporary copy."""
    if is_chief(strategy):
        yield Path(out)
        return
    tmp = Path(tempfile.mkdtemp(prefix="mmvision-worker-"))
    run = tmp / "run"
    try:
        if resume and Path(out).is_dir():
            shutil.copytree(out, run)
        yield run
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def local_copy(model: Any) -> Any:
    """``model`` rebuilt outside any ``tf.distribute`` scope (same weights,
    same compile state): Keras 3's ``predict``/``evaluate`` fail on a model
    built under ``MultiWorkerMirroredStrategy`` like its ``fit`` does."""
    import keras

    tmp = Path(tempfile.mkdtemp(prefix="mmvision-model-"))
    try:
        path = tmp / "model.keras"
        model.save(path)
        return keras.saving.load_model(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
