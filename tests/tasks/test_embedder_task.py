"""The embedder task: the smoke preset trains in both modes, saves the
image -> unit vector model, resumes, and runs from the command line."""

from __future__ import annotations

import json
import shutil

import keras
import numpy as np
import pandas as pd
import pytest

import mmvision.layers  # noqa: F401  (registers the layers for load_model)
import mmvision.losses  # noqa: F401
from mmvision import cli, configs
from mmvision.training import RunError, evaluate_run, fit_task

SMOKE = "demo_embedder_smoke"
FIGURES = ("val_triplet_acc", "test_triplet_acc", "val_map", "test_map", "test_p5")


def _smoke(*overrides):
    return configs.apply_overrides(configs.get_preset("embedder", SMOKE), overrides)


@pytest.fixture(scope="module", params=["online", "offline"])
def run(request, demo_world, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"embedder_{request.param}") / "run"
    cfg = _smoke(f"train.mode={request.param}")
    return out, fit_task("embedder", cfg, demo_world, out), cfg


def test_smoke_trains_and_saves_the_embedder(run):
    out, metrics, cfg = run
    assert metrics["epochs_trained"] == 2
    for key in FIGURES:
        assert 0.0 <= metrics[key] <= 1.0, key
    stored = json.loads((out / "metrics.json").read_text())
    assert set(FIGURES) <= set(stored)
    model = keras.saving.load_model(out / "model.keras")
    assert model.get_layer("image_tower") is not None
    x = np.random.default_rng(0).uniform(0, 255, (3, 32, 32, 3)).astype("float32")
    y = np.asarray(model({"image": x}))
    assert y.shape == (3, cfg.model.dim)
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1.0, atol=1e-4)
    assert json.loads((out / "config.json").read_text())["train"]["mode"] == (
        cfg.train.mode
    )
    acc = (
        "triplet_accuracy" if cfg.train.mode == "offline" else "batch_triplet_accuracy"
    )
    hist = pd.read_csv(out / "history.csv")
    assert hist[acc].between(0, 1).all() and hist[f"val_{acc}"].between(0, 1).all()
    for name in ("distances", "roc", "tsne", "neighbours", "learning_curves"):
        assert (out / f"{name}.png").stat().st_size > 1000, name
    page = (out / "report.html").read_text()
    assert "neighbours.png" in page and "test_auc" in page
    assert 0.0 <= metrics["test_auc"] <= 1.0 and 0.0 <= metrics["test_recall5"] <= 1


def test_evaluate_run_rescores(run):
    out, metrics, cfg = run
    if cfg.train.mode != "online":
        pytest.skip("one mode is enough")
    again = evaluate_run(out)
    assert again["test_map"] == pytest.approx(metrics["test_map"], abs=1e-5)


def test_resume_continues_and_refuses_other_settings(run, tmp_path):
    out, _, cfg = run
    if cfg.train.mode != "offline":
        pytest.skip("one mode is enough")
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    with pytest.raises(RunError, match="resume"):
        fit_task("embedder", cfg, None, copy)
    more = configs.apply_overrides(cfg, ["train.epochs=3"])
    m = fit_task("embedder", more, None, copy, resume=True)
    assert m["epochs_trained"] == 3
    assert list(pd.read_csv(copy / "history.csv")["epoch"]) == [0, 1, 2]
    with pytest.raises(RunError, match="model.dim"):
        fit_task(
            "embedder", configs.apply_overrides(more, ["model.dim=8"]), None, copy,
            resume=True,
        )  # fmt: skip


@pytest.mark.parametrize("name", configs.preset_names("embedder"))
def test_every_preset_round_trips(name):
    cfg = configs.get_preset("embedder", name)
    assert cfg.task == "embedder" and cfg.preset == name
    assert cfg.train.mode in ("offline", "online")
    assert configs.config_from_dict(configs.to_dict(cfg)) == cfg


def test_presets_follow_their_papers():
    dr = configs.get_preset("embedder", "deep_ranking")
    assert (dr.model.tower, dr.model.dim, dr.train.margin) == ("resnet18", 4096, 1.0)
    assert (dr.train.epochs, dr.train.mode, dr.data.augment) == (
        21, "offline", "deep_ranking",
    )  # fmt: skip
    assert configs.get_preset("embedder", "deep_ranking_multiscale").model.multiscale
    tn = configs.get_preset("embedder", "triplet_net")
    assert (tn.model.tower, tn.data.image_size, tn.model.dim) == (
        "triplet_net",
        32,
        128,
    )
    assert (tn.train.loss, tn.train.learning_rate, tn.train.patience) == (
        "softmax_ratio", 5e-4, 50,
    )  # fmt: skip
    demo = configs.get_preset("embedder", "demo_embedder")
    assert (demo.train.mode, demo.train.miner) == ("online", "semi_hard")


def test_bad_mode_is_refused(demo_world, tmp_path):
    with pytest.raises(ValueError, match="train.mode"):
        fit_task("embedder", _smoke("train.mode=both"), demo_world, tmp_path / "r")


def test_cli_trains_the_smoke_preset(demo_world, tmp_path):
    out = tmp_path / "cli_run"
    args = ["train", "embedder", "--preset", SMOKE, "--data", str(demo_world)]
    assert cli.main([*args, "--out", str(out), "--set", "train.epochs=1"]) == 0
    assert (out / "model.keras").is_file()


def test_an_embedder_run_feeds_retrieval(run, demo_world, tmp_path):
    from mmvision.retrieval import Query, Retriever
    from mmvision.tasks.embedder import EmbedderTask
    from mmvision.tasks.embedder_eval import embed_split

    out, _, cfg = run
    if cfg.train.mode != "online":
        pytest.skip("one mode is enough")
    data = EmbedderTask().load_data(cfg, demo_world)
    gallery = data.split("test").reset_index(drop=True)
    captions = {i: data.classes[y] for i, y in zip(gallery["id"], gallery["label"])}
    r = Retriever.build(gallery, captions=captions, encoder="tfidf", image_source=out)
    r.save(tmp_path / "index")
    r = Retriever.load(tmp_path / "index")
    assert r.image_source.name.startswith("embedder:")
    assert r.image_source.kind == "embedder"

    model = keras.saving.load_model(out / "model.keras")
    emb = embed_split(model, gallery, cfg.data.image_size, 64)
    cos = emb @ emb[0]
    want = [gallery["id"][j] for j in np.argsort(-cos, kind="stable") if j != 0][:5]
    got = r.query(Query(id=gallery["id"][0]), "similar", k=5, method="image")
    assert got.ids == want
    np.testing.assert_allclose(
        [x.score for x in got.results], np.sort(cos)[::-1][1:6], atol=1e-5
    )
    far = r.query(Query(image=gallery["image_path"][0]), "divergent", k=3,
                  method="image")  # fmt: skip
    assert far.ids == [gallery["id"][j] for j in np.argsort(cos, kind="stable")[:3]]
