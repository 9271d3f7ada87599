"""TFRecord shards: the ``tf.train.Example`` schema, writing and reading back.

Shards are written by ``data_pipelines/build_tfrecords.py`` (Apache Beam) or,
for small data, ``write_shard``. Each record is one Manifest row with its
image already validated, resized and JPEG-encoded:

==============  ==============  =========================================
key             type            meaning
==============  ==============  =========================================
id              bytes           Manifest ``id``
image           bytes           JPEG bytes (RGB, already at the target size)
height, width   int64           size of the stored image
label           int64           class index (-1 when unlabelled)
label_name      bytes
title           bytes
description     bytes
tags            bytes list      one entry per tag
captions        bytes list      reference captions
split           bytes
image_path      bytes           the source file (for tracing errors)
==============  ==============  =========================================

Shard names: ``{prefix}-{i:05d}-of-{n:05d}.tfrecord`` with prefix the split
(``data`` when the manifest has none); a stats file ``stats.json`` beside
them. ``read_records`` turns shards back into the feature dicts of
``mmvision.data.pipelines`` (``"tags"`` joined by spaces).
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import tensorflow as tf

from mmvision.utils import atomic_path

# Dataset functions here have no Python control flow on tensors: skip AutoGraph.
_nc = tf.autograph.experimental.do_not_convert

SHARD_SUFFIX = ".tfrecord"
STATS_FILE = "stats.json"

FEATURES = {
    "id": tf.io.FixedLenFeature([], tf.string),
    "image": tf.io.FixedLenFeature([], tf.string),
    "height": tf.io.FixedLenFeature([], tf.int64, default_value=0),
    "width": tf.io.FixedLenFeature([], tf.int64, default_value=0),
    "label": tf.io.FixedLenFeature([], tf.int64, default_value=-1),
    "label_name": tf.io.FixedLenFeature([], tf.string, default_value=""),
    "title": tf.io.FixedLenFeature([], tf.string, default_value=""),
    "description": tf.io.FixedLenFeature([], tf.string, default_value=""),
    "tags": tf.io.VarLenFeature(tf.string),
    "captions": tf.io.VarLenFeature(tf.string),
    "split": tf.io.FixedLenFeature([], tf.string, default_value=""),
    "image_path": tf.io.FixedLenFeature([], tf.string, default_value=""),
}


def shard_name(prefix: str, index: int, num_shards: int) -> str:
    return f"{prefix}-{index:05d}-of-{num_shards:05d}{SHARD_SUFFIX}"


def _bytes(values: Iterable[Any]) -> tf.train.Feature:
    out = []
    for v in values:
        out.append(v if isinstance(v, bytes) else str(v).encode("utf-8"))
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=out))


def _int(v: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v)]))


def _as_list(v: Any) -> list:
    if v is None:
        return []
    if hasattr(v, "tolist") and not isinstance(v, (str, bytes)):
        v = v.tolist()
    if isinstance(v, str):
        return [v]
    return list(v)


def _text(v: Any) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return ""
    return str(v)


def encode_example(
    row: Mapping[str, Any], image_bytes: bytes, height: int, width: int
) -> bytes:
    """Serialises one Manifest row plus its encoded image as a ``tf.train.Example``."""
    label = row.get("label", -1)
    feats = {
        "id": _bytes([_text(row.get("id"))]),
        "image": _bytes([image_bytes]),
        "height": _int(height),
        "width": _int(width),
        "label": _int(-1 if label is None or label != label else label),
        "label_name": _bytes([_text(row.get("label_name"))]),
        "title": _bytes([_text(row.get("title"))]),
        "description": _bytes([_text(row.get("description"))]),
        "tags": _bytes(_as_list(row.get("tags"))),
        "captions": _bytes(_as_list(row.get("captions"))),
        "split": _bytes([_text(row.get("split"))]),
        "image_path": _bytes([_text(row.get("image_path"))]),
    }
    ex = tf.train.Example(features=tf.train.Features(feature=feats))
    return ex.SerializeToString()


def parse_example(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
    """Parses one serialised record: scalars, ``tags`` joined by spaces,
    ``captions`` a 1-D string tensor, ``image`` still JPEG bytes."""
    ex = tf.io.parse_single_example(serialized, FEATURES)
    tags = tf.sparse.to_dense(ex["tags"], default_value="")
    ex["tags"] = tf.strings.reduce_join(tags, separator=" ")
    ex["captions"] = tf.sparse.to_dense(ex["captions"], default_value="")
    ex["label"] = tf.cast(ex["label"], tf.int32)
    return ex


def parse_examples(
    serialized: tf.Tensor, keys: Sequence[str] | None = None
) -> dict[str, tf.Tensor]:
    """Batched ``parse_example`` of a ``[B]`` string tensor (several times
    faster per record in ``tf.data``); only ``keys`` when given. ``captions``
    comes back ragged ``[B, None]``."""
    keys = list(FEATURES) if keys is None else list(keys)
    bad = [k for k in keys if k not in FEATURES]
    if bad:
        raise ValueError(f"unknown record keys {bad}; valid: {list(FEATURES)}")
    ex = tf.io.parse_example(serialized, {k: FEATURES[k] for k in keys})
    if "tags" in ex:
        tags = tf.RaggedTensor.from_sparse(ex["tags"])
        ex["tags"] = tf.strings.reduce_join(tags, axis=-1, separator=" ")
    if "captions" in ex:
        ex["captions"] = tf.RaggedTensor.from_sparse(ex["captions"])
    if "label" in ex:
        ex["label"] = tf.cast(ex["label"], tf.int32)
    return ex


def write_shard(path: str | os.PathLike, records: Iterable[bytes]) -> int:
    """Writes serialised records to ``path`` atomically; returns the count."""
    n = 0
    with atomic_path(path) as tmp:
        with tf.io.TFRecordWriter(str(tmp)) as w:
            for rec in records:
                w.write(rec)
                n += 1
    return n


def list_shards(source: str | os.PathLike, split: str | None = None) -> list[str]:
    """Shard files of ``source`` (a directory, a glob or one file), sorted.

    With ``split`` only shards named ``{split}-*``. Raises ``ValueError``
    naming ``source`` when nothing matches.
    """
    source = str(source)
    if os.path.isdir(source):
        prefix = f"{split}-" if split else ""
        files = glob.glob(os.path.join(source, f"{prefix}*{SHARD_SUFFIX}"))
    elif any(ch in source for ch in "*?["):
        files = glob.glob(source)
        if split:
            files = [f for f in files if os.path.basename(f).startswith(f"{split}-")]
    else:
        files = [source] if os.path.exists(source) else []
    files = sorted(f for f in files if not os.path.basename(f).startswith("."))
    if not files:
        raise ValueError(
            f"no TFRecord shards in {source!r}"
            + (f" for split {split!r}" if split else "")
        )
    return files


def read_stats(directory: str | os.PathLike) -> dict[str, Any] | None:
    """The ``stats.json`` beside the shards, or ``None``."""
    path = os.path.join(str(directory), STATS_FILE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def record_dataset(
    source: str | os.PathLike,
    *,
    split: str | None = None,
    shard: tuple[int, int] | None = None,
    shuffle_files: bool = False,
    seed: int | None = None,
    num_parallel_reads: int | None = tf.data.AUTOTUNE,
    deterministic: bool | None = None,
    keys: Sequence[str] | None = None,
    parse_batch: int = 128,
) -> tf.data.Dataset:
    """Parsed records (``parse_example`` dicts, image still encoded).

    ``shard=(num_workers, index)`` splits by file when there are at least as
    many files as workers, else by record. ``keys`` limits the parsed
    features; records are parsed ``parse_batch`` at a time, then unbatched.
    """
    files = list_shards(source, split)
    ds = tf.data.Dataset.from_tensor_slices(files)
    by_file = shard is not None and len(files) >= shard[0]
    if by_file:
        ds = ds.shard(shard[0], shard[1])
    if shuffle_files:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    ds = ds.interleave(
        tf.data.TFRecordDataset,
        cycle_length=min(len(files), 8),
        num_parallel_calls=num_parallel_reads,
        deterministic=deterministic,
    )
    if shard is not None and not by_file:
        ds = ds.shard(shard[0], shard[1])
    ds = ds.batch(parse_batch).map(
        _nc(lambda b: parse_examples(b, keys)), num_parallel_calls=tf.data.AUTOTUNE
    )
    return ds.unbatch()


def read_records(
    source: str | os.PathLike,
    *,
    split: str | None = None,
    decode: bool = True,
    apply_exif: bool = False,
) -> tf.data.Dataset:
    """Shards back as feature dicts: ``image`` float32 raw [0,255] [H,W,3]
    (decoded, at the stored size) or the JPEG bytes with ``decode=False``."""

    def dec(ex):
        if decode:
            img = tf.io.decode_jpeg(ex["image"], channels=3)
            ex["image"] = tf.cast(img, tf.float32)
        return ex

    ds = record_dataset(source, split=split, deterministic=True)
    return ds.map(_nc(dec), num_parallel_calls=tf.data.AUTOTUNE)
