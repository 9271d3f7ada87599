"""The classifier task through `mmvision train classifier` / `evaluate`:
run directories, evaluation figures, resume, errors, tower reuse, schedules."""

import json
import math
import shutil

import pandas as pd
import pytest

from mmvision import cli, configs
from mmvision.configs import ClassifierConfig

SMOKE = "demo_classifier_smoke"


def train(data, out, *sets, preset=SMOKE):
    args = ["train", "classifier", "--preset", preset, "--data", str(data)]
    args += ["--out", str(out)]
    for s in sets:
        args += ["--set", s]
    return cli.main(args)


@pytest.fixture(scope="module")
def trained_run(demo_world, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "fused"
    assert train(demo_world, run, "train.epochs=1") == 0
    return run


def test_run_directory_contents(trained_run, demo_world):
    for name in (
        "config.json",
        "run_info.json",
        "model.keras",
        "history.csv",
        "metrics.json",
        "classes.json",
        "learning_curves.png",
        "checkpoints/last.keras",
        "checkpoints/best.weights.h5",
        "checkpoints/state.json",
    ):
        assert (trained_run / name).exists(), name
    stored = json.loads((trained_run / "config.json").read_text())
    assert stored["task"] == "classifier" and stored["preset"] == SMOKE
    cfg = configs.from_dict(ClassifierConfig, stored)
    assert cfg.data.image_size == 32 and cfg.train.epochs == 1
    info = json.loads((trained_run / "run_info.json").read_text())
    assert info["task"] == "classifier" and info["classes"] == 48
    assert info["data_dir"] == str(demo_world.resolve())
    for key in ("mmvision_version", "created"):
        assert key in info, key
    metrics = json.loads((trained_run / "metrics.json").read_text())
    for key in ("val_top1", "test_top1", "test_top5", "epochs_trained"):
        assert key in metrics, key
    assert metrics["epochs_trained"] == 1
    assert 0.0 <= metrics["test_top1"] <= metrics["test_top5"] <= 1.0
    assert len(json.loads((trained_run / "classes.json").read_text())) == 48
    assert not list(trained_run.rglob(".*tmp*"))  # atomic writes left no temp


def test_evaluate_writes_metrics_robustness_and_plots(trained_run, capsys, monkeypatch):
    from mmvision import training

    returned = {}

    def evaluate_run(*args, **kwargs):
        returned.update(real(*args, **kwargs))
        return returned

    real = training.evaluate_run
    monkeypatch.setattr(training, "evaluate_run", evaluate_run)
    assert cli.main(["evaluate", str(trained_run)]) == 0
    out = capsys.readouterr().out
    assert "test_text_missing_top1" in out and "test_image_missing_top1" in out
    metrics = json.loads((trained_run / "metrics.json").read_text())
    for key in (
        "test_top1",
        "test_top5",
        "test_mean_per_class_top1",
        "test_text_missing_top1",
        "test_image_missing_top1",
        "test_field5_none_top1",
        "test_field5_image_top1",
        "test_field5_title_top1",
        "test_field5_description_top1",
    ):
        assert 0.0 <= metrics[key] <= 1.0, key
        assert returned[key] == pytest.approx(metrics[key]), key
    assert metrics["epochs_trained"] == 1  # the training figures are kept
    for png in ("confusion_matrix.png", "tsne.png", "learning_curves.png"):
        assert (trained_run / png).read_bytes()[:4] == b"\x89PNG", png
    assert "Robustness" in (trained_run / "report.html").read_text()
    per_class = json.loads((trained_run / "per_class_accuracy.json").read_text())
    assert len(per_class) == 48
    # The returned value also holds both robustness tables.
    robustness = returned["robustness"]
    assert set(robustness) == {"both", "text_missing", "image_missing"}
    assert robustness["both"] == returned["test_top1"]
    fields = returned["field_robustness"]
    assert len(fields["classes"]) == 5
    for k in ("none", "image", "title", "description"):
        assert fields[k] == returned[f"test_field5_{k}_top1"], k


def test_resume_continues_from_the_checkpoint(trained_run, tmp_path, capsys):
    run = tmp_path / "resumed"
    shutil.copytree(trained_run, run)
    # No --data: the run's recorded data directory is used.
    resume = ["train", "classifier", "--out", str(run), "--resume"]
    code = cli.main([*resume, "--set", "train.epochs=2"])
    assert code == 0, capsys.readouterr().err
    hist = pd.read_csv(run / "history.csv")
    assert list(hist["epoch"]) == [0, 1]
    assert json.loads((run / "checkpoints/state.json").read_text())["epoch"] == 2
    assert json.loads((run / "metrics.json").read_text())["epochs_trained"] == 2
    assert json.loads((run / "config.json").read_text())["train"]["epochs"] == 2


def test_corrupt_checkpoint_is_an_error_not_a_fresh_start(
    trained_run, tmp_path, capsys
):
    run = tmp_path / "corrupt"
    shutil.copytree(trained_run, run)
    ckpt = run / "checkpoints" / "last.keras"
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    before = (run / "history.csv").read_text()
    code = cli.main(["train", "classifier", "--out", str(run), "--resume"])
    assert code == 2
    assert "corrupt checkpoint" in capsys.readouterr().err
    assert (run / "history.csv").read_text() == before


def test_resume_without_checkpoint_and_reuse_of_a_run_are_errors(
    trained_run, tmp_path, capsys
):
    code = cli.main(["train", "classifier", "--out", str(tmp_path / "new"), "--resume"])
    assert code == 2
    assert "nothing to resume" in capsys.readouterr().err
    assert train("/", trained_run) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert cli.main(["train", "classifier", "--out", str(tmp_path / "x")]) == 2
    assert "--data is required" in capsys.readouterr().err


def test_text_field_missing_from_the_data_is_named(demo_world, tmp_path, capsys):
    # The class-folder layout has title and description sidecars but no tags.
    assert train(demo_world, tmp_path / "r", "data.format=folders") == 2
    err = capsys.readouterr().err
    assert "'tags'" in err and "data.fields=title,description" in err


def test_unknown_tower_and_preset_list_valid_names(demo_world, tmp_path, capsys):
    assert train(demo_world, tmp_path / "r", "model.image_tower=vgg99") == 2
    assert "small_cnn" in capsys.readouterr().err
    assert train(demo_world, tmp_path / "p", preset="nope") == 2
    assert SMOKE in capsys.readouterr().err
    assert train(demo_world, tmp_path / "s", "train.nope=1") == 2
    assert "unknown key" in capsys.readouterr().err


def test_frozen_tower_from_another_run_and_cosine_schedule(
    trained_run, demo_world, tmp_path, capsys
):
    """One training run checks two things: a frozen image tower copied from
    another run, and the cosine schedule (decays to 0, no plateau callback)."""
    import keras
    import numpy as np

    import mmvision.models  # noqa: F401

    # Without weights the config would freeze a random tower: refused.
    assert train(demo_world, tmp_path / "a", "model.freeze_fraction=1.0") == 2
    assert "model.image_weights" in capsys.readouterr().err
    run = tmp_path / "b"
    code = train(
        demo_world,
        run,
        "model.freeze_fraction=1.0",
        f"model.image_weights={trained_run}",
        "train.lr_schedule=cosine",
        "train.early_stopping_patience=0",
    )
    assert code == 0
    source = keras.saving.load_model(trained_run / "model.keras").get_layer(
        "image_tower"
    )
    tower = keras.saving.load_model(run / "model.keras").get_layer("image_tower")
    for a, b in zip(source.get_weights(), tower.get_weights()):
        np.testing.assert_array_equal(a, b)  # copied, and frozen while training
    # Cosine decay over the smoke preset's 2 epochs, logged after each epoch:
    # at 1/2 and 2/2 of the steps.
    cfg = configs.get_preset("classifier", SMOKE)
    assert cfg.train.epochs == 2
    hist = pd.read_csv(run / "history.csv")
    lr0 = cfg.train.learning_rate
    assert hist["learning_rate"].iloc[0] == pytest.approx(
        lr0 * 0.5 * (1 + math.cos(math.pi / 2)), rel=0.05
    )
    assert hist["learning_rate"].iloc[1] == pytest.approx(0.0, abs=1e-7)
    # A tower of another size does not fit and is named.
    code = train(
        demo_world,
        tmp_path / "c",
        "data.image_size=48",
        "model.freeze_fraction=1.0",
        f"model.image_weights={trained_run}",
    )
    assert code == 2 and "trained at 32 px" in capsys.readouterr().err


def test_demo_image_resnet_preset_uses_cosine_decay():
    cfg = configs.get_preset("classifier", "demo_image_resnet")
    assert cfg.model.image_tower == "small_resnet" and cfg.data.augment == "dihedral"
    assert cfg.train.lr_schedule == "cosine"
    assert cfg.train.early_stopping_patience == 0


def test_unknown_lr_schedule_is_named(demo_world, tmp_path):
    from mmvision.training import fit_task

    bad = configs.apply_overrides(
        configs.get_preset("classifier", SMOKE), ["train.lr_schedule=step"]
    )
    with pytest.raises(ValueError, match="lr_schedule.*cosine"):
        fit_task("classifier", bad, demo_world, tmp_path / "bad")
