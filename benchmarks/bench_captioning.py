"""Captioning on the demo world: quality, training speed, decoding speed.

One run (default: 6,000 images, 64 px, seed 0):

1. ``demo_captioner``: a small_cnn tower trained end to end with the caption
   loss (a few epochs: the tower learns shape, colour, size, position).
2. ``demo_captioner_features``: the merge decoder trained on cached features
   of that run's tower (a run directory is a feature source), sequence
   targets, early stopping on validation loss. Scored on the test split:
   BLEU-1..4, ROUGE-L, CIDEr-D of beam (k=3) and greedy decoding, next to a
   nearest-neighbour baseline (caption #0 of the closest training image by
   the same features). Scores use ``mmvision.data.text.tokenize`` tokens.
   ``primary_object_named``: share of test captions that name the primary
   object's shape and colour (``shapes.SHAPE_WORDS`` / ``COLOUR_WORDS``).
3. Training speed on the same cached features: sequence targets (one example
   per caption, masked loss) vs the reference's per-word table (one example
   per word prefix), same model, batch size and learning rate: wall time
   per epoch and time to reach the validation loss (token-mean cross
   entropy on the val split) the per-word model reaches.
4. Decoding speed: batched beam search (k=3) in one ``tf.function`` vs a
   per-image Python loop of greedy steps that re-runs the Keras model on
   the padded prefix (the reference's ``generate_desc``).

Targets: BLEU-4 >= 0.30 and above the baseline (BLEU-4 and CIDEr),
primary_object_named >= 0.8, train_speedup >= 5, decode_speedup >= 10.
JSON keys: bleu1..bleu4, rouge_l, cider, greedy_bleu4, nn_baseline_bleu4,
nn_baseline_cider, primary_object_named, train_speedup, decode_speedup (and
more); captions of the test split go to results/captions_test.jsonl.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import numpy as np
from _common import parser, print_table, write_results

from mmvision import captioning
from mmvision.configs.captioner import get_preset
from mmvision.datasets import shapes
from mmvision.utils import write_text_atomic


def named_fraction(captions: dict[str, str], ground_truth: list[dict]) -> float:
    """Share of captions naming objects[0]'s shape and colour (any synonym)."""
    from mmvision.data.text import clean_caption

    gt = {r["id"]: r["objects"][0] for r in ground_truth}
    hits = 0
    for ident, cap in captions.items():
        text = f" {clean_caption(cap)} "
        obj = gt[ident]

        hits += _says(text, shapes.SHAPE_WORDS[obj["shape"]]) and _says(
            text, shapes.COLOUR_WORDS[obj["colour"]]
        )
    return hits / max(1, len(captions))


def _says(text: str, words: list[str]) -> bool:
    return any(re.search(rf"\b{re.escape(w)}\b", text) for w in words)


def _world(path: Path, n: int, size: int, seed: int) -> Path:
    info = path / "world.json"
    if info.is_file():
        w = json.loads(info.read_text())
        if (w.get("n_images"), w.get("size"), w.get("seed")) == (n, size, seed):
            return path
    print(f"rendering the demo world ({n} images, {size} px, seed {seed}) ...")
    shapes.generate(path, n_images=n, size=size, seed=seed)
    return path


def _train_run(cfg, world: Path, out: Path) -> dict:
    if (out / "metrics.json").is_file() and (out / "model.keras").is_file():
        print(f"reusing {out}")
        return json.loads((out / "metrics.json").read_text())
    shutil.rmtree(out, ignore_errors=True)
    return captioning.train_captioner(cfg, world, out, verbose=2)


def train_speed(run_b: Path, world: Path, n_images: int, pw_epochs: int, max_seq: int):
    """Sequence targets vs the per-word table on the same cached features."""
    import keras

    from mmvision.data import pipelines
    from mmvision.models import captioner as cap_lib

    run = captioning.CaptionerRun(run_b)
    cfg = run.config
    manifest, _, _ = captioning.read_caption_manifest(world)
    train = manifest[manifest["split"] == "train"].iloc[:n_images]
    val = manifest[manifest["split"] == "val"]
    sub = manifest[manifest.index.isin(train.index) | manifest.index.isin(val.index)]
    feats = run.manifest_features(sub)
    common = dict(
        max_len=cfg.data.max_len, batch_size=cfg.data.batch_size, features=feats
    )
    val_ds = pipelines.caption_dataset(val, run.vocab, split="val", **common)
    dim = int(next(iter(feats.values())).shape[0])

    def build(per_word):
        keras.utils.set_random_seed(0)
        m = cap_lib.build_captioner(
            len(run.vocab), max_len=cfg.data.max_len, feature_dim=dim,
            embed_dim=cfg.model.embed_dim, units=cfg.model.units,
            dropout=cfg.model.dropout, per_word=per_word,
        )  # fmt: skip
        m.compile(
            keras.optimizers.Adam(cfg.train.learning_rate, clipnorm=5.0),
            loss=cap_lib.MaskedSparseCategoricalCrossentropy(),
        )
        return m

    def val_loss(model, per_word):
        seq = cap_lib.convert_captioner(model, False) if per_word else model
        seq.compile(loss=cap_lib.MaskedSparseCategoricalCrossentropy())
        return float(seq.evaluate(val_ds, verbose=0))

    out = {}
    for per_word in (True, False):
        ds = pipelines.caption_dataset(
            train, run.vocab, split="train", shuffle=True, seed=0,
            per_word=per_word, **common,
        )  # fmt: skip
        n_rows = sum(int(x["tokens_in"].shape[0]) for x, _ in ds)
        model = build(per_word)
        w0 = model.get_weights()
        model.fit(ds.take(1), verbose=0)  # trace outside the timing, then reset
        model.set_weights(w0)
        for v in model.optimizer.variables:
            if "learning_rate" not in v.path:
                v.assign(np.zeros(v.shape, v.dtype))
        curve, elapsed = [], 0.0
        epochs = pw_epochs if per_word else max_seq
        target = out.get("target")
        for epoch in range(epochs):
            t0 = time.perf_counter()
            model.fit(ds, epochs=1, verbose=0)
            elapsed += time.perf_counter() - t0
            loss = val_loss(model, per_word)
            curve.append((elapsed, loss))
            name = "per_word" if per_word else "sequence"
            print(f"  {name} epoch {epoch + 1}: {elapsed:.1f}s val_loss {loss:.4f}")
            if target is not None and loss <= target:
                break
        key = "pw" if per_word else "seq"
        out[f"{key}_rows"] = n_rows
        out[f"{key}_epoch_seconds"] = curve[0][0]
        out[f"{key}_curve"] = curve
        if per_word:
            out["target"] = min(v for _, v in curve)
            out["pw_time_to_target"] = next(t for t, v in curve if v <= out["target"])
        else:
            hit = [t for t, v in curve if v <= out["target"]]
            # -1: the sequence model did not reach the target within its epochs.
            out["seq_time_to_target"] = hit[0] if hit else -1.0
    out["epoch_speedup"] = out["pw_epoch_seconds"] / out["seq_epoch_seconds"]
    seq_t = out["seq_time_to_target"]
    out["train_speedup"] = out["pw_time_to_target"] / seq_t if seq_t > 0 else -1.0
    return out


def decode_speed(run_b: Path, world: Path, n_batched: int, n_loop: int):
    """Batched beam search (k=3) vs a per-image loop of greedy model calls."""
    from mmvision.data import text as text_lib

    run = captioning.CaptionerRun(run_b)
    manifest, _, _ = captioning.read_caption_manifest(world)
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


def main(argv=None) -> None:
    p = parser("bench_captioning", __doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=6000)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", default="/tmp/mmvision_bench_captioning")
    p.add_argument(
        "--world", help="an existing demo world (default: render one in --work)"
    )
    p.add_argument("--e2e-epochs", type=int, default=3)
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--compare-images", type=int, default=1200,
                   help="training images for the speed comparison")  # fmt: skip
    p.add_argument("--pw-epochs", type=int, default=1)
    p.add_argument("--max-seq-epochs", type=int, default=10)
    p.add_argument("--loop-images", type=int, default=20)
    args = p.parse_args(argv)

    work = Path(args.work)
    if args.world:
        world = Path(args.world)
        info = shapes.load_world_info(world)
        args.images, args.size, args.seed = info["n_images"], info["size"], info["seed"]
    else:
        world = _world(work / "world", args.images, args.size, args.seed)
    cache = str(work / "feature_cache")
    t_start = time.perf_counter()

    cfg_a = get_preset("demo_captioner")
    cfg_a.data.image_size = args.size
    cfg_a.train.epochs = args.e2e_epochs
    cfg_a.train.evaluate = False
    cfg_a.features.cache_dir = cache
    _train_run(cfg_a, world, work / "run_e2e")

    cfg_b = get_preset("demo_captioner_features")
    cfg_b.features.source = str(work / "run_e2e")
    cfg_b.features.cache_dir = cache
    cfg_b.train.epochs = args.epochs
    m = _train_run(cfg_b, world, work / "run_features")
    run_b = work / "run_features"

    rows = [
        json.loads(x) for x in (run_b / "captions_test.jsonl").read_text().splitlines()
    ]
    captions = {r["id"]: r["caption"] for r in rows}
    named = named_fraction(captions, shapes.load_ground_truth(world))
    results_dir = Path(args.out).parent  # captions_test.jsonl beside the JSON
    write_text_atomic(
        results_dir / "captions_test.jsonl",
        "".join(
            json.dumps({"id": r["id"], "caption": r["caption"]}) + "\n" for r in rows
        ),
    )

    print("training speed (cached features) ...")
    ts = train_speed(
        run_b, world, args.compare_images, args.pw_epochs, args.max_seq_epochs
    )
    print("decoding speed ...")
    ds = decode_speed(run_b, world, 256, args.loop_images)

    figures = {
        **{k: m[k] for k in ("bleu1", "bleu2", "bleu3", "bleu4", "rouge_l")},
        "cider": m["cider_d"],
        **{f"greedy_{k}": m[f"greedy_{k}"] for k in ("bleu1", "bleu4", "rouge_l")},
        "greedy_cider": m["greedy_cider_d"],
        "nn_baseline_bleu1": m["nn_baseline_bleu1"],
        "nn_baseline_bleu4": m["nn_baseline_bleu4"],
        "nn_baseline_rouge_l": m["nn_baseline_rouge_l"],
        "nn_baseline_cider": m["nn_baseline_cider_d"],
        "primary_object_named": named,
        "test_images": m["eval_images"],
        "train_speedup": ts["train_speedup"],
        "train_epoch_speedup": ts["epoch_speedup"],
        "seq_epoch_seconds": ts["seq_epoch_seconds"],
        "per_word_epoch_seconds": ts["pw_epoch_seconds"],
        "seq_rows": ts["seq_rows"],
        "per_word_rows": ts["pw_rows"],
        "target_val_loss": ts["target"],
        "seq_time_to_target": ts["seq_time_to_target"],
        "per_word_time_to_target": ts["pw_time_to_target"],
        **ds,
        "images": args.images,
        "size": args.size,
        "seed": args.seed,
        "total_seconds": time.perf_counter() - t_start,
    }
    print()
    print(captioning.BLEU_NOTE)
    print_table(
        f"captioning, demo world test split ({int(m['eval_images'])} images)",
        [
            ("", "BLEU-1  BLEU-2  BLEU-3  BLEU-4  ROUGE-L  CIDEr-D"),
            ("beam k=3", _row(m, "")),
            ("greedy", _row(m, "greedy_")),
            ("nearest neighbour", _row(m, "nn_baseline_")),
            ("primary object named", f"{named:.3f}  (target >= 0.8)"),
        ],
    )
    print_table(
        "speed",
        [
            ("train rows/epoch seq | per-word", f"{ts['seq_rows']} | {ts['pw_rows']}"),
            ("epoch seconds seq | per-word",
             f"{ts['seq_epoch_seconds']:.1f} | {ts['pw_epoch_seconds']:.1f}"),
            ("epoch speedup", f"{ts['epoch_speedup']:.1f}x"),
            (f"time to val loss {ts['target']:.3f} seq | per-word",
             f"{ts['seq_time_to_target']:.1f}s | {ts['pw_time_to_target']:.1f}s"),
            ("train speedup (time to same val loss)",
             f"{ts['train_speedup']:.1f}x (target >= 5x)"),
            ("beam k=3 batched captions/s", f"{ds['beam_batched_captions_per_s']:.1f}"),
            ("greedy per-image loop captions/s",
             f"{ds['greedy_loop_captions_per_s']:.2f}"),
            ("decode speedup", f"{ds['decode_speedup']:.1f}x (target >= 10x)"),
        ],
    )  # fmt: skip
    write_results(args.out, figures)


def _row(m: dict, prefix: str) -> str:
    keys = ("bleu1", "bleu2", "bleu3", "bleu4", "rouge_l", "cider_d")
    return "  ".join(f"{m[prefix + k]:.4f}" for k in keys)


if __name__ == "__main__":
    main()
