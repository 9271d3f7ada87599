"""The study's figures of a classifier evaluation: per-field robustness for 5
classes, t-SNE of 10 classes with the label-noise images marked, and t-SNE of
title vs description embeddings before and after the projection head."""

import json

import numpy as np
import pytest
from helpers_models import make_tiny_use

from mmvision import configs
from mmvision.report import plots
from mmvision.tasks import classifier_eval
from mmvision.training import evaluate_run, fit_task


@pytest.fixture(scope="module")
def hub_run(demo_world, tmp_path_factory):
    root = tmp_path_factory.mktemp("figures")
    use = make_tiny_use(root / "use", dim=32)
    cfg = configs.apply_overrides(
        configs.get_preset("classifier", "demo_classifier_smoke"),
        [
            f"model.text_tower=hub:{use}",
            "data.fields=title,description",
            "train.epochs=1",
        ],
    )
    fit_task("classifier", cfg, demo_world, root / "run")
    return root / "run"


@pytest.fixture(scope="module")
def evaluated(hub_run):
    captured = {}
    real = plots.tsne_png

    def spy(emb, labels, classes, path, **kw):
        captured.update(labels=np.asarray(labels), marked=kw.get("marked"))
        return real(emb, labels, classes, path, **kw)

    mp = pytest.MonkeyPatch()
    mp.setattr(plots, "tsne_png", spy)
    mp.setattr("mmvision.report.tsne_png", spy)
    try:
        res = evaluate_run(hub_run)
    finally:
        mp.undo()
    return res, captured


def test_field_robustness_removes_one_input_for_five_classes(evaluated, hub_run):
    res, _ = evaluated
    table = res["field_robustness"]
    assert len(table["classes"]) == 5
    for key in ("none", "image", "title", "description"):
        assert 0.0 <= table[key] <= 1.0
        assert res[f"test_field5_{key}_top1"] == table[key]
    metrics = json.loads((hub_run / "metrics.json").read_text())
    assert metrics["test_field5_title_top1"] == table["title"]
    assert "One input removed" in (hub_run / "report.html").read_text()


def test_tsne_shows_ten_classes_and_marks_label_noise(evaluated, hub_run):
    _, captured = evaluated
    assert len(np.unique(captured["labels"])) == classifier_eval.TSNE_CLASSES
    marked = captured["marked"]
    assert marked is not None and len(marked) == len(captured["labels"])
    assert 0 < marked.sum() < len(marked)
    assert (hub_run / "tsne.png").stat().st_size > 0


def test_label_noise_mask_matches_the_ground_truth(demo_world):
    from pathlib import Path

    from mmvision.data.classification_data import load_classification_data
    from mmvision.datasets import shapes

    cfg = configs.get_preset("classifier", "demo_classifier_smoke")
    data = load_classification_data(cfg, demo_world)
    test = data.split("test")
    mask = classifier_eval._label_noise(data.root, test)
    noisy = {r["id"] for r in shapes.load_ground_truth(demo_world) if r["text_noise"]}
    expected = [Path(p).stem in noisy for p in test["image_path"]]
    assert mask.tolist() == expected and 0 < sum(expected) < len(expected)
    assert classifier_eval._label_noise(demo_world / "nowhere" / "x", test) is None


def test_text_embedding_tsne_before_and_after_projection(evaluated, hub_run):
    assert (hub_run / "text_tsne.png").stat().st_size > 0


def test_no_text_tsne_for_a_bag_of_words_tower(demo_world, tmp_path):
    cfg = configs.apply_overrides(
        configs.get_preset("classifier", "demo_classifier_smoke"), ["train.epochs=1"]
    )
    fit_task("classifier", cfg, demo_world, tmp_path / "bow")
    from mmvision.inference.classifier import load_classifier

    _, model, _ = load_classifier(tmp_path / "bow")
    import pandas as pd

    rows = pd.DataFrame({"title": ["red circle"], "description": ["a red disc"]})
    assert classifier_eval.text_embedding_tsne(model, rows, tmp_path / "t.png") == 0
    assert not (tmp_path / "t.png").exists()
