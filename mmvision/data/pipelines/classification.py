"""Classification batches ``(features, label)`` from a Manifest or TFRecord shards."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import pandas as pd
import tensorflow as tf

from mmvision.data import records
from mmvision.data.manifest import validate_manifest
from mmvision.data.pipelines.common import (
    LABEL_MODES,
    Source,
    _cache_and_shuffle,
    _check_fields,
    _drop_unlabelled_rows,
    _finish,
    _ImageSpec,
    _manifest_tensors,
    _nc,
    _select_split,
    _shard_args,
    _with_seeds,
)
from mmvision.data.pipelines.options import (
    ImageOptions,
    _check_choice,
    resolve_image_options,
)
from mmvision.data.skips import PipelineStats


def _records_source(
    source, *, fields, split, shard, shuffle, shuffle_buffer, seed, cache,
    deterministic, label_mode, num_classes,
):  # fmt: skip
    """Records of ``split`` from shards: ``(ds, stored_size, num_classes)``."""
    rec_keys = {"image", "label", "image_path", "id", *fields}
    if split is not None and not isinstance(split, str):
        rec_keys.add("split")
    ds = records.record_dataset(
        source,
        split=split if isinstance(split, str) else None,
        shard=shard,
        shuffle_files=shuffle,
        seed=seed,
        deterministic=deterministic,
        keys=sorted(rec_keys & set(records.FEATURES)),
    )
    if split is not None and not isinstance(split, str):
        allowed = tf.constant(list(split))
        ds = ds.filter(_nc(lambda e: tf.reduce_any(tf.equal(e["split"], allowed))))
    if shuffle and not cache:
        ds = ds.shuffle(int(shuffle_buffer), seed=seed)
    info = records.read_stats(source) if os.path.isdir(str(source)) else None
    stored = (info or {}).get("image_size")
    if label_mode != "none":
        # Unlabelled records are dropped; the builder's stats.json counts them.
        ds = ds.filter(_nc(lambda e: e["label"] >= 0))
    if label_mode == "categorical" and num_classes is None:
        num_classes = (info or {}).get("num_classes")
        if not num_classes:
            raise ValueError(
                f"label_mode='categorical' needs num_classes for shards {source}"
            )
    return ds, stored, num_classes


def classification_dataset(
    source: Source,
    *,
    image_options: ImageOptions | None = None,
    batch_size: int | None = 32,
    fields: Sequence[str] = ("image",),
    label_mode: str = "int",
    num_classes: int | None = None,
    split: str | Sequence[str] | None = None,
    shuffle: bool = False,
    shuffle_buffer: int = 2048,
    seed: int | None = None,
    cache: bool | str = False,
    shard: Any = None,
    drop_remainder: bool = False,
    stats: PipelineStats | None = None,
    prefetch: bool = True,
    **image_kwargs: Any,
) -> tf.data.Dataset:
    """``(features, label)`` batches for ``model.fit`` from a Manifest or shards.

    Args:
        source: a Manifest DataFrame, or TFRecord shards (a directory, glob
            or file written by ``data_pipelines/build_tfrecords.py``).
        image_options: the image settings (``ImageOptions``); or pass them
            as the keywords of the same names (``image_size``, ``crop``,
            ``normalization``, ``mean_std``, ``stats_max_images``,
            ``augment``, ``strict``, ``min_side``, ``apply_exif``,
            ``num_parallel_calls``, ``deterministic``), documented there.
            Defaults: 224, no crop, raw [0, 255] pixels, no augmentation.
        batch_size: ``None`` for unbatched elements.
        fields: feature-dict keys: any of ``FIELDS``.
        label_mode: ``"int"`` (int32), ``"categorical"`` (one-hot float32,
            needs ``num_classes`` or infers ``max(label) + 1``) or ``"none"``
            (features only). Unlabelled rows (label -1) are dropped unless
            ``"none"``: counted as ``unlabelled`` for a Manifest; for shards
            the builder's ``stats.json`` has ``unlabelled_records``.
        split: keep only rows (shards) of this split or list of splits.
        shuffle, shuffle_buffer, seed, cache, shard: see the package docstring.
        stats: a ``PipelineStats`` to fill (a new one otherwise).

    Example:
    >>> ds = classification_dataset(manifest, image_size=64, fields=("image",
    ...     "title"), split="train", shuffle=True, seed=0)  # doctest: +SKIP
    >>> model.fit(ds, epochs=3)  # doctest: +SKIP
    """
    _check_fields(fields)
    _check_choice("label_mode", label_mode, LABEL_MODES)
    opts = resolve_image_options(image_options, **image_kwargs)
    stats = stats if stats is not None else PipelineStats()
    spec = _ImageSpec(opts, stats)
    shard = _shard_args(shard)
    from_records = not isinstance(source, pd.DataFrame)

    if from_records:
        ds, stored, num_classes = _records_source(
            source, fields=fields, split=split, shard=shard, shuffle=shuffle,
            shuffle_buffer=shuffle_buffer, seed=seed, cache=cache,
            deterministic=opts.deterministic, label_mode=label_mode,
            num_classes=num_classes,
        )  # fmt: skip
        n_items = None
    else:
        validate_manifest(source)
        df = _select_split(source, split)
        stored = None
        if label_mode != "none":
            df = _drop_unlabelled_rows(df, stats)
        if label_mode == "categorical" and num_classes is None:
            num_classes = int(df["label"].max()) + 1
        n_items = len(df)
        ds = tf.data.Dataset.from_tensor_slices(_manifest_tensors(df))
        if shard is not None:
            ds = ds.shard(*shard)
        if shuffle and not cache:
            ds = ds.shuffle(max(n_items, 1), seed=seed, reshuffle_each_iteration=True)
    keep = set(fields) | {"label", "image"}
    if from_records:
        # Shards hold images the Beam builder already decoded, validated and
        # re-encoded as JPEG: a plain parallel decode, no fallback cascade.
        ds = ds.map(
            _nc(lambda e: spec.load_trusted(e, keep, stored)),
            num_parallel_calls=spec.npc,
            deterministic=spec.deterministic,
        )
    else:
        ds = ds.map(
            _nc(
                lambda e: {k: v for k, v in e.items() if k in keep or k == "image_path"}
            )
        )
        ds = spec.load(ds)
        ds = ds.map(_nc(lambda e: {k: v for k, v in e.items() if k in keep}))
    spec.compute_mean_std(ds, ["image"])
    ds = _cache_and_shuffle(ds, cache, shuffle, shuffle_buffer, seed, n_items)

    def finish(e, seed_t):
        e = dict(e)
        e["image"] = spec.finish_one(e["image"], seed_t)
        feats = {k: e[k] for k in fields}
        if label_mode == "none":
            return feats
        label = e["label"]
        if label_mode == "categorical":
            label = tf.one_hot(label, int(num_classes), dtype=tf.float32)
        return feats, label

    if spec.random:
        ds = _with_seeds(ds, seed).map(
            _nc(finish),
            num_parallel_calls=spec.npc,
            deterministic=spec.deterministic,
        )
    else:  # no per-element seeds needed: skip the zip (a per-element cost)
        no_seed = tf.zeros([2], tf.int32)
        ds = ds.map(
            _nc(lambda e: finish(e, no_seed)),
            num_parallel_calls=spec.npc,
            deterministic=spec.deterministic,
        )
    return _finish(
        ds,
        batch_size=batch_size,
        drop_remainder=drop_remainder,
        prefetch=prefetch,
        stats=stats,
    )
