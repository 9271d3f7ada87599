"""mmvision.data.images: robust decode, EXIF, resize, normalise (eager and in map)."""

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageOps

from mmvision.data import images
from tests.badfiles import OK, _pattern, bad, build_bad_corpus, good


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_bad_corpus(tmp_path_factory.mktemp("bad"))


def _mae(a, b):
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).mean())


def test_good_files_decode_eagerly_and_in_map(corpus):
    files = good(corpus)
    ds = tf.data.Dataset.from_tensor_slices([f.path for f in files])
    mapped = list(ds.map(lambda p: images.decode_image(tf.io.read_file(p))))
    for f, in_map in zip(files, mapped):
        eager = images.decode_image(tf.io.read_file(f.path)).numpy()
        assert eager.dtype == np.uint8 and eager.shape == f.expected.shape, f.name
        assert _mae(eager, f.expected) <= f.tol, f.name
        np.testing.assert_array_equal(in_map.numpy(), eager)
        # The Pillow fallback follows the same rules.
        via_pil = images.load_image_py(f.path)
        assert via_pil.shape == f.expected.shape and _mae(via_pil, f.expected) <= f.tol


def test_bad_files_raise_named_errors_in_python(corpus):
    for f in bad(corpus):
        with pytest.raises(images.ImageDecodeError) as e:
            images.load_image_py(f.path)
        assert e.value.reason == f.expect and f.path in str(e.value)


def _exif_jpeg(arr, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG" if orientation is None else "JPEG")
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=95, exif=exif.tobytes())
    return buf.getvalue()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(orientation):
    arr = np.zeros((6, 10, 3), np.uint8)
    arr[:2, :3] = 255  # a bright corner makes every transpose distinct
    arr[:, :, 1] = np.arange(10, dtype=np.uint8)[None] * 20
    data = _exif_jpeg(arr, orientation)
    assert int(images.exif_orientation(data)) == orientation
    in_map = next(
        iter(
            tf.data.Dataset.from_tensors(data).map(
                lambda b: (images.exif_orientation(b), images.decode_image(b))
            )
        )
    )
    assert int(in_map[0]) == orientation
    want = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))))
    got = images.decode_image(data).numpy()
    assert got.shape == want.shape
    assert _mae(got, want) < 3.0
    np.testing.assert_array_equal(in_map[1].numpy(), got)
    raw = images.decode_image(data, apply_exif=False).numpy()
    assert raw.shape == arr.shape


def test_exif_orientation_absent_or_not_jpeg_is_one():
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "PNG")
    assert int(images.exif_orientation(buf.getvalue())) == 1
    assert int(images.exif_orientation(b"")) == 1
    assert int(images.exif_orientation(b"\xff\xd8Exif\x00\x00MM")) == 1


def test_load_image_dataset_skips_and_counts(corpus):
    stats = images.PipelineStats()
    ds = tf.data.Dataset.from_tensor_slices({"image_path": [f.path for f in corpus]})
    out = list(images.load_image_dataset(ds, stats=stats, deterministic=True))
    kept = [e["image_path"].numpy().decode() for e in out]
    assert kept == [f.path for f in good(corpus)]  # order kept
    want = {}
    for f in bad(corpus):
        want[f.expect] = want.get(f.expect, 0) + 1
    assert dict(stats.skipped) == want
    assert any("dangling.jpg" in x for x in stats.examples["missing_file"])
    for e, f in zip(out, good(corpus)):
        assert _mae(e["image"].numpy(), f.expected) <= f.tol


def test_load_image_dataset_min_side_counts_too_small(corpus):
    stats = images.PipelineStats()
    files = [f.path for f in corpus if f.name in ("tiny_1x1.png", "good.png")]
    ds = tf.data.Dataset.from_tensor_slices({"image_path": files})
    out = list(images.load_image_dataset(ds, stats=stats, min_side=4))
    assert len(out) == 1 and dict(stats.skipped) == {"too_small": 1}


def test_load_image_dataset_strict_names_the_file(corpus):
    f = next(f for f in corpus if f.name == "text.jpg")
    ds = tf.data.Dataset.from_tensor_slices({"image_path": [f.path]})
    with pytest.raises(Exception, match="text.jpg"):
        list(images.load_image_dataset(ds, strict=True))


def test_load_image_dataset_from_bytes(corpus):
    data = [
        open(f.path, "rb").read() for f in corpus if f.name in ("good.png", "zero.jpg")
    ]
    ds = tf.data.Dataset.from_tensor_slices({"bytes": data, "id": ["a", "b"]})
    stats = images.PipelineStats()
    out = list(images.load_image_dataset(ds, bytes_key="bytes", stats=stats))
    assert [e["id"].numpy() for e in out] == [b"a"]
    assert dict(stats.skipped) == {"empty_file": 1}


def _run(fn, x):
    eager = fn(tf.constant(x)).numpy()
    mapped = next(iter(tf.data.Dataset.from_tensors(x).map(fn))).numpy()
    return eager, mapped


def test_resize_none_center_random_eager_and_map():
    img = np.zeros((20, 40, 3), np.uint8)
    img[:, 10:30] = 200  # the central square
    e, m = _run(lambda x: images.resize_image(x, (8, 8), "none"), img)
    np.testing.assert_allclose(e, m)
    assert e.shape == (8, 8, 3) and e.dtype == np.float32
    e, m = _run(lambda x: images.resize_image(x, 10, "center"), img)
    np.testing.assert_allclose(e, m)
    np.testing.assert_allclose(e, 200.0)  # central crop is the square
    seed = tf.constant([3, 4])
    e, m = _run(lambda x: images.resize_image(x, 10, "random", seed=seed), img)
    np.testing.assert_allclose(e, m)
    assert e.shape == (10, 10, 3)
    same = np.full((8, 8, 3), 7, np.uint8)
    np.testing.assert_array_equal(images.resize_image(same, 8).numpy(), same)
    with pytest.raises(ValueError, match="center"):
        images.resize_image(img, 8, "middle")


def test_resize_py_matches_tf_center_crop():
    img = _pattern(30, 50)  # smooth: PIL antialiases when shrinking, TF does not
    py = images.resize_py(img, (10, 10), "center")
    assert py.shape == (10, 10, 3)
    tf_img = images.resize_image(img, (10, 10), "center").numpy()
    assert _mae(py, tf_img) < 4  # different bilinear kernels, same geometry


@pytest.mark.parametrize("mode", images.NORMALIZATIONS)
def test_normalize_eager_and_map(mode):
    x = np.array([[[0, 127.5, 255]]], np.float32)
    mean, std = [10.0, 20.0, 30.0], [2.0, 4.0, 5.0]
    e, m = _run(lambda t: images.normalize_image(t, mode, mean, std), x)
    want = {
        "raw": x,
        "unit": x / 255,
        "symmetric": x / 127.5 - 1,
        "standardize": (x - np.array(mean)) / np.array(std),
    }[mode]
    np.testing.assert_allclose(e, want, rtol=1e-6)
    np.testing.assert_allclose(m, e)


def test_normalize_errors():
    with pytest.raises(ValueError, match="symmetric"):
        images.normalize_image(np.zeros((1, 1, 3)), "zscore")
    with pytest.raises(ValueError, match="mean and std"):
        images.normalize_image(np.zeros((1, 1, 3)), "standardize")


def test_compute_mean_std_matches_numpy():
    rng = np.random.default_rng(1)
    batches = [rng.random((4, 5, 5, 3)) * 255 for _ in range(3)]
    mean, std = images.compute_mean_std(batches)
    allpix = np.concatenate([b.reshape(-1, 3) for b in batches])
    np.testing.assert_allclose(mean, allpix.mean(0))
    np.testing.assert_allclose(std, allpix.std(0), rtol=1e-6)
    with pytest.raises(ValueError):
        images.compute_mean_std([])


def test_corpus_describes_itself(corpus):
    assert {f.expect for f in corpus} >= {
        OK,
        "decode_error",
        "empty_file",
        "missing_file",
    }


def test_one_skip_counter_for_pipelines_and_readers():
    import copy
    import pickle

    from mmvision.data.manifest import ReadReport
    from mmvision.data.skips import SkipCounter
    from mmvision.data.sources._common import Reader

    stats = images.PipelineStats()
    assert isinstance(stats, SkipCounter) and images.DropCounter is images.PipelineStats
    stats.skip("decode_error", "a.jpg")
    stats.skip("decode_error", "a.jpg")  # the same file, next epoch: listed once
    assert stats.count("decode_error") == 2 and stats.examples["decode_error"] == [
        "a.jpg"
    ]
    assert pickle.loads(pickle.dumps(stats)).to_dict() == stats.to_dict()
    back = stats.snapshot()
    stats.skip("too_small", "b.png")
    stats.restore(back)
    assert stats.n_skipped == 2 and "too_small" not in stats.examples
    report = Reader("t", ".").report
    assert isinstance(report, ReadReport) and isinstance(report, SkipCounter)
    report.skip("missing_file", "x")
    report.skip("missing_file", "x")  # readers keep every place (up to the max)
    assert report.examples["missing_file"] == ["x", "x"] and report.n_skipped == 2
    assert set(copy.deepcopy(report).to_dict()) == set(ReadReport().to_dict())
