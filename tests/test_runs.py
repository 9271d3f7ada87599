"""`mmvision.runs`: shared pieces of run directories and training loops."""

import numpy as np
import pytest

from mmvision import runs


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
    assert runs.optimizer_steps_per_epoch(ds, 100, 32) == expected

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.01), "mse")
    model.fit(ds, epochs=2, verbose=0)
    assert int(model.optimizer.iterations) == 2 * expected


def test_checkpoint_state_and_best_model_round_trip(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    state = runs.new_state()
    cb = runs.checkpoint_callback(tmp_path, state)
    cb.set_model(model)
    model.layers[0].kernel.assign(np.ones((2, 1), "float32"))
    cb.on_epoch_end(0, {"val_loss": 1.0})  # best so far
    best = model.get_weights()
    model.layers[0].kernel.assign(np.zeros((2, 1), "float32"))
    cb.on_epoch_end(1, {"val_loss": 2.0})  # worse: last only
    assert state == {"epoch": 2, "best_val_loss": 1.0, "best_epoch": 1}

    last, stored = runs.load_checkpoint(tmp_path)
    assert stored == state
    np.testing.assert_array_equal(last.get_weights()[0], np.zeros((2, 1)))
    runs.save_best_model(last, tmp_path)
    saved = keras.saving.load_model(tmp_path / runs.MODEL)
    np.testing.assert_array_equal(saved.get_weights()[0], best[0])


def test_corrupt_checkpoint_names_the_file(tmp_path):
    (tmp_path / runs.CHECKPOINTS).mkdir()
    (tmp_path / runs.CHECKPOINTS / "last.keras").write_bytes(b"not a zip")
    with pytest.raises(runs.RunError, match="corrupt checkpoint .*last.keras"):
        runs.load_checkpoint(tmp_path)
