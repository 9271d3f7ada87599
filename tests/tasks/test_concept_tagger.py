"""The concept_tagger task: its runs are feature sources; the captioner's own
tower (``features.pretrain=concepts``) is reused, resumed or refused."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from mmvision import configs
from mmvision.data import caption_data as cd
from mmvision.inference.features import TOWER_DIR, load_feature_source
from mmvision.tasks.captioner import CaptionerTask, pretrain_tower, tagger_config
from mmvision.tasks.concept_tagger import ConceptTaggerTask
from mmvision.training import RunError, evaluate_run, fit_task


def _smoke(*overrides):
    cfg = configs.get_preset("concept_tagger", "demo_concept_tagger_smoke")
    return configs.apply_overrides(cfg, overrides)


@pytest.fixture(scope="module")
def tower_run(demo_world, tmp_path_factory):
    out = tmp_path_factory.mktemp("concepts") / "tower"
    metrics = fit_task("concept_tagger", _smoke(), demo_world, out)
    return out, metrics


def test_tagger_run_is_a_feature_source(tower_run, demo_world):
    out, metrics = tower_run
    for name in ("model.keras", "config.json", "run_info.json", "vocab.txt",
                 "history.csv", "metrics.json", "checkpoints/last.keras",
                 "checkpoints/state.json"):  # fmt: skip
        assert (out / name).is_file(), name
    assert metrics["epochs_trained"] == 2 and 0.0 < metrics["test_word_map"] <= 1.0
    assert 0.0 < metrics["val_word_map"] <= 1.0
    hist = pd.read_csv(out / "history.csv")
    assert list(hist["epoch"]) == [0, 1]
    assert hist["learning_rate"].iloc[-1] < 1e-6  # cosine decay to 0, per step
    assert {"loss", "val_loss", "seconds"} <= set(hist.columns)
    tower, size, _ = load_feature_source(out)
    assert size == 32 and tower.output_shape == (None, 128)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["task"] == "concept_tagger"
    assert cfg["preset"] == "demo_concept_tagger_smoke"
    manifest, cap_file, _ = cd.read_caption_manifest(demo_world)
    vocab = cd.build_vocabulary(cd.split_rows(manifest, "train", cap_file), cap_file)
    info = json.loads((out / "run_info.json").read_text())
    assert info["vocab_fingerprint"] == vocab.fingerprint()
    assert info["task"] == "concept_tagger"


def test_evaluate_run_rescores_the_tagger(tower_run):
    out, metrics = tower_run
    again = evaluate_run(out)
    assert again["test_word_map"] == pytest.approx(metrics["test_word_map"], abs=1e-6)


def test_tagger_resume_continues_and_refuses_other_settings(tower_run, tmp_path):
    out, _ = tower_run
    copy = tmp_path / "tower"
    shutil.copytree(out, copy)
    with pytest.raises(RunError, match="resume"):
        fit_task("concept_tagger", _smoke(), None, copy)
    m = fit_task("concept_tagger", _smoke("train.epochs=3"), None, copy, resume=True)
    assert m["epochs_trained"] == 3
    assert list(pd.read_csv(copy / "history.csv")["epoch"]) == [0, 1, 2]
    with pytest.raises(RunError, match="model.tower"):
        fit_task(
            "concept_tagger", _smoke("model.tower=small_resnet"), None, copy,
            resume=True,
        )  # fmt: skip


# ---------------------------------------------------------------------------
# The captioner's own tower: RUN/tower
# ---------------------------------------------------------------------------


def _captioner(*overrides):
    cfg = configs.get_preset("captioner", "demo_captioner_smoke")
    base = ["features.end_to_end=false", "features.pretrain=concepts",
            "features.pretrain_epochs=2", "features.pretrain_augment=none"]  # fmt: skip
    return configs.apply_overrides(cfg, [*base, *overrides])


@pytest.fixture(scope="module")
def own_tower(demo_world, tmp_path_factory):
    """A captioner run directory holding only its pre-trained ``tower/``."""
    cfg = _captioner()
    data = CaptionerTask().load_data(cfg, demo_world)
    run = tmp_path_factory.mktemp("own") / "run"
    run.mkdir()
    metrics = pretrain_tower(cfg, data, demo_world, run, None)
    return cfg, data, run, metrics


def test_tagger_config_follows_the_pretrain_settings():
    cfg = _captioner("features.pretrain_epochs=7", "data.min_count=2")
    t = tagger_config(cfg)
    assert (t.task, t.preset) == ("concept_tagger", "demo_captioner_smoke/tower")
    assert (t.train.epochs, t.data.min_count, t.data.image_size) == (7, 2, 32)
    assert (t.model.tower, t.data.augment) == ("small_cnn", None)


def test_own_tower_is_trained_with_the_captioner_vocabulary(own_tower):
    cfg, data, run, metrics = own_tower
    out = run / TOWER_DIR
    assert metrics["epochs_trained"] == 2 and "test_word_map" in metrics
    info = json.loads((out / "run_info.json").read_text())
    assert info["vocab_fingerprint"] == data.vocab.fingerprint()
    stored = configs.config_from_dict(json.loads((out / "config.json").read_text()))
    assert stored == tagger_config(cfg)


def test_finished_tower_is_reused_and_other_settings_refused(own_tower, demo_world):
    cfg, data, run, metrics = own_tower
    out = run / TOWER_DIR
    before = (out / "history.csv").read_text()
    again = pretrain_tower(cfg, data, demo_world, run, None)
    assert again == metrics and (out / "history.csv").read_text() == before
    other = configs.apply_overrides(cfg, ["features.pretrain_epochs=3"])
    with pytest.raises(ValueError, match="tower/config.json"):
        pretrain_tower(other, data, demo_world, run, None)
    from mmvision.data.vocabulary import Vocabulary

    data.vocab, vocab = Vocabulary.build(["zebra giraffe"]), data.vocab
    try:
        with pytest.raises(ValueError, match="tower/run_info.json.*another vocabulary"):
            pretrain_tower(cfg, data, demo_world, run, None)
    finally:
        data.vocab = vocab


def test_interrupted_tower_continues_from_its_checkpoint(demo_world, tmp_path):
    one = _captioner("features.pretrain_epochs=1")
    data = CaptionerTask().load_data(one, demo_world)
    run = tmp_path / "run"
    run.mkdir()
    pretrain_tower(one, data, demo_world, run, None)
    # Pretend a 2-epoch tower run stopped after epoch 1: same settings, one left.
    out = run / TOWER_DIR
    cfg = json.loads((out / "config.json").read_text())
    cfg["train"]["epochs"] = 2
    (out / "config.json").write_text(json.dumps(cfg))
    (out / "metrics.json").unlink()
    m = pretrain_tower(_captioner(), data, demo_world, run, None)
    assert m["epochs_trained"] == 2
    hist = pd.read_csv(out / "history.csv")
    assert list(hist["epoch"]) == [0, 1]  # appended, not restarted


def test_tower_stopped_before_its_first_checkpoint_starts_again(demo_world, tmp_path):
    cfg = _captioner("features.pretrain_epochs=1")
    data = CaptionerTask().load_data(cfg, demo_world)
    run = tmp_path / "run"
    (run / TOWER_DIR).mkdir(parents=True)
    from mmvision.training import run_dir

    run_dir.write_config(run / TOWER_DIR, tagger_config(cfg))
    run_dir.write_info(
        run / TOWER_DIR, demo_world, vocab_fingerprint=data.vocab.fingerprint()
    )
    m = pretrain_tower(cfg, data, demo_world, run, None)
    assert m["epochs_trained"] == 1 and (run / TOWER_DIR / "model.keras").is_file()


def test_tagger_task_with_a_given_vocabulary(demo_world):
    from mmvision.data.vocabulary import Vocabulary

    vocab = Vocabulary.build(["red circle", "blue star"])
    data = ConceptTaggerTask(vocab=vocab).load_data(_smoke(), demo_world)
    assert data.vocab is vocab
    assert all(t.shape == (len(data.splits[s]), len(vocab))
               for s, t in data.targets.items())  # fmt: skip
