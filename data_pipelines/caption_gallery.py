"""Manifest -> generated captions of every image, with Beam's ``RunInference``.

The gallery of a retrieval index at any size: each image's bytes go through
a captioner run's serving SavedModel (``mmvision export RUN``: JPEG/PNG bytes
in, ``caption`` and ``score`` out; decoding, the tower and beam search all
run in its graph). ``RunInference`` batches the images; the model handler
is a small ``ModelHandler`` over ``tf.saved_model.load`` (Beam's stock
TensorFlow handler loads Keras files only, and Keras 3 cannot load a
SavedModel).

- The Manifest is read by a Beam source (``ReadFromParquet`` /
  ``ReadFromText`` on a file or file pattern).
- Output: ``OUT/captions-SSSSS-of-NNNNN.jsonl`` (``{"id", "caption",
  "score"}`` a line, sorted by id), each shard written under a temporary
  name and renamed, and ``OUT/meta.json`` (model, counts, skipped by
  reason). An unreadable or undecodable image is skipped and counted.
  ``read_captions(OUT)`` gives ``{id: caption}`` (what
  ``Retriever.build(..., captions=...)`` takes).

Local run::

    python data_pipelines/caption_gallery.py manifest.parquet OUT \
        --export runs/cap/export --direct-num-workers 2
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import uuid
from collections.abc import Sequence
from typing import Any

from data_pipelines._beam import SKIPPED
from mmvision.utils import write_json_atomic, write_text_atomic

META = "meta.json"


def _read_bytes(row: dict):
    """Row -> ``(id, bytes)``, or ``(SKIPPED, reason)`` for a bad image."""
    from mmvision.data import images

    path = str(row.get("image_path") or "")
    try:
        data = images.read_bytes(path)
    except (images.ImageDecodeError, OSError) as err:
        yield (SKIPPED, getattr(err, "reason", "read_error"))
        return
    try:  # decodable by the graph's decoder? (it would fail the whole batch)
        images.file_to_pixels(path, 8)
    except images.ImageDecodeError as err:
        yield (SKIPPED, err.reason)
        return
    yield (str(row["id"]), data)


def _handler(export_dir: str) -> Any:
    from apache_beam.ml.inference.base import (
        KeyedModelHandler,
        ModelHandler,
        PredictionResult,
    )

    class SavedModelCaptioner(ModelHandler):
        """Image bytes -> ``{"caption", "score"}`` with the exported signature."""

        def __init__(self, path: str):
            self.path = path

        def load_model(self):
            import tensorflow as tf

            return tf.saved_model.load(self.path).signatures["serving_default"]

        def run_inference(self, batch, model, inference_args=None):
            import tensorflow as tf

            out = model(image_bytes=tf.constant(list(batch), tf.string))
            caps = [c.decode("utf-8") for c in out["caption"].numpy()]
            scores = [float(s) for s in out["score"].numpy()]
            return [
                PredictionResult(b, {"caption": c, "score": s})
                for b, c, s in zip(batch, caps, scores)
            ]

        def batch_elements_kwargs(self):
            return {"min_batch_size": 1, "max_batch_size": 64}

    return KeyedModelHandler(SavedModelCaptioner(export_dir))


def _result(kv) -> tuple[str, dict]:
    return kv[0], kv[1].inference


class _WriteShard:
    def __init__(self, out: str, n: int):
        self.out, self.n = out, int(n)

    def __call__(self, item):
        shard, rows = item
        rows = sorted(rows)
        text = "".join(
            json.dumps({"id": i, "caption": r["caption"], "score": r["score"]},
                       ensure_ascii=False) + "\n"
            for i, r in rows
        )  # fmt: skip
        name = f"captions-{shard:05d}-of-{self.n:05d}.jsonl"
        write_text_atomic(os.path.join(self.out, name), text)
        yield len(rows)


def caption_gallery(
    manifest: str,
    out: str,
    export_dir: str,
    num_shards: int = 4,
    runner: str = "DirectRunner",
    direct_num_workers: int = 2,
    direct_running_mode: str = "multi_processing",
    pipeline_args: Sequence[str] = (),
) -> dict:
    """Runs the pipeline; returns what ``OUT/meta.json`` holds.

    Raises:
        ValueError: no manifest file matches, or ``export_dir`` is not a
            SavedModel (``mmvision export RUN`` writes one).
    """
    from data_pipelines import _beam

    manifest = _beam.check_manifest(os.fspath(manifest))
    if not os.path.isfile(os.path.join(export_dir, "saved_model.pb")):
        raise ValueError(f"{export_dir}: no saved_model.pb (run 'mmvision export RUN')")
    os.makedirs(out, exist_ok=True)
    opts = _beam.options(runner, direct_num_workers, direct_running_mode, pipeline_args)
    n = int(num_shards)
    n_written, skipped = _beam.run_inference(
        opts, manifest, _read_bytes, _handler(export_dir), _result,
        _WriteShard(out, n), n, os.path.join(out, f".counts-{uuid.uuid4().hex}"),
    )  # fmt: skip
    meta = {
        "export": os.path.abspath(export_dir), "num_shards": n,
        "written": n_written, "skipped": skipped,
    }  # fmt: skip
    write_json_atomic(os.path.join(out, META), meta)
    return meta


def read_captions(out: str | os.PathLike) -> dict[str, str]:
    """``{id: caption}`` of every shard in ``out``."""
    caps: dict[str, str] = {}
    for f in sorted(glob.glob(os.path.join(os.fspath(out), "captions-*.jsonl"))):
        with open(f, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    row = json.loads(line)
                    caps[row["id"]] = row["caption"]
    return caps


def main(argv: Sequence[str] | None = None) -> int:
    """``caption_gallery.py MANIFEST OUT --export DIR [options] [-- beam args]``."""
    from data_pipelines import _beam

    argv, beam_args = _beam.split_argv(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(
        prog="caption_gallery.py",
        description="Manifest -> generated captions with Beam RunInference.",
    )
    ap.add_argument("manifest", help=".parquet or .jsonl file (or file pattern)")
    ap.add_argument("out_dir")
    ap.add_argument("--export", required=True, help="a captioner's SavedModel")
    ap.add_argument("--num-shards", type=int, default=4)
    _beam.add_runner_args(ap)
    a = ap.parse_args(argv)
    meta = caption_gallery(
        a.manifest, a.out_dir, a.export, a.num_shards, a.runner,
        a.direct_num_workers, a.direct_running_mode, beam_args,
    )  # fmt: skip
    print(f"{meta['written']} captions, skipped {meta['skipped']} -> {a.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
