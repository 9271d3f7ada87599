"""MultiWorkerMirroredStrategy with two local worker processes (TF_CONFIG on
loopback ports): both finish, the chief writes the run directory, the run
loads and predicts, and both workers end with identical weights."""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from mmvision.distribute.tf_config import local_cluster, read
from mmvision.training import run_dir
from mmvision.training import strategy as strategy_lib

WORKER = Path(__file__).with_name("multiworker_worker.py")


def _cluster(task, preset, world, out, tmp, epochs=2, resume=False, timeout=600,
             sets=()):  # fmt: skip
    procs, weights = [], []
    for i, tf_config in enumerate(local_cluster(2)):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
        env["TF_CONFIG"] = tf_config
        w = tmp / f"weights_{i}.npz"
        weights.append(w)
        cmd = [sys.executable, str(WORKER), task, preset, str(world), str(out),
               str(w), str(epochs), *(["--resume"] if resume else []),
               *sets]  # fmt: skip
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE))  # fmt: skip
    errs = []
    for p in procs:
        try:
            _, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail("a worker did not finish in time")
        errs.append(err.decode(errors="replace")[-3000:])
    for p, err in zip(procs, errs):
        assert p.returncode == 0, err
    return [np.load(w) for w in weights]


def _dummy_inputs(model, n=2):
    out = {}
    for t in model.inputs:
        shape = (n,) + tuple(d or 1 for d in t.shape[1:])
        name = t.name.split(":")[0]
        text = "string" in str(t.dtype)
        out[name] = (
            np.full(shape, "a red circle", dtype=object)
            if text
            else np.zeros(shape, t.dtype)
        )
    return out


@pytest.mark.parametrize(
    "task,preset",
    [
        ("classifier", "demo_classifier_smoke"),
        ("embedder", "demo_embedder_smoke"),
        pytest.param("captioner", "demo_captioner_smoke", marks=pytest.mark.large),
    ],
)
def test_two_workers_train_one_run(task, preset, demo_world, tmp_path):
    out = tmp_path / "run"
    # a cosine schedule decays over the optimizer steps (each one takes a
    # batch from every worker), so it ends at 0 with the last epoch
    cosine = ["train.lr_schedule=cosine"] if task != "captioner" else []
    w0, w1 = _cluster(task, preset, demo_world, out, tmp_path, sets=cosine)
    assert len(w0.files) == len(w1.files) > 0
    for k in w0.files:
        np.testing.assert_array_equal(w0[k], w1[k])
    assert (out / "model.keras").is_file() and (out / "metrics.json").is_file()
    hist = (out / "history.csv").read_text().splitlines()
    assert len(hist) == 1 + 2  # header + one row per epoch, written once
    if cosine:
        import pandas as pd

        lr = pd.read_csv(out / "history.csv")["learning_rate"]
        assert lr.iloc[-1] < 1e-3 * lr.iloc[0]  # not halfway (0.5) down
    model = run_dir.load_model(out / "model.keras")
    # BatchNorm trained synchronized (global-batch statistics); the saved
    # model keeps the layers' own setting
    bn = [layer for layer in model._flatten_layers()
          if isinstance(layer, keras.layers.BatchNormalization)]  # fmt: skip
    assert bn or task == "captioner"
    assert not any(layer.synchronized for layer in bn)
    pred = np.asarray(model.predict(_dummy_inputs(model), verbose=0))
    assert len(pred) == 2 and np.isfinite(pred).all()
    leftovers = list(Path(os.environ.get("TMPDIR", "/tmp")).glob("mmvision-worker-*"))
    assert not [p for p in leftovers if str(tmp_path) in str(p)]


def test_malformed_tf_config_is_a_clear_error(monkeypatch):
    for bad, msg in [
        ("{not json", "not valid JSON"),
        ('{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker"}}',
         "host:port"),
        ('{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "chief"}}',
         "not a job"),
        ('{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", '
         '"index": 3}}', "out of range"),
        ('{"cluster": {"worker": ["a:1", "a:1"]}, "task": {"type": "worker"}}',
         "both"),
    ]:  # fmt: skip
        with pytest.raises(ValueError, match=msg):
            read(bad)
        monkeypatch.setenv("TF_CONFIG", bad)
        with pytest.raises(ValueError, match="TF_CONFIG"):
            strategy_lib.get("multiworker")
    monkeypatch.delenv("TF_CONFIG")
    with pytest.raises(ValueError, match="needs TF_CONFIG"):
        strategy_lib.get("multiworker")
    ok = read('{"cluster": {"chief": ["h:1"], "worker": ["h:2"]}, '
              '"task": {"type": "worker", "index": 0}}')  # fmt: skip
    assert ok.num_workers == 2 and not ok.is_chief
    specs = [read(c) for c in local_cluster(3)]
    assert [s.index for s in specs] == [0, 1, 2] and specs[0].is_chief
    assert len(set(specs[0].cluster["worker"])) == 3


def _state_epoch(run) -> int:
    try:
        return int(
            json.loads((run / "checkpoints" / "state.json").read_text())["epoch"]
        )
    except (OSError, ValueError, KeyError):
        return 0


@pytest.mark.large
def test_a_killed_worker_stops_the_other_and_both_resume(demo_world, tmp_path):
    import signal
    import time

    out = tmp_path / "run"
    procs = []
    for i, tf_config in enumerate(local_cluster(2)):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
        env["TF_CONFIG"] = tf_config
        w = str(tmp_path / f"w{i}.npz")
        cmd = [sys.executable, str(WORKER), "embedder", "demo_embedder_smoke",
               str(demo_world), str(out), w, "500"]  # fmt: skip
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE))  # fmt: skip
    deadline = time.monotonic() + 300
    while _state_epoch(out) < 1:
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        assert procs[0].poll() is None, procs[0].stderr.read().decode()[-2000:]
        time.sleep(0.5)
    procs[1].send_signal(signal.SIGKILL)
    t0 = time.monotonic()
    try:
        _, err = procs[0].communicate(timeout=180)
    except subprocess.TimeoutExpired:
        procs[0].kill()
        pytest.fail("the surviving worker hung for 180 s after its peer was killed")
    waited = time.monotonic() - t0
    assert procs[0].returncode != 0
    assert "another worker is gone or unreachable" in err.decode(errors="replace"), (
        err.decode(errors="replace")[-2000:]
    )
    assert waited < 180
    done = _state_epoch(out)
    assert done >= 1
    w0, w1 = _cluster("embedder", "demo_embedder_smoke", demo_world, out, tmp_path,
                      epochs=done + 2, resume=True)  # fmt: skip
    assert _state_epoch(out) == done + 2
    for k in w0.files:
        np.testing.assert_array_equal(w0[k], w1[k])
    import pandas as pd

    assert list(pd.read_csv(out / "history.csv")["epoch"]) == list(range(done + 2))
