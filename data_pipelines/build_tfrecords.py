"""Manifest -> validated, resized, JPEG-encoded TFRecord shards (Apache Beam).

Each Manifest row's image is read, decoded with the same rules as the
tf.data pipelines (``mmvision.data.images``: EXIF orientation, alpha on
white, 16-bit, CMYK, palette), checked (``min_side``), resized to
``image_size`` (``crop="none"`` squashes, ``"center"`` keeps the aspect and
crops) and JPEG-encoded, then written as ``tf.train.Example`` records
(schema: ``mmvision.data.records``). Rows that fail are skipped and counted by
reason. Output::

    OUT/{split}-00000-of-00006.tfrecord ...   (prefix "data" when no split)
    OUT/.shards/{shard}.json                  per-shard counts (commit log)
    OUT/stats.json                            records written, skipped by reason

Every row goes to shard ``hash(id) % n`` of its split, so a rerun puts rows
in the same shards. A shard is written under a temporary name, its
``.shards/*.json`` is written, then it is renamed to its final name: an
interrupted run never leaves a half-written shard under a final name, and a
rerun only does the shards that are missing (a rerun over finished shards
runs no pipeline at all).

Local run (DirectRunner, several processes)::

    python data_pipelines/build_tfrecords.py manifest.parquet OUT \
        --image-size 224 --num-shards 16 --direct-num-workers 2

Other runners: pass ``--runner DataflowRunner|FlinkRunner|SparkRunner`` and
the runner's own options after ``--`` (see data_pipelines/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pandas as pd

from mmvision.data.manifest import read_manifest
from mmvision.utils import stable_hash, write_json_atomic

SHARD_DIR = ".shards"
STATS_FILE = "stats.json"
CROPS = ("none", "center")
MAX_EXAMPLES = 5


# ------------------------------------------------------------------ planning
def load_manifest(manifest: pd.DataFrame | str | os.PathLike) -> pd.DataFrame:
    """A Manifest from a DataFrame, a ``.parquet`` or a ``.jsonl`` file."""
    return read_manifest(manifest)


def _prefix(split: Any) -> str:
    return str(split) if split else "data"


def plan_shards(splits: Sequence[str], num_shards: int) -> dict[str, int]:
    """Shards per split prefix: proportional to rows (largest remainder), >= 1."""
    counts = Counter(_prefix(s) for s in splits)
    if not counts:
        return {}
    total = sum(counts.values())
    num_shards = max(int(num_shards), len(counts))
    raw = {k: num_shards * v / total for k, v in counts.items()}
    plan = {k: max(1, int(r)) for k, r in raw.items()}
    rest = num_shards - sum(plan.values())
    for k in sorted(raw, key=lambda k: raw[k] - int(raw[k]), reverse=True):
        if rest <= 0:
            break
        plan[k] += 1
        rest -= 1
    return dict(sorted(plan.items()))


def shard_of(row_id: str, prefix: str, plan: dict[str, int]) -> str:
    from mmvision.data.records import shard_name

    n = plan[prefix]
    return shard_name(prefix, int(stable_hash(str(row_id)), 16) % n, n)


def _row_dict(row: dict[str, Any]) -> dict[str, Any]:
    from mmvision.data.manifest import LIST_COLUMNS

    out = {}
    for k, v in row.items():
        if hasattr(v, "tolist") and not isinstance(v, (str, bytes)):
            v = v.tolist()
        if k in LIST_COLUMNS and v is None:
            v = []  # as read_manifest reads a missing list
        out[k] = v
    return out


# --------------------------------------------------------------- Beam parts
class _ProcessRow:
    """Row -> (shard, ("ok", id, example)) or (shard, ("skip", reason, where))."""

    def __init__(self, plan, done, image_size, crop, quality, min_side, apply_exif):
        self.plan, self.done = plan, set(done)
        self.image_size, self.crop = tuple(image_size), crop
        self.quality, self.min_side, self.apply_exif = quality, min_side, apply_exif

    def __call__(self, row):
        from mmvision.data import images, records

        row = _row_dict(row)
        shard = shard_of(row["id"], _prefix(row.get("split")), self.plan)
        if shard in self.done:
            return
        path = str(row.get("image_path") or "")
        try:
            if not path:
                raise images.ImageDecodeError(f"id {row['id']}", "missing_file", "")
            img = images.load_image_py(path, self.min_side, self.apply_exif)
            img = images.resize_py(img, self.image_size, self.crop)
            data = images.encode_jpeg_py(img, self.quality)
            ex = records.encode_example(row, data, img.shape[0], img.shape[1])
            label = row.get("label")
            label = -1 if label is None or label != label else int(label)
            yield shard, ("ok", str(row["id"]), ex, label)
        except images.ImageDecodeError as e:
            yield shard, ("skip", e.reason, str(e))


class _WriteShard:
    """Writes one shard: temp file, sidecar JSON, then rename (the commit)."""

    def __init__(self, out_dir: str, config: dict[str, Any]):
        self.out_dir, self.config = out_dir, config

    def __call__(self, item):
        import tensorflow as tf

        shard, values = item
        oks = sorted((v[1], v[2]) for v in values if v[0] == "ok")
        unlabelled = sum(1 for v in values if v[0] == "ok" and v[3] < 0)
        skips = [v for v in values if v[0] == "skip"]
        final = os.path.join(self.out_dir, shard)
        tmp = os.path.join(self.out_dir, f".{shard}.tmp-{uuid.uuid4().hex}")
        try:
            with tf.io.TFRecordWriter(tmp) as w:
                for _, ex in oks:
                    w.write(ex)
            skipped = Counter(v[1] for v in skips)
            examples: dict[str, list[str]] = {}
            for v in skips:
                ex_list = examples.setdefault(v[1], [])
                if len(ex_list) < MAX_EXAMPLES:
                    ex_list.append(v[2])
            side = {
                "shard": shard,
                "records": len(oks),
                "unlabelled": unlabelled,
                "skipped": dict(skipped),
                "examples": examples,
                "config": self.config,
            }
            write_json_atomic(
                os.path.join(self.out_dir, SHARD_DIR, shard + ".json"), side
            )
            tf.io.gfile.rename(tmp, final, overwrite=True)
        finally:
            if tf.io.gfile.exists(tmp):
                tf.io.gfile.remove(tmp)
        yield shard, len(oks)


def _config(image_size, crop, quality, min_side, apply_exif, plan) -> dict[str, Any]:
    return {
        "image_size": list(image_size),
        "crop": crop,
        "quality": int(quality),
        "min_side": int(min_side),
        "apply_exif": bool(apply_exif),
        "plan": plan,
    }


def _sidecar(out_dir: str, shard: str) -> dict[str, Any] | None:
    path = os.path.join(out_dir, SHARD_DIR, shard + ".json")
    if not os.path.exists(path) or not os.path.exists(os.path.join(out_dir, shard)):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _aggregate(out_dir, shards, df, config, runner) -> dict[str, Any]:
    skipped: Counter = Counter()
    examples: dict[str, list[str]] = {}
    per_shard = {}
    unlabelled = 0
    for s in shards:
        side = _sidecar(out_dir, s)
        if side is None:
            raise RuntimeError(f"shard {s} in {out_dir} was not written")
        per_shard[s] = side["records"]
        unlabelled += side.get("unlabelled", 0)
        skipped.update(side["skipped"])
        for reason, ex in side["examples"].items():
            lst = examples.setdefault(reason, [])
            lst.extend(ex[: MAX_EXAMPLES - len(lst)])
    labels = df["label"][df["label"] >= 0]
    per_split: Counter = Counter()
    for s, n in per_shard.items():
        per_split[s.rsplit("-", 3)[0]] += n
    return {
        "manifest_rows": int(len(df)),
        "records_written": int(sum(per_shard.values())),
        "skipped": dict(sorted(skipped.items())),
        "n_skipped": int(sum(skipped.values())),
        "examples": examples,
        "records_per_split": dict(sorted(per_split.items())),
        "unlabelled_records": unlabelled,
        "shards": per_shard,
        "num_shards": len(shards),
        "num_classes": int(labels.max()) + 1 if len(labels) else 0,
        "image_size": config["image_size"],
        "crop": config["crop"],
        "quality": config["quality"],
        "min_side": config["min_side"],
        "apply_exif": config["apply_exif"],
        "runner": runner,
    }


def build_records(
    manifest: pd.DataFrame | str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    image_size: int | Sequence[int] = 224,
    num_shards: int = 16,
    crop: str = "none",
    quality: int = 95,
    min_side: int = 1,
    apply_exif: bool = True,
    runner: str = "DirectRunner",
    direct_num_workers: int = 2,
    direct_running_mode: str = "multi_processing",
    pipeline_args: Sequence[str] = (),
    force: bool = False,
) -> dict[str, Any]:
    """Builds TFRecord shards of ``manifest`` in ``out_dir``; returns the stats.

    Args:
        manifest: a Manifest DataFrame, or a ``.parquet`` / ``.jsonl`` file.
        out_dir: output directory (local, or any ``tf.io.gfile`` path the
            workers can reach).
        image_size: stored ``(height, width)`` (or one int).
        num_shards: total shards, shared among splits by row count.
        crop: ``"none"`` (squash to size) or ``"center"``.
        quality: JPEG quality of the stored images.
        min_side: smaller images are skipped (``too_small``).
        apply_exif: apply EXIF orientation before resizing.
        runner: a Beam runner name.
        direct_num_workers, direct_running_mode: DirectRunner options
            (``multi_processing``, ``multi_threading`` or ``in_memory``).
        pipeline_args: extra Beam options (``--project=...`` etc.).
        force: rebuild even if the shards exist with another configuration.

    Returns:
        The dict written to ``out_dir/stats.json``: ``records_written``,
        ``skipped`` ``{reason: count}``, ``examples``, per split and per
        shard counts, ``num_classes`` and the settings.
    """
    if crop not in CROPS:
        raise ValueError(f"unknown crop {crop!r}; valid: {list(CROPS)}")
    size = (
        (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    )
    size = (int(size[0]), int(size[1]))
    df = load_manifest(manifest)
    out = str(out_dir)
    os.makedirs(os.path.join(out, SHARD_DIR), exist_ok=True)
    plan = plan_shards(list(df["split"]), num_shards)
    config = _config(size, crop, quality, min_side, apply_exif, plan)
    from mmvision.data.records import shard_name

    shards = [shard_name(p, i, n) for p, n in plan.items() for i in range(n)]
    done = []
    for s in shards:
        side = _sidecar(out, s)
        if side is None:
            continue
        if side.get("config") != config:
            if not force:
                raise ValueError(
                    f"{out}: shard {s} was built with other settings "
                    f"({side.get('config')}); use another directory or force=True"
                )
            continue
        done.append(s)
    pending = [s for s in shards if s not in done]
    stats_path = os.path.join(out, STATS_FILE)
    if not pending and os.path.exists(stats_path):
        with open(stats_path, encoding="utf-8") as f:
            return json.load(f)
    if pending:
        source = None if isinstance(manifest, pd.DataFrame) else os.fspath(manifest)
        _run_beam(
            df, out, plan, done, pending, size, crop, quality, min_side,
            apply_exif, config, runner, direct_num_workers, direct_running_mode,
            pipeline_args, source,
        )  # fmt: skip
    stats = _aggregate(out, shards, df, config, runner)
    write_json_atomic(stats_path, stats)
    return stats


def _read_rows(p, df, source):
    """The Manifest rows as a PCollection: read by a Beam source from the
    ``.parquet`` / ``.jsonl`` file (workers read it in parallel, at any size),
    or ``beam.Create`` for an in-memory DataFrame."""
    import apache_beam as beam

    if source is None:
        rows = [_row_dict(r) for r in df.to_dict("records")]
        return p | "Rows" >> beam.Create(rows, reshuffle=True)
    from data_pipelines import _beam

    return _beam.read_rows(p, source) | "Spread" >> beam.Reshuffle()


def _run_beam(
    df, out, plan, done, pending, size, crop, quality, min_side, apply_exif,
    config, runner, direct_num_workers, direct_running_mode, pipeline_args,
    source=None,
):  # fmt: skip
    import apache_beam as beam

    from data_pipelines import _beam

    opts = _beam.options(runner, direct_num_workers, direct_running_mode, pipeline_args)
    process = _ProcessRow(plan, done, size, crop, quality, min_side, apply_exif)
    with beam.Pipeline(options=opts) as p:
        items = _read_rows(p, df, source) | "Process" >> beam.FlatMap(process)
        seeds = p | "Shards" >> beam.Create([(s, ("seed",)) for s in pending])
        _ = (
            (items, seeds)
            | "Merge" >> beam.Flatten()
            | "ByShard" >> beam.GroupByKey()
            | "Write" >> beam.FlatMap(_WriteShard(out, config))
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``build_tfrecords.py MANIFEST OUT [options] [-- beam args]``."""
    from data_pipelines import _beam

    argv, beam_args = _beam.split_argv(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(
        prog="mmvision data build-records",
        description="Manifest -> validated, resized, JPEG-encoded TFRecord shards "
        "(Apache Beam).",
        epilog="example: mmvision data build-records manifest.parquet records/ "
        "--image-size 224 --num-shards 16",
    )
    ap.add_argument("manifest", help="Manifest .parquet or .jsonl")
    ap.add_argument("out_dir", help="output directory")
    ap.add_argument("--image-size", type=int, nargs="+", default=[224])
    ap.add_argument("--num-shards", type=int, default=16)
    ap.add_argument("--crop", choices=CROPS, default="none")
    ap.add_argument("--quality", type=int, default=95)
    ap.add_argument("--min-side", type=int, default=1)
    ap.add_argument("--no-exif", action="store_true", help="ignore EXIF orientation")
    _beam.add_runner_args(ap)
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args(argv)
    size = a.image_size[0] if len(a.image_size) == 1 else tuple(a.image_size[:2])
    stats = build_records(
        a.manifest,
        a.out_dir,
        image_size=size,
        num_shards=a.num_shards,
        crop=a.crop,
        quality=a.quality,
        min_side=a.min_side,
        apply_exif=not a.no_exif,
        runner=a.runner,
        direct_num_workers=a.direct_num_workers,
        direct_running_mode=a.direct_running_mode,
        pipeline_args=beam_args,
        force=a.force,
    )
    print(
        f"{stats['records_written']} records in {stats['num_shards']} shards, "
        f"skipped {stats['n_skipped']} {stats['skipped']} -> {a.out_dir}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
