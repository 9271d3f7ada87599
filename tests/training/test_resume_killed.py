"""A training process killed mid-run resumes from its checkpoint to the
planned epoch count, for every task, with one history row per epoch."""

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from mmvision import cli

pytestmark = pytest.mark.large

SMOKE = {
    "classifier": "demo_classifier_smoke",
    "captioner": "demo_captioner_smoke",
    "concept_tagger": "demo_concept_tagger_smoke",
    "embedder": "demo_embedder_smoke",
}
EPOCHS = 4
#: the planned epochs of the process that is killed: far more than it can
#: finish before the kill (its resume then asks for ``EPOCHS``).
PLANNED = 500
# ``python -m mmvision.cli`` needs a ``mmvision/cli/__main__.py``; this runs
# the same ``main`` without it.
MMVISION = [
    sys.executable,
    "-c",
    "import sys; from mmvision.cli import main; sys.exit(main(sys.argv[1:]))",
]


def _state_epoch(run) -> int:
    path = run / "checkpoints" / "state.json"
    try:
        return int(json.loads(path.read_text())["epoch"])
    except (OSError, ValueError, KeyError):
        return 0  # not written yet (each write is atomic)


def _train_and_kill(task, world, run, timeout=300.0) -> int:
    """Starts ``mmvision train``, SIGKILLs it once a checkpoint of epoch >= 1
    exists; returns that epoch."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    cmd = [*MMVISION, "train", task, "--preset", SMOKE[task], "--data", str(world)]
    cmd += ["--out", str(run), "--set", f"train.epochs={PLANNED}"]
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + timeout
    try:
        while _state_epoch(run) < 1:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace")[-2000:]
                pytest.fail(
                    f"setup: {task} ended (code {proc.returncode}) before the kill"
                    f"\n{err}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"no checkpoint of {task} within {timeout:.0f} s")
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return _state_epoch(run)


@pytest.mark.parametrize("task", sorted(SMOKE))
def test_a_killed_run_resumes_to_the_planned_epochs(task, demo_world, tmp_path):
    run = tmp_path / task
    killed_at = _train_and_kill(task, demo_world, run)
    if killed_at >= EPOCHS:
        pytest.fail(f"setup: {task} reached epoch {killed_at} before the kill")
    assert not (run / "model.keras").exists()  # it never got to the end
    resume = ["train", task, "--out", str(run), "--resume"]
    code = cli.main([*resume, "--set", f"train.epochs={EPOCHS}"])
    assert code == 0
    state = json.loads((run / "checkpoints" / "state.json").read_text())
    assert state["epoch"] == EPOCHS
    hist = pd.read_csv(run / "history.csv")
    assert list(hist["epoch"]) == list(range(EPOCHS)), hist
    assert {"learning_rate", "seconds"} <= set(hist.columns)
    assert json.loads((run / "metrics.json").read_text())["epochs_trained"] == EPOCHS
    assert json.loads((run / "config.json").read_text())["train"]["epochs"] == EPOCHS
    assert (run / "model.keras").is_file()
