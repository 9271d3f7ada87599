"""Beam feature extraction (RunInference, multi-process DirectRunner) gives
the same vectors as the in-process feature cache; bad images are counted."""

import keras
import numpy as np
import pandas as pd
import pytest

from data_pipelines.extract_features import extract, main, read_features
from mmvision.data.sources import folders
from mmvision.inference.features import FeatureCache

pytestmark = pytest.mark.large


@pytest.fixture(scope="module")
def manifest(demo_world, tmp_path_factory):
    m = folders(demo_world / "folders")[0]
    m = m.iloc[:60].reset_index(drop=True)
    d = tmp_path_factory.mktemp("features")
    bad = d / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    extra = m.iloc[:1].copy()
    extra["id"], extra["image_path"] = "broken", str(bad)
    full = pd.concat([m, extra], ignore_index=True)
    path = d / "manifest.parquet"
    full[["id", "image_path"]].to_parquet(path)
    return m, path


def test_runinference_matches_the_feature_cache(manifest, tmp_path):
    m, path = manifest
    out = tmp_path / "feats"
    meta = extract(
        str(path), str(out), "small_cnn", image_size=32, num_shards=3,
        direct_num_workers=2, direct_running_mode="multi_processing",
    )  # fmt: skip
    assert meta["written"] == len(m)
    assert sum(meta["skipped"].values()) == 1  # broken.jpg, counted by reason
    got = read_features(out)
    assert set(got) == set(m["id"])
    tower = keras.saving.load_model(out / "model.keras")
    want = FeatureCache(tmp_path / "cache").get(m, tower, "small_cnn", 32)
    for i in m["id"]:
        np.testing.assert_allclose(got[i], want[i], atol=1e-5, rtol=0)
    assert len(list(out.glob("features-*-of-00003.npz"))) == 3


def test_cli_and_bad_arguments(manifest, tmp_path):
    _, path = manifest
    with pytest.raises(ValueError, match="no manifest file matches"):
        extract(str(tmp_path / "no-*.parquet"), str(tmp_path / "o"), "small_cnn", 32)
    code = main([str(path), str(tmp_path / "cli"), "--source", "small_cnn",
                 "--image-size", "32", "--num-shards", "1",
                 "--direct-running-mode", "in_memory"])  # fmt: skip
    assert code == 0 and len(read_features(tmp_path / "cli")) == 60
