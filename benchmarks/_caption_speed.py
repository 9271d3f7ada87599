"""Captioning speed figures of ``bench_captioning.py``: the decoder's
training on sequence targets vs the per-word table, and batched beam
search vs a per-image loop of greedy calls."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from mmvision.data.caption_data import read_caption_manifest
from mmvision.inference.captioner import CaptionerRun


def train_speed(run_dir: Path, world: Path, n_images: int, pw_epochs: int,
                max_seq: int) -> dict:  # fmt: skip
    """Sequence targets vs the per-word table on the same cached features."""
    import keras

    from mmvision.data import pipelines
    from mmvision.models import captioner as cap_lib

    run = CaptionerRun(run_dir)
    cfg = run.config
    manifest, _, _ = read_caption_manifest(world)
    train = manifest[manifest["split"] == "train"].iloc[:n_images]
    val = manifest[manifest["split"] == "val"]
    feats = run.manifest_features(manifest[manifest["split"].isin(["train", "val"])])
    T, batch = cfg.data.max_len, cfg.data.batch_size
    common = dict(max_len=T, batch_size=batch, features=feats)
    val_ds = pipelines.caption_dataset(val, run.vocab, split="val", **common)
    dim = int(next(iter(feats.values())).shape[0])

    def build(per_word):
        keras.utils.set_random_seed(0)
        m = cap_lib.build_captioner(
            len(run.vocab), max_len=T, feature_dim=dim,
            embed_dim=cfg.model.embed_dim, units=cfg.model.units,
            dropout=cfg.model.dropout, per_word=per_word,
        )  # fmt: skip
        m.compile(
            keras.optimizers.Adam(cfg.train.learning_rate, clipnorm=5.0),
            loss=cap_lib.MaskedSparseCategoricalCrossentropy(),
        )
        return m

    def val_loss(model, per_word):
        # The sequence model is already compiled with the masked loss; only the
        # per-word model is scored through a sequence copy (recompiling the
        # trained model would replace its Adam state with a fresh optimizer).
        if per_word:
            model = cap_lib.convert_captioner(model, False)
            model.compile(loss=cap_lib.MaskedSparseCategoricalCrossentropy())
        return float(model.evaluate(val_ds, verbose=0))

    # (name, per-word table?, padding of sequence batches)
    modes = [("per_word", True, "max_len"), ("seq", False, cfg.data.padding),
             ("seq_max_len", False, "max_len")]  # fmt: skip
    out: dict = {}
    for name, per_word, padding in modes:
        ds = pipelines.caption_dataset(
            train, run.vocab, split="train", shuffle=True, seed=0,
            per_word=per_word, padding=padding, **common,
        )  # fmt: skip
        rows = sum(int(x["tokens_in"].shape[0]) for x, _ in ds)
        steps = sum(int(x["tokens_in"].shape[1]) * int(x["tokens_in"].shape[0])
                    for x, _ in ds)  # fmt: skip
        model = build(per_word)
        w0 = model.get_weights()
        model.fit(ds.take(3), verbose=0)  # trace outside the timing, then reset
        model.set_weights(w0)
        for v in model.optimizer.variables:
            if "learning_rate" not in v.path:
                v.assign(np.zeros(v.shape, v.dtype))
        curve, elapsed = [], 0.0
        target = out.get("target")
        for epoch in range(pw_epochs if per_word else max_seq):
            t0 = time.perf_counter()
            model.fit(ds, epochs=1, verbose=0)
            elapsed += time.perf_counter() - t0
            loss = val_loss(model, per_word)
            curve.append((elapsed, loss))
            print(f"  {name} epoch {epoch + 1}: {elapsed:.1f}s val_loss {loss:.4f}",
                  flush=True)  # fmt: skip
            if target is not None and loss <= target:
                break
        out[f"{name}_rows"] = rows
        out[f"{name}_lstm_steps"] = steps
        out[f"{name}_epoch_seconds"] = curve[0][0]
        if per_word:
            out["target"] = min(v for _, v in curve)
            out["per_word_time_to_target"] = next(
                t for t, v in curve if v <= out["target"]
            )
        else:
            hit = [t for t, v in curve if v <= out["target"]]
            # -1: the sequence model did not reach the target within its epochs.
            out[f"{name}_time_to_target"] = hit[0] if hit else -1.0
    pw_t = out["per_word_time_to_target"]
    for name in ("seq", "seq_max_len"):
        out[f"{name}_epoch_speedup"] = (
            out["per_word_epoch_seconds"] / out[f"{name}_epoch_seconds"]
        )
        t = out[f"{name}_time_to_target"]
        out[f"{name}_train_speedup"] = pw_t / t if t > 0 else -1.0
    return out


def decode_speed(run_dir: Path, world: Path, n_batched: int, n_loop: int) -> dict:
    """Batched beam search (k=3) vs a per-image loop of greedy model calls."""
    from mmvision.data import text as text_lib

    run = CaptionerRun(run_dir)
    manifest, _, _ = read_caption_manifest(world)
    test = manifest[manifest["split"] == "test"].iloc[:n_batched]
    feats = run.manifest_features(test)
    x = np.stack([feats[i] for i in test["id"] if i in feats])
    run.caption_features(x[:8], beam=3)  # trace
    t0 = time.perf_counter()
    run.caption_features(x, beam=3, batch_size=len(x))
    batched = len(x) / (time.perf_counter() - t0)

    model, T = run.model, run.max_len
    model(
        {"image_features": x[:1], "tokens_in": np.zeros((1, T), "int32")},
        training=False,
    )
    t0 = time.perf_counter()
    for i in range(n_loop):
        seq = [text_lib.START_ID]
        for _ in range(T):
            toks = np.zeros((1, T), "int32")
            toks[0, : len(seq)] = seq[:T]
            probs = model(
                {"image_features": x[i : i + 1], "tokens_in": toks}, training=False
            )
            nxt = int(np.argmax(np.asarray(probs)[0, len(seq) - 1]))
            seq.append(nxt)
            if nxt == text_lib.END_ID or len(seq) > T:
                break
    loop = n_loop / (time.perf_counter() - t0)
    return {"beam_batched_captions_per_s": batched, "greedy_loop_captions_per_s": loop,
            "decode_speedup": batched / loop}  # fmt: skip
