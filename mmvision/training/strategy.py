"""``tf.distribute`` strategies by name, for ``fit_task(..., strategy=...)``.

``"default"`` (or ``None``) is TensorFlow's default strategy (one device);
``"mirrored"`` is ``MirroredStrategy`` over the local devices (one CPU
replica here); ``"multiworker"`` is ``MultiWorkerMirroredStrategy`` over the
cluster of ``$TF_CONFIG`` (checked first by ``distribute.tf_config.read``),
trained by ``distribute.custom_fit`` (Keras 3's ``fit`` fails under it).
"""

from __future__ import annotations

from typing import Any

NAMES = ("default", "mirrored", "multiworker")
#: seconds a collective may wait for a peer before it fails (a dead worker).
COLLECTIVE_TIMEOUT = 60.0


def get(strategy: Any = None) -> Any:
    """A strategy object from a name, ``None`` or a strategy (returned as is).

    Raises:
        ValueError: an unknown name; ``"multiworker"`` without a (valid)
            ``TF_CONFIG``.
    """
    import tensorflow as tf

    if strategy is None or strategy == "default":
        return tf.distribute.get_strategy()
    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if strategy == "mirrored":
        return tf.distribute.MirroredStrategy()
    if strategy == "multiworker":
        from mmvision.distribute.tf_config import read

        if read() is None:
            raise ValueError(
                "strategy 'multiworker' needs TF_CONFIG (the cluster and this "
                "worker's task); see docs/scaling.md"
            )
        opts = tf.distribute.experimental.CommunicationOptions(
            timeout_seconds=COLLECTIVE_TIMEOUT
        )
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=opts)
    raise ValueError(f"unknown strategy {strategy!r}; valid: {list(NAMES)}")


def is_multiworker(strategy: Any) -> bool:
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def num_workers(strategy: Any) -> int:
    """Workers of ``strategy``'s cluster (1 when it has none)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return 1
    spec = resolver.cluster_spec().as_dict()
    return max(1, len(spec.get("chief", [])) + len(spec.get("worker", [])))


def is_chief(strategy: Any) -> bool:
    """This process writes the run directory (always, outside a cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not is_multiworker(strategy):
        return True
    spec = resolver.cluster_spec().as_dict()
    t, i = resolver.task_type, resolver.task_id
    return t == "chief" or (t == "worker" and i == 0 and "chief" not in spec)
