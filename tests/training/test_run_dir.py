"""`mmvision.training.run_dir` and `training.callbacks`: the pieces of a run
directory every task shares."""

import json

import numpy as np
import pytest

from mmvision.training import run_dir
from mmvision.training.callbacks import EpochLog, RunCheckpoint


@pytest.mark.parametrize("filtered", [False, True])
def test_optimizer_steps_per_epoch_matches_what_fit_runs(filtered):
    import keras
    import tensorflow as tf

    x = np.random.default_rng(0).random((100, 3)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, x[:, :1]))
    if filtered:  # unknown length, as after dropping undecodable images
        ds = ds.filter(tf.autograph.experimental.do_not_convert(lambda a, b: True))
    ds = ds.batch(32)
    expected = 4 + int(filtered)  # ceil(100 / 32), + Keras's empty end step
    assert run_dir.optimizer_steps_per_epoch(ds, 100, 32) == expected

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.01), "mse")
    model.fit(ds, epochs=2, verbose=0)
    assert int(model.optimizer.iterations) == 2 * expected


def test_checkpoint_state_and_best_model_round_trip(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    state = run_dir.new_state()
    cb = RunCheckpoint(tmp_path, state)
    cb.set_model(model)
    model.layers[0].kernel.assign(np.ones((2, 1), "float32"))
    cb.on_epoch_end(0, {"val_loss": 1.0})  # best so far
    best = model.get_weights()
    model.layers[0].kernel.assign(np.zeros((2, 1), "float32"))
    cb.on_epoch_end(1, {"val_loss": 2.0})  # worse: last only
    assert state == {"epoch": 2, "best_val_loss": 1.0, "best_epoch": 1}
    ckpts = tmp_path / run_dir.CHECKPOINTS
    for name in (run_dir.LAST, run_dir.BEST_WEIGHTS, run_dir.STATE):
        assert (ckpts / name).is_file(), name
    assert json.loads((ckpts / run_dir.STATE).read_text()) == state

    last, stored = run_dir.load_checkpoint(tmp_path)
    assert stored == state
    np.testing.assert_array_equal(last.get_weights()[0], np.zeros((2, 1)))
    run_dir.save_best_model(last, tmp_path)
    saved = keras.saving.load_model(tmp_path / run_dir.MODEL)
    np.testing.assert_array_equal(saved.get_weights()[0], best[0])
    assert not list(tmp_path.rglob(".*tmp*"))  # atomic writes left no temp


def test_checkpoint_monitors_loss_without_validation(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    state = run_dir.new_state()
    cb = RunCheckpoint(tmp_path, state, monitor="val_loss")
    cb.set_model(model)
    cb.on_epoch_end(0, {"loss": 3.0})
    cb.on_epoch_end(1, {"loss": 2.0})
    assert state == {"epoch": 2, "best_val_loss": 2.0, "best_epoch": 2}


def test_epoch_log_adds_learning_rate_and_seconds(monkeypatch):
    import keras

    from mmvision.training import callbacks

    clock = iter([100.0, 102.5])
    monkeypatch.setattr(callbacks.time, "perf_counter", lambda: next(clock))

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.125), "mse")
    cb = EpochLog()
    cb.set_model(model)
    logs = {"loss": 1.0}
    cb.on_epoch_begin(0)
    cb.on_epoch_end(0, logs)
    assert logs["learning_rate"] == pytest.approx(0.125)
    assert logs["seconds"] == 2.5  # the epoch's own begin-to-end interval


def test_corrupt_checkpoint_names_the_file(tmp_path):
    (tmp_path / run_dir.CHECKPOINTS).mkdir()
    (tmp_path / run_dir.CHECKPOINTS / run_dir.LAST).write_bytes(b"not a zip")
    with pytest.raises(run_dir.RunError, match="corrupt checkpoint .*last.keras"):
        run_dir.load_checkpoint(tmp_path)


def test_prepare_refuses_reuse_and_an_empty_resume(tmp_path):
    run = run_dir.prepare(tmp_path / "new", resume=False)
    assert run.is_dir()
    run_dir.prepare(run, resume=False)  # still empty: fine
    (run / run_dir.CONFIG).write_text("{}")
    with pytest.raises(run_dir.RunError, match="already holds a run"):
        run_dir.prepare(run, resume=False)
    with pytest.raises(run_dir.RunError, match="nothing to resume"):
        run_dir.prepare(run, resume=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(run_dir.RunError, match="not a directory"):
        run_dir.prepare(tmp_path / "file", resume=False)
    assert issubclass(run_dir.RunError, ValueError)


def test_config_info_and_metrics_files(tmp_path):
    from mmvision import configs

    cfg = configs.get_preset("classifier", "demo_classifier_smoke")
    with pytest.raises(run_dir.RunError, match="not a run directory"):
        run_dir.read_config(tmp_path)
    with pytest.raises(run_dir.RunError, match="run_info.json is missing"):
        run_dir.read_info(tmp_path)
    run_dir.write_config(tmp_path, cfg)
    stored = run_dir.read_config(tmp_path)
    assert stored["task"] == "classifier"
    assert stored["preset"] == "demo_classifier_smoke"
    assert run_dir.read_task(tmp_path) == "classifier"
    assert configs.config_from_dict(stored) == cfg

    run_dir.write_info(tmp_path, tmp_path, task="classifier", classes=3)
    info = run_dir.read_info(tmp_path)
    for key in ("data_dir", "mmvision_version", "created", "task", "classes"):
        assert key in info, key
    assert run_dir.data_dir_of(tmp_path, None) == tmp_path.resolve()
    assert run_dir.data_dir_of(tmp_path, "/elsewhere") == run_dir.Path("/elsewhere")

    run_dir.write_metrics(tmp_path, {"test": {"top1": np.float32(0.5)}, "n": 3})
    run_dir.write_metrics(tmp_path, {"val": {"top1": 0.25}})
    assert json.loads((tmp_path / run_dir.METRICS).read_text()) == {
        "test_top1": 0.5,
        "n": 3,
        "val_top1": 0.25,
    }
    (tmp_path / run_dir.CONFIG).write_text("{not json")
    with pytest.raises(run_dir.RunError, match="not valid JSON"):
        run_dir.read_config(tmp_path)
