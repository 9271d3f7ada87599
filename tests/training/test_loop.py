"""`mmvision.training.fit_task`: the one training loop, its run directory,
resume rules and strategies."""

import ast
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

import mmvision
from mmvision import configs
from mmvision.training import RunError, fit_task, run_dir

SMOKE = "demo_classifier_smoke"


def smoke(*overrides):
    return configs.apply_overrides(
        configs.get_preset("classifier", SMOKE), list(overrides)
    )


@pytest.fixture(scope="module")
def one_epoch(demo_world, tmp_path_factory):
    """A classifier smoke run stopped after 1 of its epochs: (run, metrics)."""
    run = tmp_path_factory.mktemp("loop") / "run"
    metrics = fit_task("classifier", smoke("train.epochs=1"), demo_world, run)
    return run, metrics


def test_a_run_writes_every_run_file(one_epoch, demo_world):
    run, metrics = one_epoch
    for name in (
        run_dir.CONFIG,
        run_dir.INFO,
        run_dir.MODEL,
        run_dir.HISTORY,
        run_dir.METRICS,
        f"{run_dir.CHECKPOINTS}/{run_dir.LAST}",
        f"{run_dir.CHECKPOINTS}/{run_dir.BEST_WEIGHTS}",
        f"{run_dir.CHECKPOINTS}/{run_dir.STATE}",
        "learning_curves.png",
    ):
        assert (run / name).is_file(), name
    assert (run / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"
    cfg = json.loads((run / run_dir.CONFIG).read_text())
    assert (cfg["task"], cfg["preset"]) == ("classifier", SMOKE)
    assert configs.config_from_dict(cfg) == smoke("train.epochs=1")
    info = json.loads((run / run_dir.INFO).read_text())
    assert info["task"] == "classifier"
    assert info["data_dir"] == str(Path(demo_world).resolve())
    assert info["mmvision_version"] == mmvision.__version__ and info["created"]
    assert json.loads((run / run_dir.METRICS).read_text()) == metrics
    assert metrics["epochs_trained"] == 1 and metrics["best_epoch"] == 1
    for key in ("best_val_loss", "train_seconds", "val_loss", "test_top1"):
        assert key in metrics, key
    state = json.loads((run / run_dir.CHECKPOINTS / run_dir.STATE).read_text())
    assert state["epoch"] == 1 and state["best_epoch"] == 1


def test_history_has_learning_rate_and_seconds(one_epoch):
    run, _ = one_epoch
    hist = pd.read_csv(run / run_dir.HISTORY)
    for col in ("epoch", "loss", "val_loss", "top1", "val_top1", "learning_rate"):
        assert col in hist.columns, col
    assert "seconds" in hist.columns
    assert list(hist["epoch"]) == [0]
    assert hist["learning_rate"].iloc[0] == pytest.approx(1e-3)
    assert hist["seconds"].iloc[0] > 0


def test_a_second_run_into_the_same_directory_is_refused(one_epoch, demo_world):
    run, _ = one_epoch
    before = (run / run_dir.HISTORY).read_text()
    with pytest.raises(RunError, match="already holds a run"):
        fit_task("classifier", smoke(), demo_world, run)
    assert (run / run_dir.HISTORY).read_text() == before


def test_resume_with_more_epochs_continues_from_the_checkpoint(one_epoch, tmp_path):
    src, _ = one_epoch
    run = tmp_path / "run"
    shutil.copytree(src, run)
    metrics = fit_task("classifier", smoke("train.epochs=2"), None, run, resume=True)
    hist = pd.read_csv(run / run_dir.HISTORY)
    assert list(hist["epoch"]) == [0, 1]
    assert {"learning_rate", "seconds"} <= set(hist.columns)
    assert metrics["epochs_trained"] == 2
    assert json.loads((run / run_dir.METRICS).read_text())["epochs_trained"] == 2
    state = json.loads((run / run_dir.CHECKPOINTS / run_dir.STATE).read_text())
    assert state["epoch"] == 2
    cfg = configs.config_from_dict(run_dir.read_config(run))
    assert cfg.train.epochs == 2 and cfg.preset == SMOKE
    # Nothing left to train: a resume with the stored config changes nothing.
    again = fit_task("classifier", None, None, run, resume=True)
    assert again["epochs_trained"] == 2
    assert list(pd.read_csv(run / run_dir.HISTORY)["epoch"]) == [0, 1]


def test_resume_refuses_a_changed_setting_and_names_it(one_epoch):
    run, _ = one_epoch
    before = (run / run_dir.CONFIG).read_text()
    changed = smoke("train.epochs=1", "model.hidden_units=64")
    with pytest.raises(RunError, match="model.hidden_units") as e:
        fit_task("classifier", changed, None, run, resume=True)
    assert "train.epochs" in str(e.value)  # what a resume may change
    both = smoke("train.epochs=5", "train.learning_rate=0.5", "model.dropout=0.1")
    with pytest.raises(RunError) as e:
        fit_task("classifier", both, None, run, resume=True)
    msg = str(e.value).split("differ")[0]
    assert "train.learning_rate" in msg and "model.dropout" in msg
    assert "train.epochs" not in msg
    assert (run / run_dir.CONFIG).read_text() == before


def test_resume_of_an_empty_directory_is_refused(tmp_path):
    with pytest.raises(RunError, match="nothing to resume"):
        fit_task("classifier", smoke(), None, tmp_path / "none", resume=True)


def test_a_config_of_another_task_is_refused(demo_world, tmp_path):
    cap = configs.get_preset("captioner", "demo_captioner_smoke")
    with pytest.raises(ValueError, match="captioner.*classifier"):
        fit_task("classifier", cap, demo_world, tmp_path / "r")
    with pytest.raises(ValueError, match="unknown task"):
        fit_task("nope", smoke(), demo_world, tmp_path / "r2")


def test_mirrored_strategy_trains(demo_world, tmp_path):
    run = tmp_path / "mirrored"
    metrics = fit_task(
        "classifier", smoke("train.epochs=1"), demo_world, run, strategy="mirrored"
    )
    assert metrics["epochs_trained"] == 1
    assert (run / run_dir.MODEL).is_file()
    assert len(pd.read_csv(run / run_dir.HISTORY)) == 1


def test_unknown_strategy_is_a_value_error(demo_world, tmp_path):
    from mmvision.training import strategy

    with pytest.raises(ValueError, match="unknown strategy.*mirrored"):
        strategy.get("tpu_pod")
    with pytest.raises(ValueError, match="unknown strategy"):
        fit_task("classifier", smoke(), demo_world, tmp_path / "r", strategy="bogus")
    assert strategy.get(None) is strategy.get("default")


def _fit_calls(path: Path) -> list[int]:
    """Lines of Keras-style ``x.fit(...)`` calls: on a model, or with epochs."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "fit"
        ):
            continue
        receiver = ast.unparse(node.func.value).lower()
        keywords = {k.arg for k in node.keywords}
        if "model" in receiver or keywords & {"epochs", "callbacks"}:
            lines.append(node.lineno)
    return lines


def test_model_fit_is_called_in_exactly_one_file():
    root = Path(mmvision.__file__).parent
    found = {
        str(p.relative_to(root.parent)): lines
        for p in sorted(root.rglob("*.py"))
        if (lines := _fit_calls(p))
    }
    assert list(found) == ["mmvision/training/loop.py"], found
    assert len(found["mmvision/training/loop.py"]) == 1
