"""The captioner task end to end on a small demo world: presets, train,
history, caption, evaluate, resume, feature sources and their guards, the
command line and the export (loaded in a fresh process)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from mmvision import configs
from mmvision.configs import CaptionerConfig
from mmvision.data import caption_data as cd
from mmvision.data.vocabulary import Vocabulary
from mmvision.inference.captioner import CaptionerRun, caption_images
from mmvision.training import RunError, fit_task

SMOKE = "demo_captioner_smoke"


def _smoke(*overrides):
    return configs.apply_overrides(configs.get_preset("captioner", SMOKE), overrides)


@pytest.fixture(scope="module")
def run_dir(demo_world, tmp_path_factory):
    out = tmp_path_factory.mktemp("cap") / "run"
    cfg = _smoke(f"features.cache_dir={out.parent / 'cache'}")
    metrics = fit_task("captioner", cfg, demo_world, out)
    assert metrics["epochs_trained"] == 2
    return out


def _images(demo_world, n=3):
    folder = demo_world / "flickr8k" / "Flicker8k_Dataset"
    return sorted(str(p) for p in folder.glob("*.jpg"))[:n]


# ---------------------------------------------------------------------------
# Presets and configs
# ---------------------------------------------------------------------------


def test_presets_and_config_round_trip():
    for name in ("flickr8k_xception_lstm", "demo_captioner", "demo_captioner_e2e",
                 SMOKE):  # fmt: skip
        cfg = configs.get_preset("captioner", name)
        assert (cfg.task, cfg.preset) == ("captioner", name)
        assert configs.from_dict(CaptionerConfig, configs.to_dict(cfg)) == cfg
        assert configs.config_from_dict(configs.to_dict(cfg)) == cfg
    ref = configs.get_preset("captioner", "flickr8k_xception_lstm")
    assert (ref.features.tower, ref.data.image_size, ref.data.max_len) == (
        "xception",
        299,
        32,
    )
    assert (ref.model.units, ref.model.embed_dim) == (256, 256)
    with pytest.raises(ValueError, match="demo_captioner"):
        configs.get_preset("captioner", "nope")
    base = configs.get_preset("captioner", "demo_captioner")
    cfg = configs.apply_overrides(base, ["train.epochs=3"])
    assert cfg.train.epochs == 3 and base.train.epochs == 40  # a new config
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.train.epochs = 4
    cleared = configs.apply_overrides(cfg, ["features.source=none"])
    assert cleared.features.source is None
    with pytest.raises(ValueError, match="unknown key 'nope'"):
        configs.apply_overrides(cfg, ["train.nope=1"])
    with pytest.raises(ValueError, match="unknown keys .'bogus'"):
        configs.from_dict(CaptionerConfig, {"train": {"bogus": 1}})
    with pytest.raises(ValueError, match="train.epochs=many"):
        configs.apply_overrides(cfg, ["train.epochs=many"])
    assert _smoke().train.verbose == 0


# ---------------------------------------------------------------------------
# A trained run
# ---------------------------------------------------------------------------


def test_run_directory_contents(run_dir):
    for name in (
        "config.json", "run_info.json", "model.keras", "vocab.txt", "history.csv",
        "metrics.json", "checkpoints/last.keras", "checkpoints/state.json",
        "learning_curves.png", "captions_test.jsonl", "captions_test.png",
    ):  # fmt: skip
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    keys = ("bleu1", "bleu4", "rouge_l", "cider_d", "greedy_bleu4")
    keys += ("nn_baseline_bleu4", "nn_baseline_cider_d", "best_val_loss")
    for key in keys:
        assert isinstance(metrics[key], float), key
    assert 0.0 <= metrics["bleu4"] <= metrics["bleu1"] <= 1.0
    cfg = json.loads((run_dir / "config.json").read_text())
    assert (cfg["task"], cfg["preset"]) == ("captioner", SMOKE)
    assert cfg["data"]["image_size"] == 32 and "run" not in cfg
    info = json.loads((run_dir / "run_info.json").read_text())
    vocab = Vocabulary.load(run_dir / "vocab.txt")
    assert info["vocab_fingerprint"] == vocab.fingerprint()
    assert info["feature_source"] == "end_to_end" and info["image_size"] == 32
    assert info["caption_file"].endswith("Flickr8k.token.txt")
    rows = [
        json.loads(x)
        for x in (run_dir / "captions_test.jsonl").read_text().splitlines()
    ]
    assert len(rows) == metrics["eval_images"] and {"id", "caption"} <= set(rows[0])
    assert len(pd.read_csv(run_dir / "history.csv")) == 2


def test_history_has_next_word_accuracy(run_dir):
    hist = pd.read_csv(run_dir / "history.csv")
    assert list(hist["epoch"]) == [0, 1]
    for col in ("loss", "val_loss", "accuracy", "val_accuracy", "learning_rate",
                "seconds"):  # fmt: skip
        assert col in hist.columns, col
    for col in ("accuracy", "val_accuracy"):
        assert hist[col].between(0.0, 1.0).all(), hist[col].tolist()
        assert hist[col].iloc[-1] > 0.0  # "a", "the" ... are learnt at once


def test_caption_images_with_bad_inputs(run_dir, demo_world, tmp_path):
    from mmvision.data import images

    good = _images(demo_world)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    missing = tmp_path / "missing.jpg"
    paths = [good[0], str(bad), good[1], str(missing), good[2]]
    results = caption_images(run_dir, paths, beam=2)
    assert [r.path for r in results] == paths
    for r in (results[1], results[3]):
        assert r.caption is None and r.path in r.error
    ok = [r for r in results if r.error is None]
    assert len(ok) == 3 and all(isinstance(r.caption, str) for r in ok)
    # Greedy through caption_images equals greedy on the run's own features.
    run = CaptionerRun(run_dir)
    greedy = caption_images(run, good, beam=1)
    px = np.stack([images.file_to_pixels(p, 32) for p in good])
    assert [r.caption for r in greedy] == run.caption_features(
        run.image_features(px), beam=1
    )


def test_vocabulary_mismatch_is_refused(run_dir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    lines = (copy / "vocab.txt").read_text().splitlines()
    lines[4], lines[5] = lines[5], lines[4]
    (copy / "vocab.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match="does not match"):
        CaptionerRun(copy)
    (copy / "vocab.txt").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(ValueError, match="does not match"):
        caption_images(copy, [])


def test_existing_run_needs_resume(run_dir, demo_world):
    with pytest.raises(RunError, match="resume"):
        fit_task("captioner", _smoke(), demo_world, run_dir)


@pytest.mark.large
def test_resume_continues_from_checkpoint(run_dir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    cfg = _smoke(
        f"features.cache_dir={run_dir.parent / 'cache'}", "train.epochs=3",
        "train.evaluate=false", "decode.beam=3",
    )  # fmt: skip
    fit_task("captioner", cfg, None, copy, resume=True)  # the run's data_dir
    hist = pd.read_csv(copy / "history.csv")
    assert list(hist["epoch"]) == [0, 1, 2]
    assert hist["val_accuracy"].between(0.0, 1.0).all()
    state = json.loads((copy / "checkpoints" / "state.json").read_text())
    assert state["epoch"] == 3
    stored = json.loads((copy / "config.json").read_text())
    assert (stored["train"]["epochs"], stored["decode"]["beam"]) == (3, 3)
    with pytest.raises(RunError, match="model.units"):
        fit_task("captioner", _smoke("model.units=8"), None, copy, resume=True)


# ---------------------------------------------------------------------------
# Bad data and bad feature settings
# ---------------------------------------------------------------------------


def test_empty_caption_set_names_the_file(demo_world, tmp_path):
    src = demo_world / "flickr8k"
    dst = tmp_path / "flickr8k"
    shutil.copytree(src, dst)
    token = dst / "Flickr8k_text" / "Flickr8k.token.txt"
    lines = token.read_text().splitlines()
    token.write_text("\n".join(x.split("\t")[0] + "\t1 2 . a !" for x in lines) + "\n")
    with pytest.raises(ValueError, match="Flickr8k.token.txt"):
        fit_task("captioner", _smoke(), tmp_path, tmp_path / "run")


def test_unknown_word_only_captions_name_the_file(demo_world):
    manifest, cap_file, _ = cd.read_caption_manifest(demo_world)
    vocab = Vocabulary.build(["zebra giraffe"])
    with pytest.raises(ValueError, match="unknown to the vocabulary") as err:
        cd.check_captions(manifest.iloc[:5], vocab, cap_file, "test")
    assert str(cap_file) in str(err.value)
    assert cd.caption_file(demo_world) == cap_file


def test_random_feature_tower_is_refused(demo_world, tmp_path):
    cfg = _smoke("features.end_to_end=false")  # small_cnn, weights=None
    with pytest.raises(ValueError, match="features.source=<run directory>"):
        fit_task("captioner", cfg, demo_world, tmp_path / "run")
    assert not (tmp_path / "run" / "config.json").exists()


def _pretrain(*overrides):
    return _smoke(
        "features.end_to_end=false", "features.pretrain=concepts",
        "features.pretrain_epochs=1", "features.pretrain_augment=none", *overrides,
    )  # fmt: skip


@pytest.mark.parametrize(
    "overrides, match",
    [
        (["features.pretrain=imagenet21k"], "features.pretrain"),
        (["features.source=/somewhere"], "excludes features.source"),
        (["features.end_to_end=true"], "excludes"),
        (["features.pretrain=none"], "random tower"),
    ],
)
def test_bad_pretrain_settings(demo_world, tmp_path, overrides, match):
    with pytest.raises(ValueError, match=match):
        fit_task("captioner", _pretrain(*overrides), demo_world, tmp_path / "run")
    assert not (tmp_path / "run" / "config.json").exists()


def test_captioner_pretrains_its_tower_and_guards_it(demo_world, tmp_path):
    import keras

    from mmvision.inference.features import weights_fingerprint

    cfg = _pretrain("train.epochs=1", f"features.cache_dir={tmp_path / 'cache'}")
    out = tmp_path / "run"
    metrics = fit_task("captioner", cfg, demo_world, out)
    assert (out / "tower" / "model.keras").is_file() and "bleu4" in metrics
    run = CaptionerRun(out)
    info = json.loads((out / "run_info.json").read_text())
    assert info["feature_source"] == "tower"
    assert info["feature_fingerprint"] == weights_fingerprint(run.tower)
    assert info["feature_dim"] == 128
    assert info["tower_metrics"]["epochs_trained"] == 1
    tower_cfg = json.loads((out / "tower" / "config.json").read_text())
    assert tower_cfg["task"] == "concept_tagger"
    # A retrained (here: perturbed) tower is never served with stale features.
    model = keras.saving.load_model(out / "tower" / "model.keras", compile=False)
    t = model.get_layer("image_tower")
    t.set_weights([w * 1.01 for w in t.get_weights()])
    model.save(out / "tower" / "model.keras")
    with pytest.raises(ValueError, match="stale"):
        CaptionerRun(out)


@pytest.mark.large
def test_feature_mode_run_refuses_a_changed_source(run_dir, demo_world, tmp_path):
    import keras

    source = tmp_path / "source"
    shutil.copytree(run_dir, source)
    cfg = _smoke(
        "features.end_to_end=false", f"features.source={source}",
        f"features.cache_dir={tmp_path / 'cache'}", "train.epochs=1",
        "train.evaluate=false",
    )  # fmt: skip
    out = tmp_path / "feat_run"
    fit_task("captioner", cfg, demo_world, out)
    info = json.loads((out / "run_info.json").read_text())
    assert info["feature_source"] == str(source) and info["feature_dim"] == 128
    res = caption_images(out, _images(demo_world, 2), beam=2)
    assert all(r.error is None for r in res)
    # Retrain (here: perturb) the source's tower: the run must not use it.
    model = keras.saving.load_model(source / "model.keras", compile=False)
    tower = model.get_layer("image_tower")
    tower.set_weights([w * 1.01 for w in tower.get_weights()])
    model.save(source / "model.keras")
    with pytest.raises(ValueError, match="stale"):
        CaptionerRun(out)


# ---------------------------------------------------------------------------
# Evaluation, the command line and the export over the same run
# ---------------------------------------------------------------------------


def test_evaluate_run_scores_another_split(run_dir):
    from mmvision.training import evaluate_run

    res = evaluate_run(run_dir, split="val")
    assert 0.0 <= res["bleu4"] <= res["bleu1"] <= 1.0 and res["eval_images"] > 0
    assert (run_dir / "captions_val.jsonl").is_file()
    assert (run_dir / "captions_val.png").is_file()


def test_cli_caption_names_a_bad_image_and_counts_skips(
    run_dir, demo_world, tmp_path, capsys
):
    from mmvision import cli

    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg at all")
    assert cli.main(["caption", str(run_dir), str(bad)]) == 2
    assert "broken.jpg" in capsys.readouterr().err
    good = _images(demo_world, 2)
    assert (
        cli.main(["caption", str(run_dir), *map(str, good), str(bad), "--beam", "2"])
        == 0
    )
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert len(lines) == 2 and all(
        "\t" in line and line.split("\t")[1] for line in lines
    )
    assert "1 of 3 images skipped" in captured.err


def test_cli_evaluate_and_export_dispatch_to_the_captioner(run_dir, tmp_path, capsys):
    from mmvision import cli

    assert cli.main(["evaluate", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "bleu4" in out and "BLEU" in out
    assert cli.main(["export", str(run_dir), "--out", str(tmp_path / "exp")]) == 0
    assert (tmp_path / "exp" / "saved_model.pb").exists()


def test_export_round_trip_in_fresh_process(run_dir, demo_world, tmp_path):
    from mmvision.export import export_captioner

    paths = _images(demo_world, 3)
    export = export_captioner(run_dir, tmp_path / "export")
    assert (export / "vocab.txt").is_file()
    expected = [r.caption for r in caption_images(run_dir, paths, beam=2)]
    script = (
        "import json, sys\n"
        "import tensorflow as tf\n"
        "m = tf.saved_model.load(sys.argv[1])\n"
        "fn = m.signatures['serving_default']\n"
        "data = [open(p, 'rb').read() for p in sys.argv[2:]]\n"
        "out = fn(image_bytes=tf.constant(data))\n"
        "print(json.dumps([c.decode() for c in out['caption'].numpy()]))\n"
        "mods = sorted(k for k in sys.modules if k.startswith('mmvision'))\n"
        "print(json.dumps(mods))\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [sys.executable, "-c", script, str(export), *paths],
        capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    *_, caps, modules = proc.stdout.strip().splitlines()
    assert json.loads(caps) == expected
    assert json.loads(modules) == []  # served without the library
