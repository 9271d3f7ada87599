"""tf.data pipelines from a Manifest (or TFRecord shards) to ``model.fit`` inputs.

Every pipeline returns a ``tf.data.Dataset`` of ``(features, target)``
tuples whose feature keys are Manifest column names (DESIGN.md): ``"image"``
float32 ``[H, W, 3]`` raw ``[0, 255]`` by default, ``"title"``,
``"description"``, ``"tags"`` (joined by spaces), ``"id"``, ... Steps, in
order: shard (per worker) → shuffle → parallel decode (AUTOTUNE; robust, see
``mmvision.data.images``) → resize / crop → cache → augment → normalise →
batch → prefetch.

Skip-and-count: an image that cannot be read or decoded is dropped and
counted by reason in a ``PipelineStats`` (pass ``stats=`` or get it with
``dataset_stats(ds)``); with ``strict=True`` iteration raises an error whose
message names the file. Nothing in a file kills an epoch.

Caching: ``cache=True`` caches decoded, resized images in memory (a string
caches to that file prefix); shuffling then happens after the cache with
``shuffle_buffer`` elements, so epochs still differ. Without a cache the
(cheap) file list is shuffled completely before decoding.

Randomness: ``seed`` fixes the shuffle order sequence, the per-element
augmentation seeds and the pair / triplet sampling; each epoch differs
(``reshuffle_each_iteration`` / ``Dataset.random(rerandomize_each_iteration)``)
but a rerun with the same seed repeats every epoch.

Sharding: ``shard=(num_workers, index)`` or a ``tf.distribute.InputContext``
(as given to ``distribute_datasets_from_function``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import tensorflow as tf

from mmvision.data import augment as augment_lib
from mmvision.data import images, records
from mmvision.data.images import PipelineStats
from mmvision.data.manifest import validate_manifest

# Dataset functions here have no Python control flow on tensors: skip AutoGraph.
_nc = tf.autograph.experimental.do_not_convert

AUTOTUNE = tf.data.AUTOTUNE

#: Fields a feature dict can carry besides "image".
TEXT_KEYS = ("id", "title", "description", "tags", "label_name", "split", "image_path")
FIELDS = ("image", "label", *TEXT_KEYS)
LABEL_MODES = ("int", "categorical", "none")

Source = pd.DataFrame | str | os.PathLike


# ----------------------------------------------------------------- helpers
def dataset_stats(ds: tf.data.Dataset) -> PipelineStats:
    """The ``PipelineStats`` of a dataset returned by this module."""
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


def _size(image_size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(image_size, int):
        return image_size, image_size
    h, w = image_size
    return int(h), int(w)


def _check_fields(fields: Sequence[str]) -> None:
    bad = [f for f in fields if f not in FIELDS]
    if bad:
        raise ValueError(f"unknown fields {bad}; valid: {list(FIELDS)}")


def _check_choice(name: str, value: str, valid: Sequence[str]) -> None:
    if value not in valid:
        raise ValueError(f"unknown {name} {value!r}; valid: {list(valid)}")


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
    """Decode / resize / augment / normalise settings shared by the pipelines."""

    def __init__(
        self,
        image_size,
        crop,
        normalization,
        mean_std,
        augment,
        strict,
        min_side,
        apply_exif,
        stats,
        num_parallel_calls,
        deterministic,
        antialias=False,
    ):
        _check_choice("crop", crop, images.CROPS)
        _check_choice("normalization", normalization, images.NORMALIZATIONS)
        self.size = _size(image_size)
        self.crop = crop
        self.normalization = normalization
        self.mean_std = mean_std
        self.augment = augment_lib.get(augment)
        self.strict = strict
        self.min_side = int(min_side)
        self.apply_exif = apply_exif
        self.stats = stats
        self.npc = num_parallel_calls
        self.deterministic = deterministic
        self.antialias = antialias

    def load(
        self, ds, path_key="image_path", out_key="image", bytes_key=None, stored=None
    ):
        """Decodes (robustly) and, unless the crop is random, resizes.

        ``stored``: the size images are known to have (TFRecord shards); no
        resize is done when it is the requested size.
        """
        post = None
        if self.crop != "random" and tuple(stored or ()) != self.size:
            post = lambda img: images.resize_image(
                img, self.size, self.crop, antialias=self.antialias
            )
        return images.load_image_dataset(
            ds,
            path_key=path_key,
            bytes_key=bytes_key,
            out_key=out_key,
            stats=self.stats,
            strict=self.strict,
            min_side=self.min_side,
            apply_exif=self.apply_exif,
            post=post,
            drop_flag=False,
            num_parallel_calls=self.npc,
            deterministic=self.deterministic,
        )

    def load_trusted(self, elem, keep, stored=None):
        """Decodes a record's JPEG (written by the builder) and resizes it."""
        out = {k: v for k, v in elem.items() if k in keep and k != "image"}
        img = tf.io.decode_jpeg(elem["image"], channels=3)
        if self.crop != "random" and tuple(stored or ()) != self.size:
            img = images.resize_image(
                img, self.size, self.crop, antialias=self.antialias
            )
        out["image"] = img
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

    def compute_mean_std(self, ds, keys, max_images):
        """Mean/std of raw resized images (before augmentation) of ``ds``."""
        if self.normalization != "standardize" or self.mean_std is not None:
            return
        key = keys[0]
        sample = ds.take(max_images)
        if self.crop == "random":
            sample = sample.map(
                _nc(lambda e: {key: images.resize_image(e[key], self.size, "center")})
            )
        before = (
            self.stats.skipped.copy(),
            {k: list(v) for k, v in self.stats.examples.items()},
        )
        it = (b[key] for b in sample.map(_nc(lambda e: {key: e[key]})).batch(64))
        mean, std = images.compute_mean_std(b.numpy() for b in it)
        # Skips seen by this extra pass are counted again when the data is read.
        self.stats.skipped, self.stats.examples = before
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


# ------------------------------------------------------------ classification
def classification_dataset(
    source: Source,
    *,
    image_size: int | Sequence[int] = 224,
    batch_size: int | None = 32,
    fields: Sequence[str] = ("image",),
    label_mode: str = "int",
    num_classes: int | None = None,
    split: str | Sequence[str] | None = None,
    crop: str = "none",
    normalization: str = "raw",
    mean_std: tuple[Sequence[float], Sequence[float]] | None = None,
    stats_max_images: int = 1000,
    augment: str | Callable | None = None,
    shuffle: bool = False,
    shuffle_buffer: int = 2048,
    seed: int | None = None,
    cache: bool | str = False,
    shard: Any = None,
    drop_remainder: bool = False,
    strict: bool = False,
    min_side: int = 1,
    apply_exif: bool = True,
    stats: PipelineStats | None = None,
    num_parallel_calls: int | None = AUTOTUNE,
    deterministic: bool | None = None,
    prefetch: bool = True,
) -> tf.data.Dataset:
    """``(features, label)`` batches for ``model.fit`` from a Manifest or shards.

    Args:
        source: a Manifest DataFrame, or TFRecord shards (a directory, glob
            or file written by ``data_pipelines/build_tfrecords.py``).
        image_size: output ``(height, width)`` (or one int).
        batch_size: ``None`` for unbatched elements.
        fields: feature-dict keys: any of ``FIELDS``.
        label_mode: ``"int"`` (int32), ``"categorical"`` (one-hot float32,
            needs ``num_classes`` or infers ``max(label) + 1``) or ``"none"``
            (features only). Unlabelled rows (label -1) are dropped unless
            ``"none"``: counted as ``unlabelled`` for a Manifest; for shards
            the builder's ``stats.json`` has ``unlabelled_records``.
        split: keep only rows (shards) of this split or list of splits.
        crop: ``"none"`` | ``"center"`` | ``"random"`` (see ``images.resize_image``).
        normalization: ``"raw"`` [0,255] | ``"unit"`` | ``"symmetric"`` |
            ``"standardize"``; the last uses ``mean_std`` or computes
            per-channel mean/std from up to ``stats_max_images`` images of
            ``source`` (stored in ``dataset_stats(ds).mean/.std``: pass them
            as ``mean_std`` to the validation pipeline).
        augment: an ``augment`` preset name or a callable ``(image, seed)``.
        shuffle, shuffle_buffer, seed, cache, shard: see the module docstring.
        strict: raise (naming the file) instead of skipping a bad image.
        min_side: images with a smaller side are dropped (``too_small``).
        apply_exif: apply EXIF orientation (``images`` module docstring).
        stats: a ``PipelineStats`` to fill (a new one otherwise).

    Example:
    >>> ds = classification_dataset(manifest, image_size=64, fields=("image",
    ...     "title"), split="train", shuffle=True, seed=0)  # doctest: +SKIP
    >>> model.fit(ds, epochs=3)  # doctest: +SKIP
    """
    _check_fields(fields)
    _check_choice("label_mode", label_mode, LABEL_MODES)
    stats = stats if stats is not None else PipelineStats()
    spec = _ImageSpec(
        image_size,
        crop,
        normalization,
        mean_std,
        augment,
        strict,
        min_side,
        apply_exif,
        stats,
        num_parallel_calls,
        deterministic,
    )
    shard = _shard_args(shard)
    from_records = not isinstance(source, pd.DataFrame)

    if from_records:
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
        n_items = None
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
    spec.compute_mean_std(ds, ["image"], stats_max_images)
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
            num_parallel_calls=num_parallel_calls,
            deterministic=deterministic,
        )
    else:  # no per-element seeds needed: skip the zip (a per-element cost)
        no_seed = tf.zeros([2], tf.int32)
        ds = ds.map(
            _nc(lambda e: finish(e, no_seed)),
            num_parallel_calls=num_parallel_calls,
            deterministic=deterministic,
        )
    return _finish(
        ds,
        batch_size=batch_size,
        drop_remainder=drop_remainder,
        prefetch=prefetch,
        stats=stats,
    )


# ------------------------------------------------------------------ captions
def _caption_encoder(
    vocab: Any,
) -> tuple[Callable[[list[str]], list[list[int]]], int, int]:
    """``(encode_many, start_id, end_id)`` for a Vocabulary or TextVectorization."""
    from mmvision.data import text as text_lib

    if hasattr(vocab, "get_vocabulary"):
        tokens = list(vocab.get_vocabulary())
        for t in (text_lib.START_TOKEN, text_lib.END_TOKEN):
            if t not in tokens:
                raise ValueError(f"TextVectorization vocabulary lacks {t!r}")
        start, end = (
            tokens.index(text_lib.START_TOKEN),
            tokens.index(text_lib.END_TOKEN),
        )

        def encode_many(texts):
            wrapped = tf.constant([text_lib.wrap(t) for t in texts], dtype=tf.string)
            out = vocab(wrapped)
            rows = out.to_list() if hasattr(out, "to_list") else out.numpy().tolist()
            return [[int(i) for i in r if int(i) != 0] for r in rows]

        return encode_many, start, end
    if not hasattr(vocab, "encode"):
        raise ValueError(
            "vocab must be a mmvision.data.text.Vocabulary (or have .encode) "
            f"or a keras TextVectorization, got {type(vocab).__name__}"
        )
    if hasattr(vocab, "index"):
        start = int(vocab.index(text_lib.START_TOKEN))
        end = int(vocab.index(text_lib.END_TOKEN))
    else:
        start, end = text_lib.START_ID, text_lib.END_ID

    def encode_one(t):
        try:
            ids = list(vocab.encode(t))
        except TypeError:
            ids = list(vocab.encode(t, 10_000))
        ids = [int(i) for i in ids]
        while ids and ids[-1] == 0:
            ids.pop()
        if not ids or ids[0] != start:
            ids = [start, *ids]
        if ids[-1] != end:
            ids = [*ids, end]
        return ids

    return lambda texts: [encode_one(t) for t in texts], start, end


def caption_sequences(
    captions: Sequence[str], vocab: Any, max_len: int = 32, per_word: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Token arrays for captions: ``(caption_index, inputs, targets)``.

    Teacher forcing (default): ids ``[startseq, w1..wn, endseq]`` cut to
    ``max_len + 1``; ``inputs = ids[:-1]``, ``targets = ids[1:]``, both
    right-padded with 0 to ``max_len`` (padding is masked in the loss by id 0).

    ``per_word=True`` reproduces the reference notebooks' expansion: one row
    per prefix; ``inputs`` is the prefix left-padded (keras
    ``pad_sequences`` default, keeping the last ``max_len`` ids), ``targets``
    the next word id (scalar per row).
    """
    encode_many, _, _ = _caption_encoder(vocab)
    seqs = encode_many(list(captions))
    idx, ins, outs = [], [], []
    for ci, ids in enumerate(seqs):
        if per_word:
            for i in range(1, len(ids)):
                prefix = ids[:i][-max_len:]
                ins.append([0] * (max_len - len(prefix)) + prefix)
                outs.append(ids[i])
                idx.append(ci)
        else:
            ids = ids[: max_len + 1]
            x, y = ids[:-1], ids[1:]
            ins.append(x + [0] * (max_len - len(x)))
            outs.append(y + [0] * (max_len - len(y)))
            idx.append(ci)
    ins_a = np.asarray(ins, np.int32).reshape(-1, max_len)
    outs_a = np.asarray(outs, np.int32)
    if not per_word:
        outs_a = outs_a.reshape(-1, max_len)
    return np.asarray(idx, np.int64), ins_a, outs_a


def _feature_matrix(df: pd.DataFrame, features: Any, stats: PipelineStats):
    """Rows of ``features`` aligned with ``df``; ids without features are dropped."""
    if isinstance(features, Mapping):
        keep, vecs = [], []
        for i, ident in enumerate(df["id"]):
            v = features.get(ident)
            if v is None:
                stats.skip("missing_features", str(ident))
                continue
            keep.append(i)
            vecs.append(np.asarray(v, np.float32))
        if not vecs:
            raise ValueError("no manifest id has an entry in features")
        return np.asarray(keep), np.stack(vecs)
    arr = np.asarray(features, np.float32)
    if arr.shape[0] != len(df):
        raise ValueError(
            f"features has {arr.shape[0]} rows but the manifest has {len(df)} "
            "(after split selection); pass a dict id -> vector instead"
        )
    return np.arange(len(df)), arr


CAPTION_PADDING = ("max_len", "batch", "bucket")


def _caption_length(x: dict, y: tf.Tensor) -> tf.Tensor:
    return tf.reduce_sum(tf.cast(tf.not_equal(y, 0), tf.int32), axis=-1)


def _trim_to_longest(x: dict, y: tf.Tensor) -> tuple[dict, tf.Tensor]:
    """Cuts a batch's ``tokens_in`` / targets to its longest caption."""
    n = tf.maximum(tf.reduce_max(_caption_length(x, y)), 1)
    return {**x, "tokens_in": x["tokens_in"][:, :n]}, y[:, :n]


def length_buckets(lengths: Sequence[int], n_buckets: int = 4) -> list[int]:
    """Bucket boundaries at the length quantiles (``tf.data`` convention).

    ``bucket_by_sequence_length`` puts a length ``L`` in the first bucket
    whose boundary is ``> L``; boundaries here are the ``n_buckets``-quantiles
    of ``lengths`` plus one, without repeats.
    """
    qs = np.percentile(np.asarray(lengths), np.linspace(0, 100, n_buckets + 1)[1:-1])
    return sorted({int(q) + 1 for q in qs})


def _batch_captions(
    ds: tf.data.Dataset,
    *,
    padding: str,
    lengths: np.ndarray,
    batch_size: int | None,
    drop_remainder: bool,
    prefetch: bool,
    stats: PipelineStats,
) -> tf.data.Dataset:
    """Batches sequence examples padded to max_len, the batch or its bucket."""
    if batch_size is not None and padding != "max_len":
        if padding == "bucket":
            bounds = length_buckets(lengths)
            ds = ds.bucket_by_sequence_length(
                _caption_length,
                bounds,
                [int(batch_size)] * (len(bounds) + 1),
                drop_remainder=drop_remainder,
            )
        else:
            ds = ds.batch(int(batch_size), drop_remainder=drop_remainder)
        ds = ds.map(_nc(_trim_to_longest))
        batch_size = None  # batched here; _finish only prefetches and counts
    return _finish(
        ds,
        batch_size=batch_size,
        drop_remainder=drop_remainder,
        prefetch=prefetch,
        stats=stats,
    )


def caption_dataset(
    manifest: pd.DataFrame,
    vocab: Any,
    max_len: int = 32,
    *,
    image_size: int | Sequence[int] = 224,
    batch_size: int | None = 32,
    fields: Sequence[str] = ("image",),
    split: str | Sequence[str] | None = None,
    features: Any = None,
    per_word: bool = False,
    padding: str = "max_len",
    crop: str = "none",
    normalization: str = "raw",
    mean_std: tuple[Sequence[float], Sequence[float]] | None = None,
    augment: str | Callable | None = None,
    shuffle: bool = False,
    shuffle_buffer: int = 4096,
    seed: int | None = None,
    cache: bool | str = False,
    shard: Any = None,
    drop_remainder: bool = False,
    strict: bool = False,
    min_side: int = 1,
    apply_exif: bool = True,
    stats: PipelineStats | None = None,
    num_parallel_calls: int | None = AUTOTUNE,
    deterministic: bool | None = None,
    prefetch: bool = True,
) -> tf.data.Dataset:
    """One example per caption: ``({"image", "tokens_in"}, tokens_out)``.

    ``tokens_in`` / ``tokens_out`` are int32 ``[max_len]`` (teacher forcing,
    see ``caption_sequences``); with ``per_word=True`` one example per word
    prefix and a scalar next-word target (the reference expansion).
    With ``features`` (a dict id -> vector, or an array aligned with the
    selected rows) the images are not decoded: the feature dict holds
    ``"image_features"`` float32 instead of ``"image"`` (the cached-feature
    captioner). Each image is decoded once per epoch and shared by its
    captions; rows without captions are skipped (``no_captions``).

    Args:
        manifest: a Manifest with a ``captions`` column.
        vocab: a ``mmvision.data.text.Vocabulary`` (anything with
            ``.encode(text)``) or a keras ``TextVectorization`` whose
            vocabulary holds ``startseq`` and ``endseq``.
        max_len: sequence length.
        padding: how sequence batches are padded: ``"max_len"`` (every
            batch ``[B, max_len]``), ``"batch"`` (cut to the batch's longest
            caption) or ``"bucket"`` (captions of similar length batched
            together, at the length quartiles, then cut): the LSTM runs
            only the steps a batch needs. Batch order is random either way.
            The sequence captioner takes any length. Per-word rows always
            keep ``max_len`` (the reference's fixed prefixes).
        fields: feature keys besides the tokens: "image" plus text fields.
        Others: as ``classification_dataset``.
    """
    _check_fields(fields)
    validate_manifest(manifest)
    stats = stats if stats is not None else PipelineStats()
    df = _select_split(manifest, split)
    shard = _shard_args(shard)
    captions, row_of = [], []
    for r, caps in enumerate(df["captions"]):
        caps = list(caps) if caps is not None and not isinstance(caps, float) else []
        if not caps:
            stats.skip("no_captions", str(df["id"].iloc[r]))
        captions.extend(str(c) for c in caps)
        row_of.extend([r] * len(caps))
    if not captions:
        raise ValueError("no captions in the selected manifest rows")
    cap_idx, ins, outs = caption_sequences(captions, vocab, max_len, per_word)
    ex_row = np.asarray(row_of, np.int64)[cap_idx]
    target_shape = [] if per_word else [max_len]
    if padding not in CAPTION_PADDING:
        raise ValueError(f"padding must be one of {CAPTION_PADDING}, got {padding!r}")
    pad = "max_len" if per_word else padding

    extra = [f for f in fields if f not in ("image", "label")]
    want_label = "label" in fields
    cols = _manifest_tensors(df)

    if features is not None:
        rows, feats = _feature_matrix(df, features, stats)
        pos = np.full(len(df), -1, np.int64)
        pos[rows] = np.arange(len(rows))
        sel = pos[ex_row] >= 0
        data = {
            "image_features": feats[pos[ex_row[sel]]],
            "tokens_in": ins[sel],
        }
        for k in extra:
            data[k] = cols[k][ex_row[sel]]
        if want_label:
            data["label"] = cols["label"][ex_row[sel]]
        ds = tf.data.Dataset.from_tensor_slices((data, outs[sel]))
        if shard is not None:
            ds = ds.shard(*shard)
        if cache:
            ds = ds.cache(cache if isinstance(cache, str) else "")
        if shuffle:
            ds = ds.shuffle(int(sel.sum()), seed=seed, reshuffle_each_iteration=True)
        return _batch_captions(
            ds,
            padding=pad,
            lengths=(outs[sel] != 0).sum(axis=-1),
            batch_size=batch_size,
            drop_remainder=drop_remainder,
            prefetch=prefetch,
            stats=stats,
        )

    spec = _ImageSpec(
        image_size,
        crop,
        normalization,
        mean_std,
        augment,
        strict,
        min_side,
        apply_exif,
        stats,
        num_parallel_calls,
        deterministic,
    )
    # Examples of row r are the contiguous block [start[r], start[r]+count[r]).
    order = np.argsort(ex_row, kind="stable")
    ex_row, ins, outs = ex_row[order], ins[order], outs[order]
    count = np.bincount(ex_row, minlength=len(df))
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    has = np.nonzero(count)[0]
    img_cols = {k: v[has] for k, v in cols.items()}
    img_cols["_start"] = start[has]
    img_cols["_count"] = count[has]
    ds = tf.data.Dataset.from_tensor_slices(img_cols)
    if shard is not None:
        ds = ds.shard(*shard)
    if shuffle and not cache:
        ds = ds.shuffle(len(has), seed=seed, reshuffle_each_iteration=True)
    ds = spec.load(ds)
    spec.compute_mean_std(ds, ["image"], 1000)
    ds = _cache_and_shuffle(ds, cache, False, shuffle_buffer, seed, len(has))
    tok_in = tf.constant(ins)
    tok_out = tf.constant(outs)

    def finish(e, seed_t):
        img = spec.finish_one(e["image"], seed_t)
        s, n = e["_start"], e["_count"]
        per = {"tokens_in": tok_in[s : s + n], "_y": tok_out[s : s + n]}
        ex = tf.data.Dataset.from_tensor_slices(per)

        def attach(t):
            feats = {"image": img} if "image" in fields else {}
            for k in extra:
                feats[k] = e[k]
            if want_label:
                feats["label"] = e["label"]
            feats["tokens_in"] = t["tokens_in"]
            return feats, tf.ensure_shape(t["_y"], target_shape)

        return ex.map(_nc(attach))

    ds = _with_seeds(ds, seed, spec.random).flat_map(_nc(finish))
    if shuffle:
        ds = ds.shuffle(int(shuffle_buffer), seed=seed, reshuffle_each_iteration=True)
    return _batch_captions(
        ds,
        padding=pad,
        lengths=(outs != 0).sum(axis=-1),
        batch_size=batch_size,
        drop_remainder=drop_remainder,
        prefetch=prefetch,
        stats=stats,
    )


# ------------------------------------------------------ pair / triplet sampling
class _ClassIndex:
    """Rows sorted by label with per-class offsets, for in-graph sampling."""

    def __init__(self, labels: np.ndarray, what: str):
        labels = np.asarray(labels, np.int64)
        if (labels < 0).any():
            raise ValueError(f"{what}: the manifest has unlabelled rows (label -1)")
        classes, compact = np.unique(labels, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"{what}: needs at least 2 classes, got {len(classes)}")
        self.order = np.argsort(compact, kind="stable")
        counts = np.bincount(compact)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        pos_in_class = np.empty(len(labels), np.int64)
        pos_in_class[self.order] = np.arange(len(labels)) - starts[compact[self.order]]
        self.compact, self.counts, self.starts = compact, counts, starts
        self.pos_in_class = pos_in_class
        self.multi = np.nonzero(counts[compact] >= 2)[0]  # rows that have a positive
        if len(self.multi) == 0:
            raise ValueError(f"{what}: no class has 2 or more images")
        self.n = len(labels)

    def graph_fns(self):
        order = tf.constant(self.order, tf.int64)
        compact = tf.constant(self.compact, tf.int64)
        counts = tf.constant(self.counts, tf.int64)
        starts = tf.constant(self.starts, tf.int64)
        pos = tf.constant(self.pos_in_class, tf.int64)
        multi = tf.constant(self.multi, tf.int64)
        n = self.n

        def u(seed):
            return tf.random.stateless_uniform([], seed=seed, dtype=tf.float32)

        def pick(seed, m):
            return tf.minimum(
                tf.cast(u(seed) * tf.cast(m, tf.float32), tf.int64), m - 1
            )

        def anchor_any(seed):
            return pick(seed, n)

        def anchor_multi(seed):
            return tf.gather(multi, pick(seed, tf.size(multi, out_type=tf.int64)))

        def positive(a, seed):
            c = compact[a]
            k = counts[c]
            off = (pos[a] + 1 + pick(seed, k - 1)) % k
            return order[starts[c] + off]

        def negative(a, seed):
            c = compact[a]
            r = pick(seed, n - counts[c])
            r = tf.where(r < starts[c], r, r + counts[c])
            return order[r]

        return anchor_any, anchor_multi, positive, negative


def sample_pair_indices(
    labels: Sequence[int], n_pairs: int, seed: int = 0, epoch: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eager twin of the pair sampler: ``(a, b, same)`` row indices, 50/50
    alternating (even positions positive). Deterministic in ``(seed, epoch)``."""
    idx = _ClassIndex(np.asarray(labels), "sample_pair_indices")
    anchor_any, anchor_multi, positive, negative = idx.graph_fns()
    a_out, b_out, y_out = [], [], []
    base = tf.constant([seed, epoch], tf.int32)
    for i in range(n_pairs):
        s = tf.random.experimental.stateless_fold_in(base, i)
        s1, s2 = tf.unstack(tf.random.experimental.stateless_split(s, 2))
        if i % 2 == 0:
            a = anchor_multi(s1)
            b = positive(a, s2)
        else:
            a = anchor_any(s1)
            b = negative(a, s2)
        a_out.append(int(a))
        b_out.append(int(b))
        y_out.append(1 - i % 2)
    return np.array(a_out), np.array(b_out), np.array(y_out)


def _image_pipeline_common(
    image_size, crop, normalization, mean_std, augment, strict, min_side,
    apply_exif, stats, num_parallel_calls, deterministic,
):  # fmt: skip
    return _ImageSpec(
        image_size,
        crop,
        normalization,
        mean_std,
        augment,
        strict,
        min_side,
        apply_exif,
        stats,
        num_parallel_calls,
        deterministic,
    )


def _load_many(spec: _ImageSpec, ds, keys: Sequence[str]):
    for k in keys:
        ds = spec.load(ds, path_key=f"{k}_path", out_key=k)
    return ds


def _finish_many(spec: _ImageSpec, keys: Sequence[str]):
    def fn(e, seed_t):
        seeds = tf.unstack(tf.random.experimental.stateless_split(seed_t, len(keys)))
        return {k: spec.finish_one(e[k], s) for k, s in zip(keys, seeds)}

    return fn


def pair_dataset(
    manifest: pd.DataFrame,
    *,
    split: str | Sequence[str] | None = "train",
    n_pairs: int | None = None,
    resample: bool = True,
    image_size: int | Sequence[int] = 224,
    batch_size: int | None = 32,
    crop: str = "none",
    normalization: str = "raw",
    mean_std: tuple[Sequence[float], Sequence[float]] | None = None,
    augment: str | Callable | None = None,
    seed: int | None = 0,
    shard: Any = None,
    drop_remainder: bool = False,
    strict: bool = False,
    min_side: int = 1,
    apply_exif: bool = True,
    stats: PipelineStats | None = None,
    num_parallel_calls: int | None = AUTOTUNE,
    deterministic: bool | None = None,
    prefetch: bool = True,
) -> tf.data.Dataset:
    """Balanced image pairs: ``({"image_a", "image_b"}, same)`` with
    ``same`` float32 1.0 (same class) or 0.0, alternating exactly 50/50.

    Pairs are drawn from the rows of ``split`` only, so validation pairs
    (``split="val"``) never contain a training image. ``resample=True``
    draws new pairs every epoch (each epoch's draw is fixed by ``seed`` and
    the epoch number); ``resample=False`` gives the same pairs every epoch
    (use it for validation). ``n_pairs`` defaults to the number of rows.
    Positives come from classes with 2+ images; a negative's partner is
    uniform over the images of the other classes.
    """
    validate_manifest(manifest)
    stats = stats if stats is not None else PipelineStats()
    df = _select_split(manifest, split)
    idx = _ClassIndex(df["label"].to_numpy(), "pair_dataset")
    anchor_any, anchor_multi, positive, negative = idx.graph_fns()
    n_pairs = int(n_pairs or len(df))
    paths = tf.constant(_str_array(df["image_path"]))
    spec = _image_pipeline_common(
        image_size, crop, normalization, mean_std, augment, strict, min_side,
        apply_exif, stats, num_parallel_calls, deterministic,
    )  # fmt: skip

    def make(i, r):
        s = tf.cast(tf.stack([r % (2**31 - 1), i]), tf.int32)
        s1, s2 = tf.unstack(tf.random.experimental.stateless_split(s, 2))
        pos = tf.equal(i % 2, 0)
        a = tf.cond(pos, lambda: anchor_multi(s1), lambda: anchor_any(s1))
        b = tf.cond(pos, lambda: positive(a, s2), lambda: negative(a, s2))
        return {
            "image_a_path": tf.gather(paths, a),
            "image_b_path": tf.gather(paths, b),
            "label": tf.cast(pos, tf.float32),
        }

    # One random draw per epoch (or a fixed one) seeds every pair of the epoch.
    epoch_seed = tf.data.Dataset.random(
        seed=seed, rerandomize_each_iteration=resample
    ).take(1)
    ds = epoch_seed.flat_map(
        _nc(lambda r: tf.data.Dataset.range(n_pairs).map(_nc(lambda i: make(i, r))))
    )
    shard = _shard_args(shard)
    if shard is not None:
        ds = ds.shard(*shard)
    keys = ("image_a", "image_b")
    ds = _load_many(spec, ds, keys)
    spec.compute_mean_std(ds, ["image_a"], 1000)
    fin = _finish_many(spec, keys)
    ds = _with_seeds(ds, seed, spec.random).map(
        _nc(lambda e, s: (fin(e, s), e["label"])),
        num_parallel_calls=num_parallel_calls,
        deterministic=deterministic,
    )
    return _finish(
        ds,
        batch_size=batch_size,
        drop_remainder=drop_remainder,
        prefetch=prefetch,
        stats=stats,
    )


_TRIPLET_COLUMNS = (
    ("anchor", "positive", "negative"),
    ("anchor_path", "positive_path", "negative_path"),
    ("query", "positive", "negative"),
    ("query_path", "positive_path", "negative_path"),
)


def _triplet_table(source: Any) -> pd.DataFrame | None:
    if isinstance(source, pd.DataFrame):
        for cols in _TRIPLET_COLUMNS:
            if all(c in source.columns for c in cols):
                out = source[list(cols)].copy()
                out.columns = ["anchor", "positive", "negative"]
                return out.reset_index(drop=True)
        return None
    rows = [tuple(map(str, t)) for t in source]
    bad = [t for t in rows if len(t) != 3]
    if bad:
        raise ValueError(f"triplets must have 3 paths each, got e.g. {bad[0]}")
    return pd.DataFrame(rows, columns=["anchor", "positive", "negative"])


def triplet_dataset(
    source: pd.DataFrame | Sequence[Sequence[str]],
    *,
    split: str | Sequence[str] | None = "train",
    n_triplets: int | None = None,
    resample: bool = True,
    image_size: int | Sequence[int] = 224,
    batch_size: int | None = 32,
    dummy_target: bool = True,
    crop: str = "none",
    normalization: str = "raw",
    mean_std: tuple[Sequence[float], Sequence[float]] | None = None,
    augment: str | Callable | None = None,
    shuffle: bool = False,
    seed: int | None = 0,
    shard: Any = None,
    drop_remainder: bool = False,
    strict: bool = False,
    min_side: int = 1,
    apply_exif: bool = True,
    stats: PipelineStats | None = None,
    num_parallel_calls: int | None = AUTOTUNE,
    deterministic: bool | None = None,
    prefetch: bool = True,
) -> tf.data.Dataset:
    """Triplets ``{"anchor", "positive", "negative"}`` of images.

    ``source`` is either a triplet table (DataFrame with columns
    anchor/positive/negative paths — ``query`` and ``*_path`` spellings
    accepted — or a list of 3-tuples of paths, as the deep-ranking triplet
    list), used as is; or a classification Manifest, from whose ``split``
    rows ``n_triplets`` (default: number of rows) triplets are sampled in
    the graph: anchor from a class with 2+ images, positive another image of
    its class, negative uniform over the other classes' images, redrawn
    every epoch when ``resample``. A triplet with an unusable image is
    dropped and counted. With ``dummy_target`` elements are
    ``(features, 0.0)`` so that a Keras loss ignoring ``y_true`` works with
    ``model.fit``; otherwise features only.
    """
    stats = stats if stats is not None else PipelineStats()
    spec = _image_pipeline_common(
        image_size, crop, normalization, mean_std, augment, strict, min_side,
        apply_exif, stats, num_parallel_calls, deterministic,
    )  # fmt: skip
    table = _triplet_table(source)
    keys = ("anchor", "positive", "negative")
    if table is not None:
        data = {f"{k}_path": _str_array(table[k]) for k in keys}
        ds = tf.data.Dataset.from_tensor_slices(data)
        if shuffle:
            ds = ds.shuffle(len(table), seed=seed, reshuffle_each_iteration=True)
    else:
        validate_manifest(source)
        df = _select_split(source, split)
        idx = _ClassIndex(df["label"].to_numpy(), "triplet_dataset")
        _, anchor_multi, positive, negative = idx.graph_fns()
        paths = tf.constant(_str_array(df["image_path"]))
        n = int(n_triplets or len(df))

        def make(i, r):
            s = tf.cast(tf.stack([r % (2**31 - 1), i]), tf.int32)
            s1, s2, s3 = tf.unstack(tf.random.experimental.stateless_split(s, 3))
            a = anchor_multi(s1)
            return {
                "anchor_path": tf.gather(paths, a),
                "positive_path": tf.gather(paths, positive(a, s2)),
                "negative_path": tf.gather(paths, negative(a, s3)),
            }

        epoch_seed = tf.data.Dataset.random(
            seed=seed, rerandomize_each_iteration=resample
        ).take(1)
        ds = epoch_seed.flat_map(
            _nc(lambda r: tf.data.Dataset.range(n).map(_nc(lambda i: make(i, r))))
        )
    shard = _shard_args(shard)
    if shard is not None:
        ds = ds.shard(*shard)
    ds = _load_many(spec, ds, keys)
    spec.compute_mean_std(ds, ["anchor"], 1000)
    fin = _finish_many(spec, keys)

    def out(e, s):
        feats = fin(e, s)
        return (feats, tf.constant(0.0)) if dummy_target else feats

    ds = _with_seeds(ds, seed, spec.random).map(
        _nc(out), num_parallel_calls=num_parallel_calls, deterministic=deterministic
    )
    return _finish(
        ds,
        batch_size=batch_size,
        drop_remainder=drop_remainder,
        prefetch=prefetch,
        stats=stats,
    )
