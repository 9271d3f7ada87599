"""The export side of the one bytes -> pixels path: a JPEG file gives the same
pixels through the classification pipeline, ``caption_images``' path
(``data.images.file_to_pixels``) and an exported SavedModel's in-graph decode
(``data.images.bytes_to_pixels`` mapped over ``image_bytes`` inside the
serving function, as ``export_captioner`` does), loaded in a fresh process;
and the exported captioner scores those bytes as the library scores its
pixels."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from mmvision import configs
from mmvision.data import images
from mmvision.data.manifest import make_manifest
from mmvision.data.pipelines import classification_dataset

SIZE = 32  # the smoke captioner's image size


def _photo(h=37, w=53, seed=0):
    """Blocky noise: JPEG keeps its edges, so resizing matters."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h // 4 + 1, w // 4 + 1, 3), dtype=np.uint8)
    return np.kron(base, np.ones((4, 4, 1), np.uint8))[:h, :w]


@pytest.fixture(scope="module")
def jpegs(demo_world, tmp_path_factory):
    """A demo-world JPEG (already 32 px), a larger photo, an EXIF-rotated one."""
    root = tmp_path_factory.mktemp("jpegs")
    world = sorted((demo_world / "flickr8k" / "Flicker8k_Dataset").glob("*.jpg"))[0]
    photo = root / "photo.jpg"
    Image.fromarray(_photo()).save(photo, "JPEG", quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise
    rotated = root / "rotated.jpg"
    Image.fromarray(_photo(61, 45, seed=1)).save(rotated, "JPEG", exif=exif.tobytes())
    return [world, photo, rotated]


def _pipeline_pixels(paths):
    manifest = make_manifest(
        [dict(id=f"x{i}", image_path=str(p), label=0) for i, p in enumerate(paths)]
    )
    ds = classification_dataset(
        manifest, image_size=SIZE, batch_size=None, label_mode="none",
        augment=None, deterministic=True,
    )  # fmt: skip
    return np.stack([x["image"].numpy() for x in ds])


def _run_fresh(script: str, *args, cwd) -> str:
    """Runs ``script`` in a new interpreter (no mmvision imported); its stdout."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        capture_output=True, text=True, env=env, cwd=str(cwd), timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def _export_decoder(path) -> None:
    """A SavedModel whose serving function decodes as ``export_captioner``'s."""
    import keras

    def serve(image_bytes):
        return tf.map_fn(
            lambda b: images.bytes_to_pixels(b, SIZE),
            image_bytes,
            fn_output_signature=tf.TensorSpec([SIZE, SIZE, 3], tf.float32),
        )

    archive = keras.export.ExportArchive()
    archive.add_endpoint(
        "serving_default",
        serve,
        input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")],
    )
    archive.write_out(str(path), verbose=False)


def test_jpeg_pixels_identical_in_pipeline_inference_and_export(jpegs, tmp_path):
    a = _pipeline_pixels(jpegs)
    b = np.stack([images.file_to_pixels(p, SIZE) for p in jpegs])
    assert a.shape == (3, SIZE, SIZE, 3) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    _export_decoder(tmp_path / "decoder")
    script = (
        "import sys\n"
        "import numpy as np, tensorflow as tf\n"
        "fn = tf.saved_model.load(sys.argv[1]).signatures['serving_default']\n"
        "data = [open(p, 'rb').read() for p in sys.argv[3:]]\n"
        "(out,) = fn(image_bytes=tf.constant(data)).values()\n"
        "np.save(sys.argv[2], out.numpy())\n"
        "print(any(m.startswith('mmvision') for m in sys.modules))\n"
    )
    npy = tmp_path / "pixels.npy"
    out = _run_fresh(script, tmp_path / "decoder", npy, *jpegs, cwd=tmp_path)
    assert out.strip().splitlines()[-1] == "False"
    np.testing.assert_array_equal(np.load(npy), a)


@pytest.fixture(scope="module")
def captioner_run(demo_world, tmp_path_factory):
    from mmvision.training import fit_task

    out = tmp_path_factory.mktemp("pixels") / "run"
    cfg = configs.apply_overrides(
        configs.get_preset("captioner", "demo_captioner_smoke"),
        ["train.epochs=1", "train.evaluate=false"],
    )
    fit_task("captioner", cfg, demo_world, out)
    return out


def test_exported_captioner_scores_the_library_pixels(captioner_run, jpegs, tmp_path):
    from mmvision.export import export_captioner
    from mmvision.inference.captioner import CaptionerRun, caption_images

    run = CaptionerRun(captioner_run)
    beam, alpha = run.beam_and_alpha(None)
    pixels = np.stack([images.file_to_pixels(p, run.image_size) for p in jpegs])
    ids, want = run.search(tf.constant(run.image_features(pixels)), beam, alpha)
    want_caps = [run.vocab.decode(r) for r in ids.numpy()]
    assert want_caps == [r.caption for r in caption_images(run, jpegs, beam=beam)]
    export = export_captioner(captioner_run, tmp_path / "export")
    script = (
        "import json, sys\n"
        "import tensorflow as tf\n"
        "fn = tf.saved_model.load(sys.argv[1]).signatures['serving_default']\n"
        "out = fn(image_bytes=tf.constant([open(p, 'rb').read() "
        "for p in sys.argv[2:]]))\n"
        "print(json.dumps({'caption': [c.decode() for c in out['caption'].numpy()],"
        " 'score': out['score'].numpy().tolist()}))\n"
    )
    got = json.loads(_run_fresh(script, export, *jpegs, cwd=tmp_path).splitlines()[-1])
    assert got["caption"] == want_caps
    # Graph and eager float noise is ~1e-7; other pixels move the scores more.
    np.testing.assert_allclose(got["score"], want.numpy(), rtol=0, atol=1e-5)
    other = np.stack(
        [images.bytes_to_pixels(p.read_bytes(), run.image_size, antialias=True)
         for p in jpegs]
    )  # fmt: skip
    _, moved = run.search(tf.constant(run.image_features(other)), beam, alpha)
    assert np.abs(moved.numpy() - want.numpy()).max() > 1e-4
