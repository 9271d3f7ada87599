"""Manifest -> image features (or embeddings) with Beam's ``RunInference``.

The scale-out twin of ``mmvision.inference.features.FeatureCache``: every
decodable image of a Manifest goes through a Keras model (a run's
``image_tower``, an embedder run's whole image -> unit vector model, or an
image tower by name) and comes out as ``(id, vector)``. Nothing here batches
by hand: ``RunInference`` with a keyed ``TFModelHandlerNumpy`` on a
``.keras`` file does, on any Beam runner.

- The Manifest is read by a Beam source (``ReadFromParquet`` or
  ``ReadFromText`` on a ``.parquet`` / ``.jsonl`` file or file pattern), not
  ``beam.Create``: workers read it in parallel, whatever its size.
- Images are decoded and resized as the tf.data pipelines do
  (``mmvision.data.images.file_to_pixels``); an undecodable image is
  skipped and counted by reason in ``stats.json``.
- Output: ``OUT/features-SSSSS-of-NNNNN.npz`` (``ids``, ``features``), each
  shard written under a temporary name and renamed, then ``OUT/meta.json``
  (model, image size, dimension, counts). ``read_features(OUT)`` returns
  ``{id: vector}``.

Local run (DirectRunner, two processes)::

    python data_pipelines/extract_features.py manifest.parquet OUT \
        --source runs/cap --direct-num-workers 2

Other runners: ``--runner DataflowRunner|FlinkRunner|SparkRunner`` and the
runner's options after ``--`` (see data_pipelines/README.md).
"""

from __future__ import annotations

import argparse
import glob
import io
import os
import sys
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from data_pipelines._beam import SKIPPED
from mmvision.utils import write_bytes_atomic, write_json_atomic

META = "meta.json"


def save_model_file(source: str, image_size: int | None, out: str) -> tuple[str, int]:
    """Writes the feature model of ``source`` as ``OUT/model.keras`` (what
    the workers load) and returns ``(path, image_size)``."""
    from mmvision.inference.features import load_vector_source

    model, size, _ = load_vector_source(source, image_size)
    path = os.path.join(out, "model.keras")
    model.save(path)
    return path, int(size)


class _Decode:
    """Manifest row -> ``(id, pixels)``, or a ``(SKIPPED, reason)`` marker."""

    def __init__(self, image_size: int):
        self.size = int(image_size)

    def __call__(self, row: dict):
        from mmvision.data import images

        try:
            pixels = images.file_to_pixels(row["image_path"], self.size)
        except images.ImageDecodeError as err:
            yield (SKIPPED, err.reason)
            return
        except OSError:
            yield (SKIPPED, "unreadable")
            return
        yield (str(row["id"]), pixels.astype(np.float32))


def _handler(model_path: str) -> Any:
    """A keyed TF model handler on ``model_path`` whose workers register
    mmvision's custom layers before loading."""
    from apache_beam.ml.inference.base import KeyedModelHandler
    from apache_beam.ml.inference.tensorflow_inference import TFModelHandlerNumpy

    class _Handler(TFModelHandlerNumpy):
        def load_model(self):
            import mmvision.layers  # noqa: F401  (registers the custom layers)
            import mmvision.losses  # noqa: F401

            return super().load_model()

    return KeyedModelHandler(_Handler(model_uri=model_path))


def _to_pair(kv) -> tuple[str, np.ndarray]:
    key, result = kv
    return key, np.asarray(result.inference, np.float32)


class _WriteShard:
    """``(shard, [(id, vector), ...])`` -> one ``.npz`` written atomically."""

    def __init__(self, out: str, num_shards: int):
        self.out, self.n = out, int(num_shards)

    def __call__(self, item):
        shard, pairs = item
        pairs = sorted(pairs)
        ids = np.array([i for i, _ in pairs], dtype=object)
        feats = (
            np.stack([v for _, v in pairs]) if pairs else np.zeros((0, 0), np.float32)
        )
        buf = io.BytesIO()
        np.savez(buf, ids=ids.astype(str), features=feats)
        name = f"features-{shard:05d}-of-{self.n:05d}.npz"
        write_bytes_atomic(os.path.join(self.out, name), buf.getvalue())
        yield len(pairs)


def extract(
    manifest: str,
    out: str,
    source: str,
    image_size: int | None = None,
    num_shards: int = 4,
    runner: str = "DirectRunner",
    direct_num_workers: int = 2,
    direct_running_mode: str = "multi_processing",
    pipeline_args: Sequence[str] = (),
) -> dict:
    """Runs the pipeline; returns what ``OUT/meta.json`` holds.

    Raises:
        ValueError: no file matches ``manifest``, or another extension.
    """
    from data_pipelines import _beam

    manifest = _beam.check_manifest(os.fspath(manifest))
    os.makedirs(out, exist_ok=True)
    model_path, size = save_model_file(source, image_size, out)
    opts = _beam.options(runner, direct_num_workers, direct_running_mode, pipeline_args)
    n = int(num_shards)
    n_written, skipped = _beam.run_inference(
        opts, manifest, _Decode(size), _handler(model_path), _to_pair,
        _WriteShard(out, n), n, os.path.join(out, f".counts-{uuid.uuid4().hex}"),
    )  # fmt: skip
    meta = {
        "source": source, "image_size": size, "num_shards": n,
        "written": n_written, "skipped": skipped, "model": "model.keras",
    }  # fmt: skip
    write_json_atomic(os.path.join(out, META), meta)
    return meta


def read_features(out: str | os.PathLike) -> dict[str, np.ndarray]:
    """``{id: vector}`` of every shard in ``out``."""
    feats: dict[str, np.ndarray] = {}
    for f in sorted(glob.glob(os.path.join(os.fspath(out), "features-*.npz"))):
        with np.load(f, allow_pickle=False) as z:
            feats.update(zip(z["ids"].tolist(), z["features"]))
    return feats


def main(argv: Sequence[str] | None = None) -> int:
    """``extract_features.py MANIFEST OUT --source S [options] [-- beam args]``."""
    from data_pipelines import _beam

    argv, beam_args = _beam.split_argv(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(
        prog="extract_features.py",
        description="Manifest -> image features with Beam RunInference.",
    )
    ap.add_argument("manifest", help=".parquet or .jsonl file (or file pattern)")
    ap.add_argument("out_dir")
    ap.add_argument("--source", required=True, help="run directory or tower name")
    ap.add_argument("--image-size", type=int, help="needed for a tower name")
    ap.add_argument("--num-shards", type=int, default=4)
    _beam.add_runner_args(ap)
    a = ap.parse_args(argv)
    meta = extract(
        a.manifest, a.out_dir, a.source, a.image_size, a.num_shards, a.runner,
        a.direct_num_workers, a.direct_running_mode, beam_args,
    )  # fmt: skip
    print(f"{meta['written']} vectors, skipped {meta['skipped']} -> {a.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
