"""Captioning runs end to end on a small demo world: train, caption, evaluate,
resume, export (fresh process), and the bad inputs of issue 6."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmvision import captioning
from mmvision.configs.captioner import get_preset
from mmvision.data.text import Vocabulary

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def run_dir(demo_world, tmp_path_factory):
    out = tmp_path_factory.mktemp("cap") / "run"
    cfg = get_preset("demo_captioner_smoke")
    cfg.features.cache_dir = str(out.parent / "cache")
    metrics = captioning.train_captioner(cfg, demo_world, out, verbose=0)
    assert metrics["epochs_run"] == 2
    return out


def _images(demo_world, n=3):
    folder = demo_world / "flickr8k" / "Flicker8k_Dataset"
    return sorted(str(p) for p in folder.glob("*.jpg"))[:n]


def test_run_directory_contents(run_dir):
    for name in (
        "config.json", "model.keras", "vocab.txt", "history.csv", "metrics.json",
        "checkpoints/last.keras", "checkpoints/state.json", "learning_curve.png",
        "captions_test.jsonl", "captions_test.png",
    ):  # fmt: skip
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    keys = ("bleu1", "bleu4", "rouge_l", "cider_d", "greedy_bleu4")
    keys += ("nn_baseline_bleu4", "nn_baseline_cider_d", "best_val_loss")
    for key in keys:
        assert isinstance(metrics[key], float), key
    assert 0.0 <= metrics["bleu4"] <= metrics["bleu1"] <= 1.0
    cfg = json.loads((run_dir / "config.json").read_text())
    vocab = Vocabulary.load(run_dir / "vocab.txt")
    assert cfg["run"]["vocab_fingerprint"] == vocab.fingerprint()
    assert cfg["data"]["image_size"] == 32
    rows = [
        json.loads(x)
        for x in (run_dir / "captions_test.jsonl").read_text().splitlines()
    ]
    assert len(rows) == metrics["eval_images"] and {"id", "caption"} <= set(rows[0])
    assert len(captioning.read_history(run_dir)) == 2


def test_caption_images_with_bad_inputs(run_dir, demo_world, tmp_path):
    good = _images(demo_world)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    missing = tmp_path / "missing.jpg"
    paths = [good[0], str(bad), good[1], str(missing), good[2]]
    results = captioning.caption_images(run_dir, paths, beam=2)
    assert [r.path for r in results] == paths
    for r in (results[1], results[3]):
        assert r.caption is None and r.path in r.error
    ok = [r for r in results if r.error is None]
    assert len(ok) == 3 and all(isinstance(r.caption, str) for r in ok)
    # Greedy through caption_images equals greedy on the run's own features.
    run = captioning.CaptionerRun(run_dir)
    greedy = captioning.caption_images(run, good, beam=1)
    from mmvision.data import images

    px = np.stack(
        [
            images.resize_image(captioning._decode_file(p), (32, 32)).numpy()
            for p in good
        ]
    )
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
        captioning.CaptionerRun(copy)
    (copy / "vocab.txt").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(ValueError, match="does not match"):
        captioning.caption_images(copy, [])


def test_empty_caption_set_names_the_file(demo_world, tmp_path):
    src = demo_world / "flickr8k"
    dst = tmp_path / "flickr8k"
    shutil.copytree(src, dst)
    token = dst / "Flickr8k_text" / "Flickr8k.token.txt"
    lines = token.read_text().splitlines()
    token.write_text("\n".join(x.split("\t")[0] + "\t1 2 . a !" for x in lines) + "\n")
    cfg = get_preset("demo_captioner_smoke")
    with pytest.raises(ValueError, match="Flickr8k.token.txt"):
        captioning.train_captioner(cfg, tmp_path, tmp_path / "run", verbose=0)


def test_unknown_word_only_captions_name_the_file(demo_world):
    manifest, cap_file, _ = captioning.read_caption_manifest(demo_world)
    vocab = Vocabulary.build(["zebra giraffe"])
    with pytest.raises(ValueError, match="unknown to the vocabulary") as err:
        captioning.check_captions(manifest.iloc[:5], vocab, cap_file, "test")
    assert str(cap_file) in str(err.value)


def test_random_feature_tower_is_refused(demo_world, tmp_path):
    cfg = get_preset("demo_captioner").override("features.pretrain", "none")
    with pytest.raises(ValueError, match="features.source=<run directory>"):
        captioning.train_captioner(cfg, demo_world, tmp_path / "run", verbose=0)
    assert not (tmp_path / "run").exists()


def test_existing_run_needs_resume(run_dir, demo_world):
    with pytest.raises(ValueError, match="resume"):
        captioning.train_captioner(
            get_preset("demo_captioner_smoke"), demo_world, run_dir
        )


@pytest.mark.large
def test_resume_continues_from_checkpoint(run_dir, demo_world, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    cfg = get_preset("demo_captioner_smoke")
    cfg.features.cache_dir = str(run_dir.parent / "cache")
    cfg.train.epochs = 3
    cfg.train.evaluate = False
    captioning.train_captioner(cfg, demo_world, copy, resume=True, verbose=0)
    hist = captioning.read_history(copy)
    assert [h["epoch"] for h in hist] == [1, 2, 3]
    state = json.loads((copy / "checkpoints" / "state.json").read_text())
    assert state["epoch"] == 3
    other = get_preset("demo_captioner_smoke")
    other.model.units = 8
    with pytest.raises(ValueError, match="different config"):
        captioning.train_captioner(other, demo_world, copy, resume=True, verbose=0)


def test_export_round_trip_in_fresh_process(run_dir, demo_world, tmp_path):
    paths = _images(demo_world, 3)
    export = captioning.export_captioner(run_dir, tmp_path / "export")
    expected = [r.caption for r in captioning.caption_images(run_dir, paths, beam=2)]
    script = (
        "import json, sys\n"
        "import tensorflow as tf\n"
        "m = tf.saved_model.load(sys.argv[1])\n"
        "fn = m.signatures['serving_default']\n"
        "data = [open(p, 'rb').read() for p in sys.argv[2:]]\n"
        "out = fn(image_bytes=tf.constant(data))\n"
        "print(json.dumps([c.decode() for c in out['caption'].numpy()]))\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [sys.executable, "-c", script, str(export), *paths],
        capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got == expected


@pytest.mark.large
def test_feature_mode_run_refuses_a_changed_source(run_dir, demo_world, tmp_path):
    import keras

    source = tmp_path / "source"
    shutil.copytree(run_dir, source)
    cfg = get_preset("demo_captioner_smoke")
    cfg.features.end_to_end = False
    cfg.features.source = str(source)
    cfg.features.cache_dir = str(tmp_path / "cache")
    cfg.train.epochs = 1
    cfg.train.evaluate = False
    out = tmp_path / "feat_run"
    captioning.train_captioner(cfg, demo_world, out, verbose=0)
    res = captioning.caption_images(out, _images(demo_world, 2), beam=2)
    assert all(r.error is None for r in res)
    # Retrain (here: perturb) the source's tower: the run must not use it.
    model = keras.saving.load_model(source / "model.keras", compile=False)
    tower = model.get_layer("image_tower")
    tower.set_weights([w * 1.01 for w in tower.get_weights()])
    model.save(source / "model.keras")
    with pytest.raises(ValueError, match="stale"):
        captioning.CaptionerRun(out)


# ---------------------------------------------------------------------------
# The command line over the same run
# ---------------------------------------------------------------------------


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
