"""``tf.distribute`` strategies by name, for ``fit_task(..., strategy=...)``.

``"default"`` (or ``None``) is TensorFlow's default strategy (one device);
``"mirrored"`` is ``MirroredStrategy`` over the local devices (one CPU
replica here). A multi-worker strategy plugs in here and nowhere else.
"""

from __future__ import annotations

from typing import Any

NAMES = ("default", "mirrored")


def get(strategy: Any = None) -> Any:
    """A strategy object from a name, ``None`` or a strategy (returned as is)."""
    import tensorflow as tf

    if strategy is None or strategy == "default":
        return tf.distribute.get_strategy()
    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if strategy == "mirrored":
        return tf.distribute.MirroredStrategy()
    raise ValueError(f"unknown strategy {strategy!r}; valid: {list(NAMES)}")
