"""tf.data service: input preprocessing on separate worker processes.

A dispatcher (``DispatchServer``) hands out work; tf.data workers
(``WorkerServer``) run the input pipeline (decode, resize, augment, batch)
and stream batches to the trainers. The training process then spends its
CPU on the model. ``mmvision data serve --dispatcher`` / ``--worker`` start
them; ``fit_task(..., data_service="grpc://HOST:PORT")`` (``mmvision train
TASK --data-service ...``) sends the training dataset through them.

Processing modes (``tf.data.experimental.service.distribute``):

- ``"parallel_epochs"`` (default): every tf.data worker produces the whole
  dataset; a trainer reads from all of them, so an epoch yields each
  element once per tf.data worker. Works with any pipeline.
- ``"distributed_epoch"``: the workers split one epoch between them (each
  element once in all), which needs a splittable source
  (``from_tensor_slices``, ``range``, TFRecord files): mmvision's sampled
  pipelines (class triplets, P x K batches) are generated from a random
  seed and qualify; a pipeline that does not is refused by tf.data.

Example:
>>> d = start_dispatcher(0)                        # doctest: +SKIP
>>> w = start_worker(d.target, 0)                  # doctest: +SKIP
>>> ds = through_service(ds, d.target)             # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

MODES = ("parallel_epochs", "distributed_epoch")


def check_address(address: str) -> str:
    """``grpc://host:port`` (or ``host:port``, given the scheme).

    Raises:
        ValueError: anything else.
    """
    a = str(address).strip()
    if "://" not in a:
        a = "grpc://" + a
    scheme, _, rest = a.partition("://")
    host, _, port = rest.rpartition(":")
    if scheme != "grpc" or not host or not port.isdigit():
        raise ValueError(
            f"data service address must be grpc://HOST:PORT, got {address!r}"
        )
    return a


def check_service(address: str, mode: str) -> tuple[str, str]:
    """``(grpc://host:port, mode)`` when both are valid.

    Raises:
        ValueError: a malformed address or an unknown mode.
    """
    if mode not in MODES:
        raise ValueError(f"unknown data service mode {mode!r}; valid: {list(MODES)}")
    return check_address(address), mode


def start_dispatcher(port: int = 0, work_dir: str | None = None) -> Any:
    """Starts a dispatcher in this process (``.target`` is its address;
    port 0 picks a free one); ``work_dir`` keeps its journal for restarts."""
    import tensorflow as tf

    config = tf.data.experimental.service.DispatcherConfig(
        port=int(port), work_dir=work_dir, fault_tolerant_mode=bool(work_dir)
    )
    return tf.data.experimental.service.DispatchServer(config)


def start_worker(dispatcher: str, port: int = 0) -> Any:
    """Starts a tf.data worker in this process, registered with
    ``dispatcher`` (``grpc://host:port``)."""
    import tensorflow as tf

    target = check_address(dispatcher)
    config = tf.data.experimental.service.WorkerConfig(
        dispatcher_address=target.split("://", 1)[1], port=int(port)
    )
    return tf.data.experimental.service.WorkerServer(config)


def through_service(
    ds: Any, address: str, mode: str = "parallel_epochs", job_name: str | None = None
) -> Any:
    """``ds`` produced by the tf.data service at ``address``.

    ``job_name`` lets several trainers share one job (each reads part of
    it); ``None`` gives this trainer a job of its own.

    Raises:
        ValueError: an unknown mode or a malformed address.
    """
    import tensorflow as tf

    address, mode = check_service(address, mode)
    return ds.apply(
        tf.data.experimental.service.distribute(
            processing_mode=mode, service=address, job_name=job_name
        )
    )
