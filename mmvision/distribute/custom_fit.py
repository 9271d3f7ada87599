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
- BatchNorm moving statistics (each replica's from its own batches) are
  averaged over the replicas at the end of every epoch;
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

import time
from typing import Any


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

    Returns:
        A ``keras.callbacks.History``.
    """
    import keras
    import tensorflow as tf

    from mmvision.distribute.cluster import num_workers

    workers = num_workers(strategy)
    replicas = int(strategy.num_replicas_in_sync)
    steps = max(1, int(steps_per_epoch) // workers)

    def shard(ctx):
        return train_ds.shard(ctx.num_input_pipelines, ctx.input_pipeline_id).take(
            steps
        )

    dist = strategy.distribute_datasets_from_function(shard)

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
        return strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None)

    # Non-trainable state (BatchNorm moving statistics) is updated by each
    # replica from its own batches; averaging it over the replicas at the
    # end of each epoch keeps every worker's model identical.
    state = [v for v in model.non_trainable_variables
             if "float" in str(v.dtype)]  # fmt: skip

    @tf.function
    def sync_state():
        local = strategy.run(lambda: [tf.identity(v.value) for v in state])
        for v, value in zip(state, local):
            v.assign(strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None))

    @tf.function
    def val_step(x, y):
        y_pred = model(x, training=False)
        return model.compute_loss(x=x, y=y, y_pred=y_pred, training=False)

    history = keras.callbacks.History()
    cbs = keras.callbacks.CallbackList(
        [*(callbacks or []), history], add_history=False, add_progbar=False,
        model=model, epochs=epochs, steps=steps, verbose=0,
    )  # fmt: skip
    model.stop_training = False
    cbs.on_train_begin()
    for epoch in range(int(initial_epoch), int(epochs)):
        cbs.on_epoch_begin(epoch)
        t0, total, n = time.perf_counter(), 0.0, 0
        try:  # every collective of the epoch: reading, stepping, syncing
            for batch in dist:
                cbs.on_train_batch_begin(n)
                loss = float(train_step(batch))
                cbs.on_train_batch_end(n, {"loss": loss})
                total, n = total + loss, n + 1
            if state:
                sync_state()
        except _peer_errors() as err:
            raise _lost(err, epoch, n) from err
        logs = {"loss": total / max(n, 1)}
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
        if model.stop_training:
            break
    cbs.on_train_end(logs if int(initial_epoch) < int(epochs) else None)
    return history
