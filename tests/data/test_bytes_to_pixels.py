"""One bytes-to-pixels path: the pipeline, file_to_pixels and a tf.function agree."""

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from mmvision.data import images
from mmvision.data.manifest import make_manifest
from mmvision.data.pipelines import classification_dataset

SIZE = (24, 32)


def _photo(h=37, w=53, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h // 4 + 1, w // 4 + 1, 3), dtype=np.uint8)
    return np.kron(base, np.ones((4, 4, 1), np.uint8))[:h, :w]


def _write(tmp_path, name, arr, fmt, **kw):
    path = tmp_path / name
    Image.fromarray(arr).save(path, fmt, **kw)
    return path


def _pipeline_pixels(path, crop):
    manifest = make_manifest([dict(id="a", image_path=str(path), label=0)])
    ds = classification_dataset(
        manifest, image_size=SIZE, crop=crop, batch_size=None, label_mode="none",
        normalization="raw", augment=None,
    )  # fmt: skip
    (feats,) = list(ds)
    return feats["image"].numpy()


def _graph_pixels(path, crop):
    fn = tf.function(
        lambda d: images.bytes_to_pixels(d, SIZE, crop=crop),
        input_signature=[tf.TensorSpec([], tf.string)],
    )
    return fn(tf.constant(path.read_bytes())).numpy()


@pytest.mark.parametrize("crop", ["none", "center"])
def test_jpeg_pixels_identical_on_every_path(tmp_path, crop):
    path = _write(tmp_path, "photo.jpg", _photo(), "JPEG", quality=90)
    a = _pipeline_pixels(path, crop)
    b = images.file_to_pixels(path, SIZE, crop=crop)
    c = _graph_pixels(path, crop)
    assert a.dtype == np.float32 and a.shape == (*SIZE, 3)
    assert 0 <= a.min() and a.max() <= 255
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_exif_rotated_jpeg_and_png_identical(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW: the pipeline takes the full decode
    rotated = _write(tmp_path, "rot.jpg", _photo(), "JPEG", exif=exif.tobytes())
    rgba = np.dstack([_photo(), np.full((37, 53, 1), 128, np.uint8)])
    png = _write(tmp_path, "alpha.png", rgba, "PNG")
    for path in (rotated, png):
        a = _pipeline_pixels(path, "none")
        np.testing.assert_array_equal(a, images.file_to_pixels(path, SIZE))
        np.testing.assert_array_equal(a, _graph_pixels(path, "none"))


def test_fast_jpeg_decode_matches_full_decode(tmp_path):
    data = _write(tmp_path, "p.jpg", _photo(), "JPEG").read_bytes()
    fast = images.bytes_to_pixels(data, SIZE, fast=True).numpy()
    np.testing.assert_array_equal(fast, images.bytes_to_pixels(data, SIZE).numpy())
    buf = io.BytesIO()
    Image.fromarray(_photo()).save(buf, "PNG")
    with pytest.raises(tf.errors.InvalidArgumentError):
        images.bytes_to_pixels(buf.getvalue(), SIZE, fast=True)
    with pytest.raises(ValueError, match="crop"):
        images.bytes_to_pixels(data, SIZE, crop="random")


def test_file_to_pixels_pillow_fallback_and_errors(tmp_path):
    tiff = _write(tmp_path, "p.tiff", _photo(), "TIFF")  # TensorFlow cannot decode
    want = images.resize_image(images.pil_decode(tiff.read_bytes()), SIZE).numpy()
    np.testing.assert_array_equal(images.file_to_pixels(tiff, SIZE), want)
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(images.ImageDecodeError, match="garbage.jpg") as e:
        images.file_to_pixels(garbage, SIZE)
    assert e.value.reason == "decode_error"
    with pytest.raises(images.ImageDecodeError, match="missing.jpg"):
        images.file_to_pixels(tmp_path / "missing.jpg", SIZE)
    small = _write(tmp_path, "small.png", _photo(3, 5), "PNG")
    with pytest.raises(images.ImageDecodeError, match="small.png") as e:
        images.file_to_pixels(small, SIZE, min_side=4)
    assert e.value.reason == "too_small"
