"""Balanced image pairs ``({"image_a", "image_b"}, same)`` for siamese models."""

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
from mmvision.samplers import balanced_pairs


def pair_dataset(
    manifest: pd.DataFrame,
    *,
    image_options: ImageOptions | None = None,
    split: str | Sequence[str] | None = "train",
    n_pairs: int | None = None,
    resample: bool = True,
    batch_size: int | None = 32,
    seed: int | None = 0,
    shard: Any = None,
    drop_remainder: bool = False,
    stats: PipelineStats | None = None,
    prefetch: bool = True,
    **image_kwargs: Any,
) -> tf.data.Dataset:
    """Balanced image pairs: ``({"image_a", "image_b"}, same)``.

    ``same`` is float32 1.0 (same class) or 0.0, alternating exactly 50/50
    (``mmvision.samplers.balanced_pairs``). Pairs are drawn from the rows of
    ``split`` only, so validation pairs (``split="val"``) never contain a
    training image. ``resample=True`` draws new pairs every epoch (each
    epoch's draw is fixed by ``seed`` and the epoch number);
    ``resample=False`` gives the same pairs every epoch (use it for
    validation). ``n_pairs`` defaults to the number of rows. Positives come
    from classes with 2+ images; a negative's partner is uniform over the
    images of the other classes.

    Args:
        image_options: the image settings (``ImageOptions``), or the
            keywords of the same names, as in ``classification_dataset``.
        Others: as ``classification_dataset``.
    """
    opts = resolve_image_options(image_options, **image_kwargs)
    validate_manifest(manifest)
    stats = stats if stats is not None else PipelineStats()
    df = _select_split(manifest, split)
    rows = balanced_pairs(
        df["label"].to_numpy(), n_pairs, seed, resample, what="pair_dataset"
    )
    paths = tf.constant(_str_array(df["image_path"]))
    spec = _ImageSpec(opts, stats)
    ds = rows.map(
        _nc(
            lambda r: {
                "image_a_path": tf.gather(paths, r["a"]),
                "image_b_path": tf.gather(paths, r["b"]),
                "label": tf.cast(r["same"], tf.float32),
            }
        )
    )
    shard = _shard_args(shard)
    if shard is not None:
        ds = ds.shard(*shard)
    keys = ("image_a", "image_b")
    ds = _load_many(spec, ds, keys)
    spec.compute_mean_std(ds, ["image_a"])
    fin = _finish_many(spec, keys)
    ds = _with_seeds(ds, seed, spec.random).map(
        _nc(lambda e, s: (fin(e, s), e["label"])),
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
