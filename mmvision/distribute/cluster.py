"""Where this process stands in a ``tf.distribute`` cluster."""

from __future__ import annotations

from typing import Any


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


def steps_per_worker(batches: int, strategy: Any) -> int:
    """Optimizer steps of an epoch of ``batches``: each worker takes every
    W-th batch, so W batches make one step (at least 1)."""
    return max(1, int(batches) // num_workers(strategy))
