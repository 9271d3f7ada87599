"""mmvision.concepts: caption-word targets, the concept tower and its runs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mmvision import captioning, concepts
from mmvision.configs.captioner import get_preset
from mmvision.data.text import Vocabulary
from mmvision.features import load_feature_source, weights_fingerprint


def test_word_targets_are_caption_shares():
    vocab = Vocabulary.build(["red circle", "red disc", "blue star"])
    t = concepts.word_targets(
        [["A red circle .", "red disc on the left", "a RED red dot"], [], None],
        vocab,
    )
    assert t.shape == (3, len(vocab)) and t.dtype == np.float32
    row = dict(zip(vocab.tokens, t[0]))
    # "red" is in all three captions (counted once per caption), "circle" in one.
    assert row["red"] == pytest.approx(1.0)
    assert row["circle"] == row["disc"] == pytest.approx(1 / 3)
    assert row["blue"] == 0.0
    assert not t[0, :4].any()  # padding, [UNK] ("the", "dot"...), start, end
    assert not t[1:].any()  # images without captions: zero rows


def test_word_map_matches_sklearn_and_skips_constant_words():
    from sklearn.metrics import average_precision_score

    targets = np.array([[1.0, 0.0, 0.5], [0.0, 0.0, 1.0], [0.2, 0.0, 0.0]])
    scores = np.array([[0.9, 0.3, 0.2], [0.1, 0.2, 0.8], [0.4, 0.1, 0.6]])
    want = np.mean(
        [average_precision_score(targets[:, j] > 0, scores[:, j]) for j in (0, 2)]
    )
    assert concepts.word_map(targets, scores) == pytest.approx(want)
    assert np.isnan(concepts.word_map(np.zeros((3, 2)), scores[:, :2]))


def test_concept_model_shapes_and_round_trip(tmp_path):
    import keras

    from mmvision.models import image_towers

    tower = image_towers.get("small_cnn", (32, 32, 3))
    model = concepts.build_concept_model(tower, 9)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    y = np.asarray(model({"image": x}))
    assert y.shape == (2, 9) and (y > 0).all() and (y < 1).all()
    assert model.get_layer("image_tower") is tower
    model.save(tmp_path / "m.keras")
    back = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(np.asarray(back({"image": x})), y, atol=1e-6)


def _kwargs(**kw):
    base = dict(tower="small_cnn", image_size=32, epochs=2, batch_size=32,
                augment="dihedral", verbose=0)  # fmt: skip
    return {**base, **kw}


@pytest.fixture(scope="module")
def tower_run(demo_world, tmp_path_factory):
    manifest, _, _ = captioning.read_caption_manifest(demo_world)
    tr = manifest[manifest["split"] == "train"]
    vocab = Vocabulary.build(tr["captions"])
    out = tmp_path_factory.mktemp("concepts") / "tower"
    metrics = concepts.train_concept_tower(manifest, vocab, out, **_kwargs())
    return manifest, vocab, out, metrics


def test_tower_run_is_a_feature_source(tower_run):
    manifest, vocab, out, metrics = tower_run
    for name in ("model.keras", "config.json", "history.csv", "metrics.json",
                 "checkpoints/last.keras", "checkpoints/state.json"):  # fmt: skip
        assert (out / name).is_file(), name
    assert metrics["epochs_trained"] == 2 and 0.0 < metrics["test_word_map"] <= 1.0
    hist = pd.read_csv(out / "history.csv")
    assert list(hist["epoch"]) == [0, 1] and hist["learning_rate"].iloc[-1] < 1e-6
    tower, size, _ = load_feature_source(out)
    assert size == 32 and tower.output_shape == (None, 128)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["vocab_fingerprint"] == vocab.fingerprint()


def test_finished_tower_is_reused_and_other_settings_refused(tower_run):
    manifest, vocab, out, metrics = tower_run
    before = (out / "history.csv").read_text()
    again = concepts.train_concept_tower(manifest, vocab, out, **_kwargs())
    assert again == metrics and (out / "history.csv").read_text() == before
    with pytest.raises(ValueError, match="config.json"):
        concepts.train_concept_tower(manifest, vocab, out, **_kwargs(epochs=3))
    other = Vocabulary.build(["zebra giraffe"])
    with pytest.raises(ValueError, match="another vocabulary"):
        concepts.train_concept_tower(manifest, other, out, **_kwargs())


def test_interrupted_tower_continues_from_its_checkpoint(tower_run, tmp_path):
    import shutil

    manifest, vocab, out, _ = tower_run
    part = tmp_path / "tower"
    concepts.train_concept_tower(manifest, vocab, part, **_kwargs(epochs=1))
    # Pretend the 2-epoch run stopped after epoch 1: same settings, one left.
    cfg = json.loads((part / "config.json").read_text())
    cfg["train"]["epochs"] = 2
    (part / "config.json").write_text(json.dumps(cfg))
    (part / "metrics.json").unlink()
    shutil.copy(part / "history.csv", tmp_path / "h1.csv")
    m = concepts.train_concept_tower(manifest, vocab, part, **_kwargs(epochs=2))
    assert m["epochs_trained"] == 2
    hist = pd.read_csv(part / "history.csv")
    assert list(hist["epoch"]) == [0, 1]  # appended, not restarted


def test_captioner_pretrains_its_tower_and_guards_it(demo_world, tmp_path):
    import keras

    cfg = get_preset("demo_captioner")
    for key, value in {
        "data.image_size": "32", "data.max_len": "16", "model.units": "32",
        "model.embed_dim": "32", "features.tower": "small_cnn",
        "features.pretrain_epochs": "1", "train.epochs": "1",
        "features.cache_dir": str(tmp_path / "cache"),
    }.items():  # fmt: skip
        cfg.override(key, value)
    out = tmp_path / "run"
    metrics = captioning.train_captioner(cfg, demo_world, out, verbose=0)
    assert (out / "tower" / "model.keras").is_file() and "bleu4" in metrics
    run = captioning.CaptionerRun(out)
    info = json.loads((out / "config.json").read_text())["run"]
    assert info["feature_source"] == "tower"
    assert info["feature_fingerprint"] == weights_fingerprint(run.tower)
    # A retrained (here: perturbed) tower is never served with stale features.
    model = keras.saving.load_model(out / "tower" / "model.keras", compile=False)
    t = model.get_layer("image_tower")
    t.set_weights([w * 1.01 for w in t.get_weights()])
    model.save(out / "tower" / "model.keras")
    with pytest.raises(ValueError, match="stale"):
        captioning.CaptionerRun(out)


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"features.pretrain": "imagenet21k"}, "features.pretrain"),
        ({"features.source": "/somewhere"}, "excludes features.source"),
        ({"features.end_to_end": "true"}, "excludes"),
        ({"features.pretrain": "none"}, "random tower"),
    ],
)
def test_bad_pretrain_settings(demo_world, tmp_path, overrides, match):
    cfg = get_preset("demo_captioner")
    for k, v in overrides.items():
        cfg.override(k, v)
    with pytest.raises(ValueError, match=match):
        captioning.train_captioner(cfg, demo_world, tmp_path / "run", verbose=0)
