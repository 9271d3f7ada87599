"""Captioning on the demo world: quality, training speed, decoding speed.

One run (default: 6,000 images, 64 px, seed 0):

1. Image tower: no ImageNet weights exist offline, so the captioner's own
   first stage (preset ``demo_captioner``, ``features.pretrain=concepts``)
   trains a ``small_resnet`` tower on the words of the training captions,
   image by image, with the 8 flips/turns of the square (the
   ``concept_tagger`` task, into ``RUN/tower``).
2. Captioner: the merge decoder on cached features of that tower, sequence
   targets, length-bucketed batches, early stopping on validation loss.
   Scored on the test split: BLEU-1..4, ROUGE-L, CIDEr-D of beam (k=3) and
   greedy decoding, next to a nearest-neighbour baseline (caption #0 of the
   closest training image by the same features). Scores use
   ``mmvision.data.text.tokenize`` tokens. ``primary_object_named``: share
   of test captions that name the primary object's colour and shape in one
   phrase (``shapes.names_object``, strict); ``primary_words_named`` counts
   the two words anywhere in the caption.
3. Training speed on the same cached features, same model, batch size (64)
   and learning rate: sequence targets (one example per caption, masked
   loss, length-bucketed batches) vs the reference's per-word table (one
   example per word prefix, left-padded to ``max_len`` = 32). Wall time per
   epoch, and time to reach the validation loss (token-mean cross entropy on
   the val split) that the per-word model reaches in its epochs. Sequence
   targets padded to ``max_len`` are timed too, to show what the table
   costs and what the padding costs.
4. Decoding speed: batched beam search (k=3) in one ``tf.function`` vs a
   per-image Python loop of greedy steps that re-runs the Keras model on
   the padded prefix (the reference's ``generate_desc``).

Targets: BLEU-4 >= 0.30 and above the baseline (BLEU-4 and CIDEr),
primary_object_named >= 0.8, train_speedup >= 5, decode_speedup >= 10.
JSON keys: bleu1..bleu4, rouge_l, cider, greedy_bleu4, nn_baseline_bleu4,
nn_baseline_cider, primary_object_named, train_speedup, decode_speedup (and
more); captions of the test split go to captions_test.jsonl beside the JSON.

``--quick`` (a few minutes; checks the script end to end, its figures mean
little): 960 images at 32 px, 2 tower and 2 captioner epochs, a short speed
comparison, in its own ``--work`` directory, results to a temporary file
unless ``--out`` is given.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from _caption_speed import decode_speed, train_speed
from _common import parser, print_table, write_results

from mmvision import configs
from mmvision.datasets import shapes
from mmvision.inference.captioner import CaptionerRun
from mmvision.tasks.captioner_eval import BLEU_NOTE
from mmvision.training import fit_task
from mmvision.utils import write_text_atomic

#: the full benchmark's settings, and what --quick changes.
FULL = dict(images=6000, size=64, tower_epochs=40, epochs=40, compare_images=1200,
            pw_epochs=2, max_seq_epochs=30, loop_images=20, decode_images=256,
            work="/tmp/mmvision_bench_captioning")  # fmt: skip
QUICK = dict(images=960, size=32, tower_epochs=2, epochs=2, compare_images=200,
             pw_epochs=1, max_seq_epochs=3, loop_images=5, decode_images=64,
             work="/tmp/mmvision_bench_captioning_quick")  # fmt: skip


def named_fraction(
    captions: dict[str, str], ground_truth: list[dict], strict: bool = True
) -> float:
    """Share of captions naming objects[0]'s colour and shape (any synonym)."""
    gt = {r["id"]: r["objects"][0] for r in ground_truth}
    hits = [shapes.names_object(c, gt[i], strict=strict) for i, c in captions.items()]
    return float(np.mean(hits)) if hits else 0.0


def _world(path: Path, n: int, size: int, seed: int) -> tuple[Path, bool]:
    """The demo world at ``path`` (rendered when absent or other); ``True``
    when it was rendered now."""
    info = path / "world.json"
    if info.is_file():
        w = json.loads(info.read_text())
        if (w.get("n_images"), w.get("size"), w.get("seed")) == (n, size, seed):
            return path, False
    print(f"rendering the demo world ({n} images, {size} px, seed {seed}) ...")
    shutil.rmtree(path, ignore_errors=True)
    shapes.generate(path, n_images=n, size=size, seed=seed)
    return path, True


def _done(cfg, world: Path, out: Path) -> bool:
    """A finished run of this config on this world (else it is trained again)."""
    need = ("metrics.json", "model.keras", "config.json", "run_info.json")
    if not all((out / n).is_file() for n in need):
        return False
    stored = configs.config_from_dict(json.loads((out / "config.json").read_text()))
    info = json.loads((out / "run_info.json").read_text())
    if stored != cfg or info.get("data_dir") != str(world.resolve()):
        return False
    try:  # a run saved by older code may no longer load
        CaptionerRun(out)
    except Exception as e:  # noqa: BLE001 - any failure means: train again
        print(f"not reusing {out}: {type(e).__name__}: {str(e)[:200]}")
        return False
    return True


def _captioner_run(cfg, world: Path, out: Path) -> dict:
    if _done(cfg, world, out):
        print(f"reusing {out}")
        return json.loads((out / "metrics.json").read_text())
    shutil.rmtree(out, ignore_errors=True)
    return fit_task("captioner", cfg, world, out)


def main(argv=None) -> None:
    p = parser("bench_captioning", __doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="a fast end-to-end check (see above)")  # fmt: skip
    p.add_argument("--images", type=int, help=f"default {FULL['images']}")
    p.add_argument("--size", type=int, help=f"default {FULL['size']}")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", help=f"default {FULL['work']}")
    p.add_argument(
        "--world", help="an existing demo world (default: render one in --work)"
    )
    p.add_argument("--tower-epochs", type=int,
                   help=f"epochs of the caption-word tower (default "
                   f"{FULL['tower_epochs']})")  # fmt: skip
    p.add_argument("--epochs", type=int, help=f"default {FULL['epochs']}")
    p.add_argument("--compare-images", type=int,
                   help="training images for the speed comparison (default "
                   f"{FULL['compare_images']})")  # fmt: skip
    p.add_argument("--pw-epochs", type=int, help=f"default {FULL['pw_epochs']}")
    p.add_argument("--max-seq-epochs", type=int,
                   help=f"default {FULL['max_seq_epochs']}")  # fmt: skip
    p.add_argument("--loop-images", type=int, help=f"default {FULL['loop_images']}")
    results_json = p.get_default("out")
    p.set_defaults(out=None)
    args = p.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    # A quick run never overwrites the published figures unless asked to.
    if args.out is None:
        quick_dir = Path(tempfile.gettempdir()) / "mmvision_bench_quick"
        args.out = (
            str(quick_dir / "bench_captioning.json") if args.quick else results_json
        )

    work = Path(args.work)
    run_dir = work / "run_captioner"
    if args.world:
        world = Path(args.world)
        info = shapes.load_world_info(world)
        args.images, args.size, args.seed = info["n_images"], info["size"], info["seed"]
    else:
        world, rendered = _world(work / "world", args.images, args.size, args.seed)
        if rendered:  # runs and features of another world are stale
            shutil.rmtree(run_dir, ignore_errors=True)
    t_start = time.perf_counter()

    cfg = configs.apply_overrides(
        configs.get_preset("captioner", "demo_captioner"),
        [
            f"features.pretrain_epochs={args.tower_epochs}",
            f"features.cache_dir={work / 'feature_cache'}",
            f"train.epochs={args.epochs}",
            *([f"data.image_size={args.size}"] if args.quick else []),
        ],
    )
    m = _captioner_run(cfg, world, run_dir)
    tower = json.loads((run_dir / "tower" / "metrics.json").read_text())

    rows = [
        json.loads(x)
        for x in (run_dir / "captions_test.jsonl").read_text().splitlines()
    ]
    gt = shapes.load_ground_truth(world)
    named = named_fraction({r["id"]: r["caption"] for r in rows}, gt)
    named_words = named_fraction({r["id"]: r["caption"] for r in rows}, gt, False)
    greedy_named = named_fraction({r["id"]: r["greedy"] for r in rows}, gt)
    nn_named = named_fraction({r["id"]: r["nn_baseline"] for r in rows}, gt)
    results_dir = Path(args.out).parent  # captions_test.jsonl beside the JSON
    write_text_atomic(
        results_dir / "captions_test.jsonl",
        "".join(
            json.dumps({"id": r["id"], "caption": r["caption"]}) + "\n" for r in rows
        ),
    )

    print("training speed (cached features) ...", flush=True)
    ts = train_speed(
        run_dir, world, args.compare_images, args.pw_epochs, args.max_seq_epochs
    )
    print("decoding speed ...", flush=True)
    ds = decode_speed(run_dir, world, args.decode_images, args.loop_images)

    figures = {
        **{k: m[k] for k in ("bleu1", "bleu2", "bleu3", "bleu4", "rouge_l")},
        "cider": m["cider_d"],
        **{
            f"greedy_{k}": m[f"greedy_{k}"]
            for k in ("bleu1", "bleu2", "bleu3", "bleu4", "rouge_l")
        },  # fmt: skip
        "greedy_cider": m["greedy_cider_d"],
        **{
            f"nn_baseline_{k}": m[f"nn_baseline_{k}"]
            for k in ("bleu1", "bleu2", "bleu3", "bleu4", "rouge_l")
        },  # fmt: skip
        "nn_baseline_cider": m["nn_baseline_cider_d"],
        "primary_object_named": named,
        "primary_words_named": named_words,
        "greedy_primary_object_named": greedy_named,
        "nn_baseline_primary_object_named": nn_named,
        "test_images": m["eval_images"],
        "tower_test_word_map": tower["test_word_map"],
        "tower_train_seconds": tower["train_seconds"],
        "tower_epochs": tower["epochs_trained"],
        "captioner_train_seconds": m["train_seconds"],
        "captioner_epochs": m["epochs_trained"],
        "train_speedup": ts["seq_train_speedup"],
        "train_epoch_speedup": ts["seq_epoch_speedup"],
        "max_len_padded_train_speedup": ts["seq_max_len_train_speedup"],
        "max_len_padded_epoch_speedup": ts["seq_max_len_epoch_speedup"],
        "seq_epoch_seconds": ts["seq_epoch_seconds"],
        "seq_max_len_epoch_seconds": ts["seq_max_len_epoch_seconds"],
        "per_word_epoch_seconds": ts["per_word_epoch_seconds"],
        "seq_rows": ts["seq_rows"],
        "per_word_rows": ts["per_word_rows"],
        "seq_lstm_steps": ts["seq_lstm_steps"],
        "seq_max_len_lstm_steps": ts["seq_max_len_lstm_steps"],
        "per_word_lstm_steps": ts["per_word_lstm_steps"],
        "target_val_loss": ts["target"],
        "seq_time_to_target": ts["seq_time_to_target"],
        "seq_max_len_time_to_target": ts["seq_max_len_time_to_target"],
        "per_word_time_to_target": ts["per_word_time_to_target"],
        **ds,
        "images": args.images,
        "size": args.size,
        "seed": args.seed,
        "total_seconds": time.perf_counter() - t_start,
    }
    print()
    print(BLEU_NOTE)
    print_table(
        f"captioning, demo world test split ({int(m['eval_images'])} images; "
        f"caption-word tower: test word mAP {tower['test_word_map']:.3f}, "
        f"{tower['train_seconds']:.0f} s)",
        [
            ("", "BLEU-1  BLEU-2  BLEU-3  BLEU-4  ROUGE-L  CIDEr-D  named"),
            ("beam k=3", f"{_row(m, '')}  {named:.3f}"),
            ("greedy", f"{_row(m, 'greedy_')}  {greedy_named:.3f}"),
            ("nearest neighbour", f"{_row(m, 'nn_baseline_')}  {nn_named:.3f}"),
            (
                "primary object named (beam)",
                f"{named:.3f}  (target >= 0.8; both words anywhere: {named_words:.3f})",
            ),
        ],  # fmt: skip
    )
    print_table(
        "speed",
        [
            ("train rows/epoch seq | per-word",
             f"{ts['seq_rows']} | {ts['per_word_rows']}"),
            ("LSTM steps/epoch seq bucketed | seq max_len | per-word",
             f"{ts['seq_lstm_steps']} | {ts['seq_max_len_lstm_steps']} | "
             f"{ts['per_word_lstm_steps']}"),
            ("epoch seconds seq bucketed | seq max_len | per-word",
             f"{ts['seq_epoch_seconds']:.1f} | {ts['seq_max_len_epoch_seconds']:.1f}"
             f" | {ts['per_word_epoch_seconds']:.1f}"),
            ("epoch speedup bucketed | max_len",
             f"{ts['seq_epoch_speedup']:.1f}x | "
             f"{ts['seq_max_len_epoch_speedup']:.1f}x"),
            (f"time to val loss {ts['target']:.3f} seq bucketed | max_len | per-word",
             f"{ts['seq_time_to_target']:.1f}s | "
             f"{ts['seq_max_len_time_to_target']:.1f}s | "
             f"{ts['per_word_time_to_target']:.1f}s"),
            ("train speedup (time to same val loss)",
             f"{ts['seq_train_speedup']:.1f}x (target >= 5x); padded to max_len: "
             f"{ts['seq_max_len_train_speedup']:.1f}x"),
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
