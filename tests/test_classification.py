"""`mmvision train classifier` / `evaluate`: run directories, resume, errors."""

import json

import pandas as pd
import pytest

from mmvision import cli, configs
from mmvision.configs import ClassifierConfig

SMALL = [
    "--set",
    "data.image_size=32",
    "--set",
    "train.verbose=0",
    "--set",
    "model.hidden_units=32",
    "--set",
    "model.text_dim=16",
]


@pytest.fixture(scope="module")
def trained_run(demo_world, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "fused"
    code = cli.main(
        [
            "train",
            "classifier",
            "--preset",
            "demo_fused",
            "--data",
            str(demo_world),
            "--out",
            str(run),
            "--set",
            "train.epochs=1",
            *SMALL,
        ]
    )
    assert code == 0
    return run


def test_run_directory_contents(trained_run):
    for name in (
        "config.json",
        "model.keras",
        "history.csv",
        "metrics.json",
        "classes.json",
        "run_info.json",
        "checkpoints/last.keras",
        "checkpoints/state.json",
    ):
        assert (trained_run / name).exists(), name
    cfg = configs.from_dict(
        ClassifierConfig, json.loads((trained_run / "config.json").read_text())
    )
    assert cfg.preset == "demo_fused" and cfg.data.image_size == 32
    metrics = json.loads((trained_run / "metrics.json").read_text())
    for key in ("val_top1", "test_top1", "test_top5", "epochs_trained"):
        assert key in metrics
    assert 0.0 <= metrics["test_top1"] <= metrics["test_top5"] <= 1.0
    assert not [p for p in trained_run.rglob(".*tmp*")]  # atomic writes left no temp


def test_evaluate_writes_metrics_robustness_and_plots(trained_run, capsys):
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
    ):
        assert 0.0 <= metrics[key] <= 1.0, key
    for png in ("confusion_matrix.png", "tsne.png", "learning_curves.png"):
        assert (trained_run / png).read_bytes()[:4] == b"\x89PNG", png
    assert "Robustness" in (trained_run / "report.html").read_text()
    per_class = json.loads((trained_run / "per_class_accuracy.json").read_text())
    assert len(per_class) == 48


def test_resume_continues_from_the_checkpoint(trained_run, tmp_path):
    import shutil

    run = tmp_path / "resumed"
    shutil.copytree(trained_run, run)
    cfg = json.loads((run / "config.json").read_text())
    cfg["train"]["epochs"] = 2  # the run had planned two epochs and stopped after one
    (run / "config.json").write_text(json.dumps(cfg))
    assert (
        cli.main(
            [
                "train",
                "classifier",
                "--data",
                str(json.loads((run / "run_info.json").read_text())["data_dir"]),
                "--out",
                str(run),
                "--resume",
            ]
        )
        == 0
    )
    hist = pd.read_csv(run / "history.csv")
    assert list(hist["epoch"]) == [0, 1]
    assert json.loads((run / "checkpoints/state.json").read_text())["epoch"] == 2


def test_corrupt_checkpoint_is_an_error_not_a_fresh_start(
    trained_run, tmp_path, capsys
):
    import shutil

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
    assert (
        cli.main(
            [
                "train",
                "classifier",
                "--data",
                "/",
                "--out",
                str(tmp_path / "new"),
                "--resume",
            ]
        )
        == 2
    )
    assert "nothing to resume" in capsys.readouterr().err
    assert (
        cli.main(["train", "classifier", "--data", "/", "--out", str(trained_run)]) == 2
    )
    assert "already holds a run" in capsys.readouterr().err


def test_text_field_missing_from_the_data_is_named(demo_world, tmp_path, capsys):
    # The class-folder layout has title and description sidecars but no tags.
    code = cli.main(
        [
            "train",
            "classifier",
            "--preset",
            "demo_fused",
            "--data",
            str(demo_world),
            "--out",
            str(tmp_path / "r"),
            "--set",
            "data.format=folders",
            *SMALL,
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "'tags'" in err and "data.fields=title,description" in err


def test_unknown_tower_lists_valid_names(demo_world, tmp_path, capsys):
    code = cli.main(
        [
            "train",
            "classifier",
            "--data",
            str(demo_world),
            "--out",
            str(tmp_path / "r"),
            "--set",
            "model.image_tower=vgg99",
            *SMALL,
        ]
    )
    assert code == 2
    assert "small_cnn" in capsys.readouterr().err


# ---------------------------------------------------------------------------
# Configs
# ---------------------------------------------------------------------------


def test_presets_mirror_the_study():
    p = configs.get_preset("webvision_inceptionv3")
    assert (p.train.optimizer, p.train.batch_size, p.data.image_size) == (
        "adagrad",
        256,
        300,
    )
    p = configs.get_preset("webvision_resnet50v2_use")
    assert (p.train.optimizer, p.train.batch_size, p.model.freeze_fraction) == (
        "nadam",
        128,
        0.5,
    )
    assert configs.get_preset("webvision_use_dnn").train.optimizer == "adamax"
    assert configs.get_preset("webvision_mobilenetv2").train.optimizer == "nadam"
    with pytest.raises(ValueError, match="demo_fused"):
        configs.get_preset("nope")


def test_overrides_parse_types_and_reject_unknown_keys():
    cfg = configs.apply_overrides(
        configs.get_preset("demo_fused"),
        [
            "train.epochs=3",
            "model.modality_dropout=0.25",
            "data.fields=title,tags",
            "model.image_tower=none",
            'model.text_options={"mode": "tf_idf"}',
            "model.share_text_tower=true",
        ],
    )
    assert cfg.train.epochs == 3 and cfg.model.modality_dropout == 0.25
    assert cfg.data.fields == ("title", "tags") and cfg.model.image_tower is None
    assert cfg.model.text_options == {"mode": "tf_idf"} and cfg.model.share_text_tower
    assert configs.from_dict(ClassifierConfig, configs.to_dict(cfg)) == cfg
    for bad, match in [
        ("train.nope=1", "unknown key"),
        ("train.epochs=x", "not a valid"),
        ("train=3", "section"),
        ("epochs", "key=value"),
    ]:
        with pytest.raises(ValueError, match=match):
            configs.apply_overrides(cfg, [bad])
    with pytest.raises(ValueError, match="unknown keys"):
        configs.from_dict(ClassifierConfig, {"bogus": 1})


def test_pretrained_frozen_image_tower_from_another_run(
    trained_run, demo_world, tmp_path, capsys
):
    import keras
    import numpy as np

    import mmvision.models  # noqa: F401

    # Without weights the preset would freeze a random tower: refused.
    code = cli.main(
        [
            "train",
            "classifier",
            "--preset",
            "demo_fused_pretrained",
            "--data",
            str(demo_world),
            "--out",
            str(tmp_path / "a"),
            *SMALL,
        ]
    )
    assert code == 2 and "model.image_weights" in capsys.readouterr().err
    run = tmp_path / "b"
    code = cli.main(
        [
            "train",
            "classifier",
            "--preset",
            "demo_fused_pretrained",
            "--data",
            str(demo_world),
            "--out",
            str(run),
            *SMALL,
            "--set",
            "train.epochs=1",
            "--set",
            f"model.image_weights={trained_run}",
        ]
    )
    assert code == 0
    source = keras.saving.load_model(trained_run / "model.keras").get_layer(
        "image_tower"
    )
    tower = keras.saving.load_model(run / "model.keras").get_layer("image_tower")
    for a, b in zip(source.get_weights(), tower.get_weights()):
        np.testing.assert_array_equal(a, b)  # copied, and frozen while training
    # A tower of another size does not fit and is named.
    code = cli.main(
        [
            "train",
            "classifier",
            "--preset",
            "demo_fused_pretrained",
            "--data",
            str(demo_world),
            "--out",
            str(tmp_path / "c"),
            *SMALL,
            "--set",
            "data.image_size=48",
            "--set",
            f"model.image_weights={trained_run}",
        ]
    )
    assert code == 2 and "trained at 32 px" in capsys.readouterr().err


def test_cosine_schedule_decays_to_zero_and_skips_plateau(demo_world, tmp_path):
    import math

    from mmvision import classification

    cfg = configs.apply_overrides(
        configs.get_preset("demo_image_resnet"),
        ["data.image_size=32", "train.verbose=0", "train.epochs=2"],
    )
    assert cfg.model.image_tower == "small_resnet" and cfg.data.augment == "dihedral"
    classification.train_classifier(cfg, demo_world, tmp_path / "run")
    hist = pd.read_csv(tmp_path / "run" / "history.csv")
    lr0 = cfg.train.learning_rate
    # Logged after each epoch: cos decay at 1/2 and 2/2 of the steps.
    assert hist["learning_rate"].iloc[0] == pytest.approx(
        lr0 * 0.5 * (1 + math.cos(math.pi / 2)), rel=0.05
    )
    assert hist["learning_rate"].iloc[1] == pytest.approx(0.0, abs=1e-7)
    bad = configs.apply_overrides(cfg, ["train.lr_schedule=step"])
    with pytest.raises(ValueError, match="lr_schedule"):
        classification.train_classifier(bad, demo_world, tmp_path / "bad")
