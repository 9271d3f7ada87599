"""A ``model.fit`` for ``MultiWorkerMirroredStrategy``: the custom step.

Keras 3's ``model.fit`` fails under ``MultiWorkerMirroredStrategy``
("Attempt to convert a value (PerReplica...)", keras-team/keras#20585;
dict inputs: keras-team/keras#20329). ``custom_fit`` trains with the step
TensorFlow documents for custom loops instead, and drives the *same* Keras
callbacks ``model.fit`` would (history, CSV log, checkpoints, early
stopping, learning-rate logging), so a run directory looks the same:

- the model and optimizer are built and compiled in ``strategy.scope()``
  (the engine does this);
- each worker reads its shard of the training batches
  (``strategy.distribute_datasets_from_function``: batch ``i`` goes to
  worker ``i % W``), so the global batch is the per-replica batch times the
  replicas; every worker runs the same number of steps (the batches of an
  epoch divided by the workers, rounded down), or the collectives would
  wait for a step that never comes;
- the step: ``strategy.run`` of forward pass, ``model.compute_loss`` (the
  compiled loss, dict inputs as they are) divided by the replicas in sync,
  ``GradientTape`` and ``optimizer.apply_gradients`` (which all-reduces the
  gradients, summing them: the mean of the replicas' losses is minimised);
- BatchNormalization runs *synchronized* while training (batch mean and
  variance over the global batch, as on one worker with the whole batch;
  the layers' own setting is put back afterwards, so the saved model is
  unchanged), and any other float state is averaged over the replicas at
  the end of every epoch;
- validation: every worker scores the whole validation set with its own
  (identical) weights, so ``val_loss`` is the same everywhere and early
  stopping stops every worker at the same epoch.

Example:

```python
strategy = tf.distribute.MultiWorkerMirroredStrategy()
with strategy.scope():
    model = build(); model.compile("adam", loss)
history = custom_fit(model, train_ds, val_ds, epochs=3, strategy=strategy,
                     steps_per_epoch=40, callbacks=[keras.callbacks.CSVLogger(p)])
```
"""

from __future__ import annotations

import contextlib
import time
from typing import Any


@contextlib.contextmanager
def _unguarded(what: str):
    yield


class PeerLostError(RuntimeError):
    """A collective failed: another worker died or cannot be reached."""


def _lost(err: Exception, epoch: int, step: int) -> PeerLostError:
    first = str(err).strip().splitlines()[0][:300] if str(err).strip() else ""
    return PeerLostError(
        f"multi-worker training stopped at epoch {epoch + 1}, step {step}: another "
        f"worker is gone or unreachable ({type(err).__name__}: {first}). Restart "
        "every worker with --resume: they continue from the last checkpoint."
    )


def _peer_errors():
    import tensorflow as tf

    return (
        tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
        tf.errors.AbortedError, tf.errors.CancelledError, tf.errors.InternalError,
    )  # fmt: skip


def custom_fit(
    model: Any,
    train_ds: Any,
    val_ds: Any,
    epochs: int,
    strategy: Any,
    steps_per_epoch: int,
    initial_epoch: int = 0,
    callbacks: list | None = None,
    verbose: int = 0,
    collective_timeout: float | None = 60.0,
    sync_batch_norm: bool = True,
) -> Any:
    """Trains ``model`` (compiled in ``strategy.scope()``) on ``train_ds``.

    Args:
        train_ds: batches ``(x, y)`` (``x`` may be a dict), the same on every
            worker; each worker takes every ``W``-th batch.
        val_ds: validation batches or ``None``.
        epochs, initial_epoch: as ``model.fit``.
        strategy: the ``tf.distribute`` strategy the model was built under.
        steps_per_epoch: batches of one epoch of ``train_ds`` (all workers
            together).
        callbacks: Keras callbacks, called as ``model.fit`` calls them.
        verbose: 1 or 2 prints one line per epoch on this worker.
        collective_timeout: seconds a step (or the end-of-epoch sync) may
            wait for the other workers before it fails with
            ``PeerLostError`` (``distribute.watchdog``); ``None`` waits
            forever.
        sync_batch_norm: normalise with the global batch's statistics
            (synchronized BatchNormalization while training).

    Returns:
        A ``keras.callbacks.History``.
    """
    import keras
    import tensorflow as tf

    from mmvision.distribute.cluster import steps_per_worker
    from mmvision.distribute.watchdog import CollectiveWatchdog

    replicas = int(strategy.num_replicas_in_sync)
    steps = steps_per_worker(steps_per_epoch, strategy)

    def shard(ctx):
        return train_ds.shard(ctx.num_input_pipelines, ctx.input_pipeline_id).take(
            steps
        )

    dist = strategy.distribute_datasets_from_function(shard)
    local = max(1, len(strategy.extended.worker_devices))
    bn = _unsynchronized_batch_norm(model) if replicas > 1 and sync_batch_norm else []

    def replica_step(x, y):
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            loss = model.compute_loss(x=x, y=y, y_pred=y_pred, training=True)
            scaled = loss / replicas
        grads = tape.gradient(scaled, model.trainable_variables)
        model.optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    @tf.function
    def train_step(batch):
        x, y = batch
        per_replica = strategy.run(replica_step, args=(x, y))
        # this worker's mean loss: no collective beyond the gradients'
        return tf.add_n(strategy.experimental_local_results(per_replica)) / local

    # Non-trainable state is updated by each replica from its own batches
    # (synchronized BatchNorm already agrees); averaging it over the
    # replicas at the end of each epoch keeps every worker's model identical.
    state = [v for v in model.non_trainable_variables
             if "float" in str(v.dtype)]  # fmt: skip

    @tf.function
    def end_of_epoch(mean_loss):
        """The workers' mean loss; the float state averaged over replicas."""
        values = strategy.run(
            lambda m: [tf.identity(m), *[tf.identity(v.value) for v in state]],
            args=(mean_loss,),
        )
        mean = [strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
                for v in values]  # fmt: skip
        for v, value in zip(state, mean[1:]):
            v.assign(value)
        return mean[0]

    @tf.function
    def val_step(x, y):
        y_pred = model(x, training=False)
        return model.compute_loss(x=x, y=y, y_pred=y_pred, training=False)

    history = keras.callbacks.History()
    cbs = keras.callbacks.CallbackList(
        [*(callbacks or []), history], add_history=False, add_progbar=False,
        model=model, epochs=epochs, steps=steps, verbose=0,
    )  # fmt: skip

    def _epoch(epoch, dog):
        """One epoch: the steps, the end-of-epoch sync, validation, callbacks."""
        guard = dog.armed if dog is not None else _unguarded
        cbs.on_epoch_begin(epoch)
        t0, total, n = time.perf_counter(), 0.0, 0
        try:  # every collective of the epoch: stepping, syncing
            _set_synchronized(bn, True)  # read when train_step is traced
            for batch in dist:
                cbs.on_train_batch_begin(n)
                with guard(f"step {n + 1} of epoch {epoch + 1}"):
                    loss = float(train_step(batch))
                cbs.on_train_batch_end(n, {"loss": loss})
                total, n = total + loss, n + 1
            with guard(f"the end of epoch {epoch + 1}"):
                mean = float(end_of_epoch(tf.constant(total / max(n, 1))))
        except _peer_errors() as err:
            raise _lost(err, epoch, n) from err
        finally:  # checkpoints and the saved model keep the layers' setting
            _set_synchronized(bn, False)
        logs = {"loss": mean}
        if val_ds is not None:
            vt = vn = 0.0
            for x, y in val_ds:
                b = float(tf.shape(tf.nest.flatten(y)[0])[0])
                vt, vn = vt + float(val_step(x, y)) * b, vn + b
            logs["val_loss"] = vt / max(vn, 1.0)
        cbs.on_epoch_end(epoch, logs)
        if verbose:
            shown = ", ".join(f"{k} {v:.4f}" for k, v in logs.items())
            print(f"epoch {epoch + 1}/{epochs}: {shown} "
                  f"({time.perf_counter() - t0:.1f} s)", flush=True)  # fmt: skip
        return logs

    model.stop_training = False
    logs = None
    cbs.on_train_begin()
    dog = CollectiveWatchdog(collective_timeout) if collective_timeout else None
    with dog or contextlib.nullcontext():
        for epoch in range(int(initial_epoch), int(epochs)):
            logs = _epoch(epoch, dog)
            if model.stop_training:
                break
    cbs.on_train_end(logs if int(initial_epoch) < int(epochs) else None)
    return history


def _unsynchronized_batch_norm(model: Any) -> list:
    """The BatchNormalization layers of ``model`` (nested models too) whose
    ``synchronized`` is off."""
    import keras

    layers = model._flatten_layers(include_self=False, recursive=True)
    return [
        layer
        for layer in layers
        if isinstance(layer, keras.layers.BatchNormalization) and not layer.synchronized
    ]


def _set_synchronized(layers: list, on: bool) -> None:
    for layer in layers:
        layer.synchronized = on
