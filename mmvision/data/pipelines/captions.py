"""Caption examples ``({"image", "tokens_in"}, tokens_out)``, one per caption."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import tensorflow as tf

from mmvision.data.manifest import validate_manifest
from mmvision.data.pipelines.common import (
    _cache_and_shuffle,
    _check_fields,
    _finish,
    _ImageSpec,
    _manifest_tensors,
    _nc,
    _select_split,
    _shard_args,
    _with_seeds,
)
from mmvision.data.pipelines.options import ImageOptions, resolve_image_options
from mmvision.data.skips import PipelineStats


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
    image_options: ImageOptions | None = None,
    batch_size: int | None = 32,
    fields: Sequence[str] = ("image",),
    split: str | Sequence[str] | None = None,
    features: Any = None,
    per_word: bool = False,
    padding: str = "max_len",
    shuffle: bool = False,
    shuffle_buffer: int = 4096,
    seed: int | None = None,
    cache: bool | str = False,
    shard: Any = None,
    drop_remainder: bool = False,
    stats: PipelineStats | None = None,
    prefetch: bool = True,
    **image_kwargs: Any,
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
        image_options: the image settings (``ImageOptions``), or the
            keywords of the same names, as in ``classification_dataset``.
        Others: as ``classification_dataset``.
    """
    _check_fields(fields)
    opts = resolve_image_options(image_options, **image_kwargs)
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

    spec = _ImageSpec(opts, stats)
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
    spec.compute_mean_std(ds, ["image"])
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
