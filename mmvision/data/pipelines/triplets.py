"""Image triplets ``{"anchor", "positive", "negative"}`` for ranking losses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import tensorflow as tf

from mmvision.data.manifest import validate_manifest
from mmvision.data.pipelines.common import (
    _finish,
    _finish_many,
    _ImageSpec,
    _load_many,
    _nc,
    _select_split,
    _shard_args,
    _str_array,
    _with_seeds,
)
from mmvision.data.pipelines.options import ImageOptions, resolve_image_options
from mmvision.data.skips import PipelineStats
from mmvision.samplers import class_triplets

_TRIPLET_COLUMNS = (
    ("anchor", "positive", "negative"),
    ("anchor_path", "positive_path", "negative_path"),
    ("query", "positive", "negative"),
    ("query_path", "positive_path", "negative_path"),
)
_KEYS = ("anchor", "positive", "negative")


def _triplet_table(source: Any) -> pd.DataFrame | None:
    if isinstance(source, pd.DataFrame):
        for cols in _TRIPLET_COLUMNS:
            if all(c in source.columns for c in cols):
                out = source[list(cols)].copy()
                out.columns = list(_KEYS)
                return out.reset_index(drop=True)
        return None
    rows = [tuple(map(str, t)) for t in source]
    bad = [t for t in rows if len(t) != 3]
    if bad:
        raise ValueError(f"triplets must have 3 paths each, got e.g. {bad[0]}")
    return pd.DataFrame(rows, columns=list(_KEYS))


def triplet_dataset(
    source: pd.DataFrame | Sequence[Sequence[str]],
    *,
    image_options: ImageOptions | None = None,
    split: str | Sequence[str] | None = "train",
    n_triplets: int | None = None,
    resample: bool = True,
    batch_size: int | None = 32,
    dummy_target: bool = True,
    shuffle: bool = False,
    seed: int | None = 0,
    shard: Any = None,
    drop_remainder: bool = False,
    stats: PipelineStats | None = None,
    prefetch: bool = True,
    in_class_fraction: float = 0.0,
    relevance: Any = None,
    **image_kwargs: Any,
) -> tf.data.Dataset:
    """Triplets ``{"anchor", "positive", "negative"}`` of images.

    ``source`` is either a triplet table (DataFrame with columns
    anchor/positive/negative paths — ``query`` and ``*_path`` spellings
    accepted — or a list of 3-tuples of paths, as the deep-ranking triplet
    list), used as is; or a classification Manifest, from whose ``split``
    rows ``n_triplets`` (default: number of rows) triplets are sampled in
    the graph (``mmvision.samplers.class_triplets``): anchor from a class
    with 2+ images, positive another image of its class, negative uniform
    over the other classes' images, redrawn every epoch when ``resample``.
    A triplet with an unusable image is dropped and counted. With
    ``dummy_target`` elements are ``(features, 0.0)`` so that a Keras loss
    ignoring ``y_true`` works with ``model.fit``; otherwise features only.

    Args:
        image_options: the image settings (``ImageOptions``), or the
            keywords of the same names, as in ``classification_dataset``.
        in_class_fraction, relevance: sampled triplets only: the fraction
            of in-class triplets and their golden features, one row per
            row of the split (see ``samplers.class_triplets``).
        Others: as ``classification_dataset``.
    """
    opts = resolve_image_options(image_options, **image_kwargs)
    stats = stats if stats is not None else PipelineStats()
    spec = _ImageSpec(opts, stats)
    table = _triplet_table(source)
    if table is not None:
        data = {f"{k}_path": _str_array(table[k]) for k in _KEYS}
        ds = tf.data.Dataset.from_tensor_slices(data)
        if shuffle:
            ds = ds.shuffle(len(table), seed=seed, reshuffle_each_iteration=True)
    else:
        validate_manifest(source)
        df = _select_split(source, split)
        rows = class_triplets(
            df["label"].to_numpy(), n_triplets, seed, resample, what="triplet_dataset",
            in_class_fraction=in_class_fraction, relevance=relevance,
        )  # fmt: skip
        paths = tf.constant(_str_array(df["image_path"]))
        ds = rows.map(
            _nc(lambda r: {f"{k}_path": tf.gather(paths, r[k]) for k in _KEYS})
        )
    shard = _shard_args(shard)
    if shard is not None:
        ds = ds.shard(*shard)
    ds = _load_many(spec, ds, _KEYS)
    spec.compute_mean_std(ds, ["anchor"])
    fin = _finish_many(spec, _KEYS)

    def out(e, s):
        feats = fin(e, s)
        return (feats, tf.constant(0.0)) if dummy_target else feats

    ds = _with_seeds(ds, seed, spec.random).map(
        _nc(out), num_parallel_calls=spec.npc, deterministic=spec.deterministic
    )
    return _finish(
        ds,
        batch_size=batch_size,
        drop_remainder=drop_remainder,
        prefetch=prefetch,
        stats=stats,
    )
