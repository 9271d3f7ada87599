"""Feature cache (keyed by tower weights fingerprint and image id; reused; atomic)
and feature sources: tower names, run directories, the captioner's choice."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from mmvision.data import sources
from mmvision.data.images import PipelineStats
from mmvision.inference.features import (
    FeatureCache,
    extract_features,
    load_feature_source,
    weights_fingerprint,
)
from mmvision.models import image_towers


@pytest.fixture(scope="module")
def manifest(demo_world):
    m, _, _ = sources.read("flickr8k", str(demo_world / "flickr8k"))
    return m.iloc[:24].reset_index(drop=True)


def _tower(seed=0):
    keras.utils.set_random_seed(seed)
    return image_towers.get("small_cnn", (32, 32, 3), name="image_tower")


def test_fingerprint_follows_weights():
    a, b = _tower(0), _tower(0)
    assert weights_fingerprint(a) == weights_fingerprint(b)
    c = _tower(1)
    assert weights_fingerprint(c) != weights_fingerprint(a)
    w = b.get_weights()
    w[-1] = w[-1] + 1e-3  # a BatchNorm statistic counts too
    b.set_weights(w)
    assert weights_fingerprint(b) != weights_fingerprint(a)


def test_extract_matches_direct_tower_call(manifest):
    import tensorflow as tf

    from mmvision.data.images import decode_image

    tower = _tower()
    ids, feats = extract_features(manifest.iloc[:4], tower, 32, batch_size=3)
    assert ids == list(manifest["id"].iloc[:4])
    imgs = np.stack(
        [
            decode_image(tf.io.read_file(p)).numpy().astype("float32")
            for p in manifest["image_path"].iloc[:4]
        ]
    )
    np.testing.assert_allclose(feats, tower(imgs, training=False).numpy(), atol=1e-4)


def test_cache_reuses_and_invalidates(tmp_path, manifest):
    cache = FeatureCache(tmp_path / "cache")
    tower = _tower()
    first = cache.get(manifest, tower, "small_cnn", 32, batch_size=8)
    assert cache.last_report["computed"] == len(manifest)
    assert cache.last_report["reused"] == 0
    key = cache.last_report["key"]
    assert weights_fingerprint(tower) in key
    again = cache.get(manifest, tower, "small_cnn", 32)
    assert cache.last_report["computed"] == 0
    assert cache.last_report["reused"] == len(manifest)
    for i in first:
        np.testing.assert_array_equal(first[i], again[i])
    # A new cache object on the same directory (another process) reuses it.
    other = FeatureCache(tmp_path / "cache")
    other.get(manifest.iloc[:5], tower, "small_cnn", 32)
    assert other.last_report["reused"] == 5 and other.last_report["computed"] == 0
    # Changed weights: another key, recomputed, different values.
    w = tower.get_weights()
    w[0] = w[0] * 1.5
    tower.set_weights(w)
    changed = cache.get(manifest, tower, "small_cnn", 32)
    assert cache.last_report["key"] != key
    assert cache.last_report["computed"] == len(manifest)
    i = manifest["id"].iloc[0]
    assert not np.allclose(changed[i], first[i])
    meta = json.loads((tmp_path / "cache" / key / "meta.json").read_text())
    assert meta["n_images"] == len(manifest) and meta["feature_dim"] == 128
    # No temporary files left behind by the atomic writes.
    leftovers = [p for p in (tmp_path / "cache").rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_cache_computes_only_missing_ids(tmp_path, manifest):
    cache = FeatureCache(tmp_path)
    tower = _tower()
    cache.get(manifest.iloc[:10], tower, "small_cnn", 32)
    out = cache.get(manifest, tower, "small_cnn", 32)
    assert cache.last_report["reused"] == 10
    assert cache.last_report["computed"] == len(manifest) - 10
    assert len(out) == len(manifest)


def test_bad_image_is_a_counted_skip(tmp_path, manifest):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg at all")
    m = manifest.iloc[:3].copy()
    m.loc[m.index[1], "image_path"] = str(bad)
    stats = PipelineStats()
    cache = FeatureCache(tmp_path / "c")
    out = cache.get(m, _tower(), "small_cnn", 32, stats=stats)
    assert len(out) == 2 and m["id"].iloc[1] not in out
    assert cache.last_report["skipped"] == 1
    assert stats.n_skipped == 1
    assert any("bad.jpg" in e for ex in stats.examples.values() for e in ex)


def test_damaged_cache_file_is_recomputed(tmp_path, manifest):
    cache = FeatureCache(tmp_path)
    tower = _tower()
    cache.get(manifest.iloc[:4], tower, "small_cnn", 32)
    cache.path(cache.last_report["key"]).write_bytes(b"garbage")
    out = cache.get(manifest.iloc[:4], tower, "small_cnn", 32)
    assert cache.last_report["computed"] == 4 and len(out) == 4


def _classifier_run(path, size=32):
    """A run directory in the classifier's format: model.keras and config.json."""
    tower = image_towers.get("small_cnn", (size, size, 3), name="image_tower")
    inp = keras.Input((size, size, 3), name="image")
    out = keras.layers.Dense(48, activation="softmax", name="head")(tower(inp))
    model = keras.Model(inp, out)
    path.mkdir()
    model.save(path / "model.keras")
    (path / "config.json").write_text(json.dumps({"data": {"image_size": size}}))
    return model


def test_run_directory_is_a_feature_source(tmp_path, manifest):
    model = _classifier_run(tmp_path / "run")
    tower, size, name = load_feature_source(tmp_path / "run")
    assert size == 32 and name == "run:run"
    assert weights_fingerprint(tower) == weights_fingerprint(
        model.get_layer("image_tower")
    )
    with pytest.raises(ValueError, match="trained at 32 px"):
        load_feature_source(tmp_path / "run", image_size=64)


def test_bad_feature_sources(tmp_path):
    with pytest.raises(ValueError, match="small_cnn"):
        load_feature_source("not_a_tower", image_size=32)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="model.keras"):
        load_feature_source(tmp_path / "empty")
    inp = keras.Input((8,))
    m = keras.Model(inp, keras.layers.Dense(2)(inp))
    (tmp_path / "notower").mkdir()
    m.save(tmp_path / "notower" / "model.keras")
    with pytest.raises(ValueError, match="image_tower"):
        load_feature_source(tmp_path / "notower")
    tower, size, name = load_feature_source("small_cnn", image_size=32)
    assert (size, name, tower.output_shape[-1]) == (32, "small_cnn", 128)


def test_captioner_feature_tower_follows_the_config(tmp_path, manifest):
    import shutil

    from mmvision import configs
    from mmvision.inference.features import (
        TOWER_DIR,
        cached_features,
        captioner_feature_tower,
    )

    smoke = configs.get_preset("captioner", "demo_captioner_smoke")
    model = _classifier_run(tmp_path / "src")
    cfg = configs.apply_overrides(
        smoke, ["features.end_to_end=false", f"features.source={tmp_path / 'src'}",
                f"features.cache_dir={tmp_path / 'cache'}"],
    )  # fmt: skip
    tower, size, name = captioner_feature_tower(cfg, tmp_path / "run")
    assert (size, name) == (32, "run:src")
    assert weights_fingerprint(tower) == weights_fingerprint(
        model.get_layer("image_tower")
    )
    feats, report = cached_features(cfg, manifest.iloc[:6], tower, name, size)
    assert len(feats) == 6 and report["computed"] == 6
    assert report["skipped_reasons"] == {}
    assert (tmp_path / "cache" / report["key"] / "features.npz").is_file()
    _, again = cached_features(cfg, manifest.iloc[:6], tower, name, size)
    assert (again["reused"], again["computed"]) == (6, 0)
    # features.pretrain=concepts: the run's own tower/ directory.
    shutil.copytree(tmp_path / "src", tmp_path / "run" / TOWER_DIR)
    own = configs.apply_overrides(
        smoke, ["features.end_to_end=false", "features.pretrain=concepts"]
    )
    _, size, name = captioner_feature_tower(own, tmp_path / "run")
    assert (size, name) == (32, f"run:{TOWER_DIR}")
    # Otherwise a tower name with its weights, at data.image_size.
    named = configs.apply_overrides(smoke, ["features.end_to_end=false"])
    tower, size, name = captioner_feature_tower(named, tmp_path / "run")
    assert (size, name, tower.output_shape[-1]) == (32, "small_cnn", 128)


def test_copy_of_run_tower_takes_its_weights(tmp_path):
    from mmvision.inference.towers import copy_of_run_tower, tower_from_run

    model = _classifier_run(tmp_path / "run")
    theirs = model.get_layer("image_tower").get_weights()
    copy = copy_of_run_tower("small_cnn", 32, tmp_path / "run")
    assert copy.name == "image_tower"
    for a, b in zip(copy.get_weights(), theirs):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="weight shapes differ"):
        copy_of_run_tower("small_resnet", 32, tmp_path / "run")
    with pytest.raises(ValueError, match="trained at 32 px"):
        tower_from_run(tmp_path / "run", image_size=48)
