"""What every pipeline in ``data_pipelines/`` shares: runner options, the
Manifest read by a Beam source, id sharding and the small count files a
pipeline leaves for its launcher."""

from __future__ import annotations

import argparse
import glob
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RUNNING_MODES = ("multi_processing", "multi_threading", "in_memory")
SKIPPED = "skipped"  # key of a row a pipeline could not use: (SKIPPED, reason)


def split_argv(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """``(own args, Beam pipeline options)``: everything after ``--`` is Beam's."""
    argv = list(argv)
    if "--" not in argv:
        return argv, []
    cut = argv.index("--")
    return argv[:cut], argv[cut + 1 :]


def add_runner_args(ap: argparse.ArgumentParser) -> None:
    """``--runner``, ``--direct-num-workers``, ``--direct-running-mode``."""
    ap.add_argument("--runner", default="DirectRunner")
    ap.add_argument("--direct-num-workers", type=int, default=2)
    ap.add_argument(
        "--direct-running-mode", default="multi_processing", choices=RUNNING_MODES
    )


def options(
    runner: str, direct_num_workers: int, direct_running_mode: str,
    pipeline_args: Sequence[str] = (),
) -> Any:  # fmt: skip
    """``PipelineOptions`` for ``runner`` (the DirectRunner's worker count and
    mode added); puts the repository root on ``PYTHONPATH`` so that worker
    processes import mmvision and these modules."""
    from apache_beam.options.pipeline_options import PipelineOptions

    args = [f"--runner={runner}", *pipeline_args]
    if runner == "DirectRunner":
        args += [
            f"--direct_num_workers={int(direct_num_workers)}",
            f"--direct_running_mode={direct_running_mode}",
        ]
    root = str(Path(__file__).resolve().parent.parent)
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if root not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([root, *[p for p in paths if p]])
    return PipelineOptions(args)


def read_rows(p: Any, manifest: str, columns: Sequence[str] | None = None) -> Any:
    """The rows (dicts) of a ``.parquet`` or ``.jsonl`` Manifest file or file
    pattern, read by the workers (``ReadFromParquet`` / ``ReadFromText``).

    Raises:
        ValueError: another extension.
    """
    import apache_beam as beam

    if manifest.endswith(".parquet"):
        cols = list(columns) if columns else None
        return p | "ReadManifest" >> beam.io.ReadFromParquet(manifest, columns=cols)
    if manifest.endswith((".jsonl", ".json")):
        return (
            p
            | "ReadManifest" >> beam.io.ReadFromText(manifest)
            | "ParseJSON" >> beam.Map(json.loads)
        )
    raise ValueError(f"{manifest}: the manifest must be .parquet or .jsonl files")


def check_manifest(manifest: str) -> str:
    """``manifest`` when at least one file matches it.

    Raises:
        ValueError: no file matches.
    """
    if not glob.glob(manifest):
        raise ValueError(f"no manifest file matches {manifest}")
    return manifest


def run_inference(
    opts: Any, manifest: str, prepare: Any, handler: Any, result: Any, write: Any,
    num_shards: int, counts: str,
) -> tuple[int, dict[str, int]]:  # fmt: skip
    """The keyed ``RunInference`` pipeline of ``extract_features`` and
    ``caption_gallery``; returns ``(written, {reason: skipped})``.

    Manifest rows (``id``, ``image_path``) -> ``prepare(row)`` yields
    ``(id, model input)`` or ``(SKIPPED, reason)`` -> ``RunInference(handler)``
    -> ``result((id, PredictionResult))`` -> grouped by ``shard_of(id)`` ->
    ``write((shard, [(id, value), ...]))`` yields the rows it wrote.
    """
    import apache_beam as beam
    from apache_beam.ml.inference.base import RunInference

    n = int(num_shards)
    with beam.Pipeline(options=opts) as p:
        rows = read_rows(p, manifest, ["id", "image_path"])
        data = rows | "Prepare" >> beam.FlatMap(prepare)
        good = data | "Good" >> beam.Filter(lambda kv: kv[0] != SKIPPED)
        bad = data | "Bad" >> beam.Filter(lambda kv: kv[0] == SKIPPED)
        written = (
            good
            | "Infer" >> RunInference(handler)
            | "Result" >> beam.Map(result)
            | "Shard" >> beam.Map(lambda kv: (shard_of(kv[0], n), kv))
            | "ByShard" >> beam.GroupByKey()
            | "Write" >> beam.FlatMap(write)
        )
        write_counts(written, bad, counts)
    return read_counts(counts)


def shard_of(key: str, n: int) -> int:
    """The output shard of an id (stable across runs and processes)."""
    from mmvision.utils import stable_hash

    return int(stable_hash(key), 16) % int(n)


def write_counts(written: Any, skipped: Any, prefix: str) -> None:
    """Writes the total of ``written`` (ints) and ``{reason: n}`` of
    ``skipped`` (``(marker, reason)`` pairs) as one-line JSON text files."""
    import apache_beam as beam

    _ = (
        written
        | "Sum" >> beam.CombineGlobally(sum)
        | "WrittenJSON" >> beam.Map(lambda c: json.dumps({"written": c}))
        | "Written" >> beam.io.WriteToText(prefix + "-written", num_shards=1)
    )
    _ = (
        skipped
        | "Reasons" >> beam.Map(lambda kv: (kv[1], 1))
        | "CountReasons" >> beam.CombinePerKey(sum)
        | "AllReasons" >> beam.combiners.ToList()
        | "SkippedJSON" >> beam.Map(lambda kv: json.dumps({"skipped": kv}))
        | "Skipped" >> beam.io.WriteToText(prefix + "-skipped", num_shards=1)
    )


def read_counts(prefix: str) -> tuple[int, dict[str, int]]:
    """``(written, {reason: n})`` left by ``write_counts`` (files removed)."""
    notes: dict[str, Any] = {}
    for f in glob.glob(prefix + "-*"):
        with open(f, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    notes.update(json.loads(line))
        os.remove(f)
    return int(notes.get("written", 0)), dict(notes.get("skipped", []))
