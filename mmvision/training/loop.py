"""The one training loop of mmvision: ``fit_task`` (the library's only
``model.fit``).

Every task trains here, so a run directory, a checkpoint, a history and a
``--resume`` mean the same thing for all of them:

- a new run writes ``config.json`` (task, preset, every setting) and
  ``run_info.json``, builds and compiles the model under the strategy's
  scope (none for the default strategy), and fits with the loop's
  callbacks: ``EpochLog`` (learning rate and seconds), one ``CSVLogger``
  history, ``RunCheckpoint``, Keras ``EarlyStopping`` on ``val_loss`` when
  the task has patience, plus the task's own (``ReduceLROnPlateau`` ...);
- ``resume=True`` reloads ``checkpoints/last.keras`` (model, optimizer
  state, epoch) and continues to the config's epoch count. Only the keys of
  ``task.resume_keys`` (e.g. ``train.epochs``) may differ from the stored
  config; any other difference is refused with a message naming the keys.
  (EarlyStopping and ReduceLROnPlateau restart their counters on resume.)

Example:
>>> from mmvision import configs
>>> from mmvision.training import fit_task
>>> cfg = configs.get_preset("classifier", "demo_classifier_smoke")
>>> metrics = fit_task("classifier", cfg, "world/", "runs/smoke")  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import fnmatch
import io
import os
import time
from pathlib import Path
from typing import Any

from mmvision.training import run_dir
from mmvision.training import strategy as strategy_lib


def _flat(d: dict[str, Any]) -> dict[str, Any]:
    """``{"train": {"epochs": 3}}`` -> ``{"train.epochs": 3}`` (sections only)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update({f"{k}.{f}": x for f, x in v.items()})
        else:
            out[k] = v
    return out


def changed_keys(stored: Any, given: Any) -> list[str]:
    """Dotted keys whose values differ between two configs of one task."""
    from mmvision.configs import to_dict

    a, b = _flat(to_dict(stored)), _flat(to_dict(given))
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def check_resume(task: Any, stored: Any, given: Any, run: Path) -> Any:
    """``given`` when it differs from ``stored`` only in ``task.resume_keys``."""
    refused = [
        k
        for k in changed_keys(stored, given)
        if not any(fnmatch.fnmatch(k, p) for p in task.resume_keys)
    ]
    if refused:
        raise run_dir.RunError(
            f"--resume of {run}: {', '.join(refused)} differ from "
            f"{run / run_dir.CONFIG}; a resume may change only "
            f"{', '.join(task.resume_keys)}"
        )
    return given


def _trim_history(run: Path, epochs: int) -> None:
    """Drops history rows past the checkpoint (a run killed mid-epoch)."""
    path = run / run_dir.HISTORY
    if not path.is_file():
        return
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    head, body = rows[0], rows[1:]
    keep = [r for r in body if r and int(float(r[0])) < epochs]
    if len(keep) != len(body):
        from mmvision.utils import write_text_atomic

        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([head, *keep])
        write_text_atomic(path, buf.getvalue())


def fit_task(
    task: Any,
    cfg: Any,
    data_dir: str | os.PathLike | None,
    out: str | os.PathLike,
    resume: bool = False,
    strategy: Any = None,
    callbacks: list[Any] | None = None,
    data_service: str | None = None,
    data_service_mode: str = "parallel_epochs",
) -> dict[str, Any]:
    """Trains ``task`` with ``cfg`` on ``data_dir`` into the run ``out``.

    Args:
        task: a task name (``configs.registry.TASKS``) or a ``tasks.Task``.
        cfg: the task's config (``configs.get_preset``); with ``resume`` it
            may be ``None`` (the run's own config is used).
        data_dir: the dataset root; with ``resume`` ``None`` means the one
            the run recorded.
        out: the run directory (created; an existing run needs ``resume``).
        resume: continue from ``out/checkpoints/last.keras``.
        strategy: ``None``, ``"default"``, ``"mirrored"``,
            ``"multiworker"`` (the cluster of ``$TF_CONFIG``) or a
            ``tf.distribute.Strategy``: the model is built, compiled and
            trained under its scope. Under ``MultiWorkerMirroredStrategy``
            the custom step of ``distribute.custom_fit`` replaces
            ``model.fit`` (same callbacks, same run directory); only the
            chief writes ``out``, the other workers a temporary directory.
        callbacks: extra Keras callbacks (e.g. ``callbacks.EpochProgress``).
        data_service: ``grpc://HOST:PORT`` of a tf.data service dispatcher:
            the training batches are produced by its workers
            (``distribute.data_service``), in ``data_service_mode``.

    Returns:
        The run's ``metrics.json`` content.

    Raises:
        RunError: an existing run without ``resume``, nothing to resume, a
            corrupt checkpoint, a resume changing a setting it may not.
    """
    from mmvision.configs.registry import task_class
    from mmvision.training import worker_dir

    task = task_class(task)() if isinstance(task, str) else task
    strategy = strategy_lib.get(strategy)
    service = None
    if data_service:  # checked before any run directory is written
        from mmvision.distribute.data_service import check_service

        service = check_service(data_service, data_service_mode)
    with worker_dir.for_process(out, resume, strategy) as here:
        return _fit_here(task, cfg, data_dir, here, resume, strategy, callbacks,
                         service)  # fmt: skip


def _fit_here(task, cfg, data_dir, out, resume, strategy, callbacks, service=None):
    """``fit_task`` into this process's run directory ``out``."""
    import keras

    from mmvision.configs import config_from_dict
    from mmvision.training.callbacks import EpochLog, RunCheckpoint

    multi = strategy_lib.is_multiworker(strategy)
    run = run_dir.prepare(out, resume, create=False)
    if resume:
        stored = config_from_dict(run_dir.read_config(run))
        cfg = stored if cfg is None else check_resume(task, stored, cfg, run)
        data_dir = run_dir.data_dir_of(run, data_dir)
    elif cfg is None:
        raise ValueError("fit_task needs a config for a new run")
    if getattr(cfg, "task", task.name) != task.name:
        raise ValueError(f"a {cfg.task!r} config given to the {task.name!r} task")
    data = task.load_data(cfg, data_dir, run=run if resume else None)
    run.mkdir(parents=True, exist_ok=True)  # only once the config and data are good
    cfg, data = task.prepare(cfg, data, run, strategy)
    train_ds, val_ds = task.datasets(cfg, data)
    steps = task.steps_per_epoch(cfg, data, train_ds)
    opt_steps = strategy_lib.steps_per_worker(steps, strategy) if multi else steps
    if service is not None:
        from mmvision.distribute.data_service import through_service

        train_ds = through_service(train_ds, *service)
    with strategy_lib.scope(strategy):
        if resume:
            model, state = run_dir.load_checkpoint(run)
            _trim_history(run, int(state["epoch"]))
            schedule = task.schedule(cfg, opt_steps)
            if schedule is not None:  # ends on the (possibly new) last epoch
                model.optimizer.learning_rate = schedule
        else:
            keras.utils.set_random_seed(task.seed(cfg))
            model = task.build_model(cfg, data)
            task.compile(model, cfg, opt_steps)
            state = run_dir.new_state()
    run_dir.write_config(run, cfg)
    run_dir.write_info(run, data_dir, task=task.name, **task.run_info(cfg, data))
    task.write_assets(cfg, data, run)

    patience = task.patience(cfg)
    monitor = "val_loss" if val_ds is not None else "loss"
    extra = list(callbacks or [])
    callbacks = [
        EpochLog(),  # first: the history gets learning_rate and seconds
        keras.callbacks.CSVLogger(str(run / run_dir.HISTORY), append=resume),
    ]
    if patience > 0:
        callbacks.append(keras.callbacks.EarlyStopping(monitor, patience=patience))
    callbacks += task.default_callbacks(cfg)
    callbacks.append(RunCheckpoint(run, state, monitor=monitor))
    callbacks += extra
    stopped = patience > 0 and state["epoch"] - state["best_epoch"] >= patience
    t0 = time.perf_counter()
    if state["epoch"] < task.epochs(cfg) and not stopped:
        if multi:  # Keras 3's fit fails under MultiWorkerMirroredStrategy
            from mmvision.distribute.custom_fit import custom_fit

            custom_fit(
                model, train_ds, val_ds, epochs=task.epochs(cfg), strategy=strategy,
                steps_per_epoch=steps, initial_epoch=int(state["epoch"]),
                callbacks=callbacks, verbose=task.verbose(cfg),
                collective_timeout=strategy_lib.COLLECTIVE_TIMEOUT,
            )  # fmt: skip
        else:
            with strategy_lib.scope(strategy):
                model.fit(
                    train_ds,
                    validation_data=val_ds,
                    epochs=task.epochs(cfg),
                    initial_epoch=int(state["epoch"]),
                    callbacks=callbacks,
                    verbose=task.verbose(cfg),
                    shuffle=False,  # the pipelines shuffle
                )
    train_seconds = time.perf_counter() - t0
    if multi:
        from mmvision.training.worker_dir import local_copy

        model = local_copy(model)
    run_dir.save_best_model(model, run)
    metrics = {
        "epochs_trained": int(state["epoch"]),
        "best_epoch": int(state["best_epoch"]),
        "best_val_loss": float(state["best_val_loss"]),
        "train_seconds": train_seconds,
    }
    run_dir.write_metrics(run, metrics)
    if not strategy_lib.is_chief(strategy):  # its directory is thrown away
        return run_dir.read_metrics(run)
    from mmvision.report import learning_curves_png

    if (run / run_dir.HISTORY).is_file():
        learning_curves_png(run / run_dir.HISTORY, run / "learning_curves.png")
    run_dir.write_metrics(run, task.after_fit(run, model, cfg, data))
    return run_dir.read_metrics(run)


def evaluate_run(
    run: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    split: str | None = None,
) -> dict[str, Any]:
    """Evaluates a finished run with its own task (``config.json``'s ``task``)."""
    from mmvision.configs.registry import task_class

    return task_class(run_dir.read_task(run))().evaluate(run, data_dir, split)
