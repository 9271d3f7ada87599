"""Parts shared by the pipelines: manifest columns, the image stage, batching."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import tensorflow as tf

from mmvision.data import augment as augment_lib
from mmvision.data import images
from mmvision.data.pipelines.options import AUTOTUNE, ImageOptions
from mmvision.data.skips import PipelineStats

# Dataset functions here have no Python control flow on tensors: skip AutoGraph.
_nc = tf.autograph.experimental.do_not_convert

#: Fields a feature dict can carry besides "image".
TEXT_KEYS = ("id", "title", "description", "tags", "label_name", "split", "image_path")
FIELDS = ("image", "label", *TEXT_KEYS)
LABEL_MODES = ("int", "categorical", "none")

Source = pd.DataFrame | str | os.PathLike


def dataset_stats(ds: tf.data.Dataset) -> PipelineStats:
    """The ``PipelineStats`` of a dataset returned by ``mmvision.data.pipelines``."""
    stats = getattr(ds, "_mmvision_stats", None)
    if stats is None:
        raise ValueError("dataset was not built by mmvision.data.pipelines")
    return stats


def _attach(ds: tf.data.Dataset, stats: PipelineStats) -> tf.data.Dataset:
    ds._mmvision_stats = stats
    return ds


def _shard_args(shard: Any) -> tuple[int, int] | None:
    if shard is None:
        return None
    if hasattr(shard, "num_input_pipelines"):
        return int(shard.num_input_pipelines), int(shard.input_pipeline_id)
    n, i = shard
    if not 0 <= int(i) < int(n):
        raise ValueError(f"shard index must be in [0, {n}), got {i}")
    return int(n), int(i)


def _check_fields(fields: Sequence[str]) -> None:
    bad = [f for f in fields if f not in FIELDS]
    if bad:
        raise ValueError(f"unknown fields {bad}; valid: {list(FIELDS)}")


def _select_split(df: pd.DataFrame, split: str | Sequence[str] | None):
    if split is None:
        return df.reset_index(drop=True)
    splits = [split] if isinstance(split, str) else list(split)
    out = df[df["split"].isin(splits)].reset_index(drop=True)
    if out.empty:
        have = sorted(set(df["split"]))
        raise ValueError(f"no rows with split {splits}; the manifest has {have}")
    return out


def _str_array(values: Iterable[Any]) -> np.ndarray:
    return np.array(["" if v is None else str(v) for v in values], dtype=object)


def _joined_tags(values: Iterable[Any]) -> np.ndarray:
    out = []
    for v in values:
        if v is None or isinstance(v, float):
            out.append("")
        elif isinstance(v, str):
            out.append(v)
        else:
            out.append(" ".join(str(t) for t in list(v)))
    return np.array(out, dtype=object)


def _manifest_tensors(df: pd.DataFrame) -> dict[str, np.ndarray]:
    cols = {
        "image_path": _str_array(df["image_path"]),
        "label": df["label"].to_numpy(np.int32),
    }
    for key in ("id", "title", "description", "label_name", "split"):
        cols[key] = _str_array(df[key])
    cols["tags"] = _joined_tags(df["tags"])
    return cols


def _drop_unlabelled_rows(df: pd.DataFrame, stats: PipelineStats) -> pd.DataFrame:
    bad = df["label"] < 0
    for ident in df["id"][bad]:
        stats.skip("unlabelled", str(ident))
    return df[~bad].reset_index(drop=True)


class _ImageSpec:
    """The image stage of a pipeline: an ``ImageOptions`` plus its run state.

    Holds the ``PipelineStats`` to fill and the ``mean_std`` in use (computed
    from the data for ``normalization="standardize"`` without ``mean_std``).
    """

    def __init__(self, options: ImageOptions, stats: PipelineStats):
        self.options = options
        self.size = options.image_size
        self.crop = options.crop
        self.normalization = options.normalization
        self.mean_std = options.mean_std
        self.augment = augment_lib.get(options.augment)
        self.stats = stats
        self.npc = options.num_parallel_calls
        self.deterministic = options.deterministic
        self.antialias = options.antialias

    def _resizes_at_load(self, stored) -> bool:
        return self.crop != "random" and tuple(stored or ()) != self.size

    def load(self, ds, path_key="image_path", out_key="image", stored=None):
        """Decodes (robustly) and, unless the crop is random, resizes.

        ``stored``: the size images are known to have (TFRecord shards); no
        resize is done when it is the requested size. The decode + resize is
        ``images.bytes_to_pixels``.
        """
        o = self.options
        resize = self._resizes_at_load(stored)
        return images.load_image_dataset(
            ds,
            path_key=path_key,
            out_key=out_key,
            stats=self.stats,
            strict=o.strict,
            min_side=o.min_side,
            apply_exif=o.apply_exif,
            image_size=self.size if resize else None,
            crop=self.crop,
            antialias=self.antialias,
            drop_flag=False,
            num_parallel_calls=self.npc,
            deterministic=self.deterministic,
        )

    def load_trusted(self, elem, keep, stored=None):
        """Decodes a record's JPEG (written by the builder) and resizes it.

        The builder stored plain, upright JPEGs: the fast decode, no EXIF.
        """
        out = {k: v for k, v in elem.items() if k in keep and k != "image"}
        if self._resizes_at_load(stored):
            out["image"] = images.bytes_to_pixels(
                elem["image"], self.size, self.crop, apply_exif=False, fast=True,
                antialias=self.antialias,
            )  # fmt: skip
        else:
            out["image"] = tf.io.decode_jpeg(elem["image"], channels=3)
        return out

    def finish_one(self, image, seed):
        """Random crop, augmentation and normalisation of one loaded image."""
        image = tf.cast(image, tf.float32)
        if self.crop == "random":
            s_crop, seed = tf.unstack(
                tf.random.experimental.stateless_split(seed, num=2)
            )
            image = images.resize_image(
                image, self.size, "random", seed=s_crop, antialias=self.antialias
            )
        if self.augment is not None:
            image = self.augment(image, seed=seed)
        mean, std = self.mean_std if self.mean_std else (None, None)
        return images.normalize_image(image, self.normalization, mean, std)

    @property
    def random(self) -> bool:
        return self.crop == "random" or self.augment is not None

    def compute_mean_std(self, ds, keys, max_images=None):
        """Mean/std of raw resized images (before augmentation) of ``ds``."""
        if self.normalization != "standardize" or self.mean_std is not None:
            return
        if max_images is None:
            max_images = self.options.stats_max_images
        key = keys[0]
        sample = ds.take(max_images)
        if self.crop == "random":
            sample = sample.map(
                _nc(lambda e: {key: images.resize_image(e[key], self.size, "center")})
            )
        before = self.stats.snapshot()
        it = (b[key] for b in sample.map(_nc(lambda e: {key: e[key]})).batch(64))
        mean, std = images.compute_mean_std(b.numpy() for b in it)
        # Skips seen by this extra pass are counted again when the data is read.
        self.stats.restore(before)
        self.mean_std = (mean, std)
        self.stats.mean, self.stats.std = mean, std


def _with_seeds(
    ds: tf.data.Dataset, seed: int | None, needed: bool = True
) -> tf.data.Dataset:
    """Zips per-element stateless seeds (a dummy constant when not ``needed``)."""
    if not needed:
        return ds.map(_nc(lambda e: (e, tf.zeros([2], tf.int32))))
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    seeds = seeds.batch(2).map(_nc(lambda s: tf.cast(s % (2**31 - 1), tf.int32)))
    return tf.data.Dataset.zip(ds, seeds)


def _finish(
    ds: tf.data.Dataset,
    *,
    batch_size: int | None,
    drop_remainder: bool,
    prefetch: bool,
    stats: PipelineStats,
) -> tf.data.Dataset:
    if batch_size is not None:
        ds = ds.batch(int(batch_size), drop_remainder=drop_remainder)
    if prefetch:
        ds = ds.prefetch(AUTOTUNE)
    return _attach(ds, stats)


def _cache_and_shuffle(ds, cache, shuffle, shuffle_buffer, seed, n_items):
    """Caches (if asked) and shuffles after the cache."""
    if cache:
        ds = ds.cache(cache if isinstance(cache, str) else "")
        if shuffle:
            buf = max(1, min(int(shuffle_buffer), n_items or int(shuffle_buffer)))
            ds = ds.shuffle(buf, seed=seed, reshuffle_each_iteration=True)
    return ds


def _load_many(spec: _ImageSpec, ds, keys: Sequence[str]):
    for k in keys:
        ds = spec.load(ds, path_key=f"{k}_path", out_key=k)
    return ds


def _finish_many(spec: _ImageSpec, keys: Sequence[str]):
    def fn(e, seed_t):
        seeds = tf.unstack(tf.random.experimental.stateless_split(seed_t, len(keys)))
        return {k: spec.finish_one(e[k], s) for k, s in zip(keys, seeds)}

    return fn
