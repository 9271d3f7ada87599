"""Training from a local tf.data service (dispatcher + worker in this process)."""

import subprocess
import sys

import pytest

from mmvision import cli, configs
from mmvision.distribute import data_service
from mmvision.training import fit_task


@pytest.fixture(scope="module")
def service():
    d = data_service.start_dispatcher(0)
    w = data_service.start_worker(d.target, 0)
    yield d
    w.stop()
    d.stop()


@pytest.mark.parametrize(
    "task,preset,mode",
    [
        ("classifier", "demo_classifier_smoke", "parallel_epochs"),
        ("embedder", "demo_embedder_smoke", "distributed_epoch"),
    ],
)
def test_trains_from_the_service(task, preset, mode, service, demo_world, tmp_path):
    cfg = configs.apply_overrides(configs.get_preset(task, preset), ["train.epochs=2"])
    out = tmp_path / "run"
    m = fit_task(task, cfg, demo_world, out, data_service=service.target,
                 data_service_mode=mode)  # fmt: skip
    assert m["epochs_trained"] == 2
    rows = (out / "history.csv").read_text().splitlines()
    assert len(rows) == 3 and (out / "model.keras").is_file()


def test_bad_service_settings_are_refused(demo_world, tmp_path):
    cfg = configs.get_preset("classifier", "demo_classifier_smoke")
    with pytest.raises(ValueError, match="grpc://HOST:PORT"):
        fit_task("classifier", cfg, demo_world, tmp_path / "a", data_service="http://x")
    with pytest.raises(ValueError, match="data service mode"):
        fit_task("classifier", cfg, demo_world, tmp_path / "b",
                 data_service="grpc://localhost:1",
                 data_service_mode="sideways")  # fmt: skip
    assert not (tmp_path / "a").exists()


def test_cli_serve_starts_a_dispatcher(tmp_path):
    code = "import sys; from mmvision.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "data", "serve", "--dispatcher"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        assert "tf.data dispatcher serving at grpc://" in line
        assert proc.poll() is None  # still serving
    finally:
        proc.kill()
        proc.wait(30)
    with pytest.raises(SystemExit):
        cli.main(["data", "serve"])  # --dispatcher or --worker is required
