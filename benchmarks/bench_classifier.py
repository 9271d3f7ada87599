"""Multimodal classification on the demo world: image, text, fused.

Trains on one stratified split of the default demo world (6,000 images, 64
px, seed 0), with fixed seeds:

- image only: ``small_cnn`` (preset ``demo_image``);
- text only, bag of words: ``bow`` towers on title, description, tags
  (preset ``demo_text_bow``);
- text only, MiniLM: the real all-MiniLM-L6-v2 encoder, frozen; its
  embeddings of title, description and tags are computed once and a
  ProjectionHead + softmax is trained on them (the study's "pseudo-tuning");
- fused (the study's recipe): the image-only run's ``small_cnn`` tower,
  frozen (no ImageNet weights exist offline: the image-only run stands in for
  pre-training), + ``bow`` towers, concatenated, ModalityDropout 0.2 (image)
  / 0.5 (text) (preset ``demo_fused_pretrained``), evaluated with both
  modalities and with the text or the image removed at test time;
- late fusion baseline: the same towers, one softmax per modality, averaged
  over the modalities present (preset ``demo_late_fusion``);
- with ``--with-scratch``: fused with the image tower trained from scratch
  inside the fused model (preset ``demo_fused``).

Prints test top-1/top-5 and the two targets: fused top-1 >= best single
modality + 0.03, and fused-with-text-removed within 0.03 of the image-only
model. JSON keys: image_top1, text_bow_top1, text_minilm_top1, fused_top1,
fused_top5, fused_text_missing_top1, image_only_top1_same_split.

``--quick`` (a few minutes; checks the script end to end, its figures mean
little): 960 images, 2 epochs, the MiniLM probe on 2 epochs too, results to
a temporary file unless ``--out`` is given.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import parser, print_table, write_results

from mmvision import configs
from mmvision.datasets import shapes
from mmvision.training import evaluate_run, fit_task

QUICK = {"images": 960, "epochs": 2, "probe_epochs": 2}


def quick_json(name: str) -> str:
    """Where ``--quick`` writes its figures by default (not benchmarks/results)."""
    return str(Path(tempfile.gettempdir()) / "mmvision_bench_quick" / f"{name}.json")


def run_preset(name, world, out, epochs, overrides=()):
    cfg = configs.apply_overrides(
        configs.get_preset("classifier", name),
        [f"train.epochs={epochs}", "train.verbose=0", *overrides],
    )
    t0 = time.perf_counter()
    fit_task("classifier", cfg, world, out)
    res = evaluate_run(out, world, split="test")
    print(
        f"  {name}: test top-1 {res['test_top1']:.3f} "
        f"({time.perf_counter() - t0:.0f} s)",
        flush=True,
    )
    return res


def minilm_probe(world, epochs, seed=0):
    """Frozen MiniLM embeddings of each text field + ProjectionHead + softmax
    (``epochs`` of the head: at least 30, early stopping on val loss)."""
    import keras

    from mmvision.layers import ProjectionHead
    from mmvision.models import text_towers
    from mmvision.tasks.classifier import load_classification_data

    cfg = configs.get_preset("classifier", "demo_text_minilm")
    data = load_classification_data(cfg, world)
    encoder = text_towers.get("minilm", name="minilm_probe_encoder")
    feats = {}
    t0 = time.perf_counter()
    for split in ("train", "val", "test"):
        df = data.split(split)
        parts = []
        for f in cfg.data.fields:
            texts = [" ".join(v) if isinstance(v, list) else str(v) for v in df[f]]
            emb = encoder.predict(
                np.array(texts, dtype=object), batch_size=64, verbose=0
            )
            present = np.array([bool(t.strip()) for t in texts], np.float32)[:, None]
            parts.append(emb * present)  # a missing field is a zero vector
        feats[split] = (np.concatenate(parts, axis=1), df["label"].to_numpy())
    enc_s = time.perf_counter() - t0
    keras.utils.set_random_seed(seed)
    x = keras.Input((feats["train"][0].shape[1],))
    h = ProjectionHead(units=256, depth=1, dropout=0.3)(x)
    y = keras.layers.Dense(len(data.classes), activation="softmax")(h)
    head = keras.Model(x, y)
    head.compile(
        "adam",
        "sparse_categorical_crossentropy",
        metrics=[
            keras.metrics.SparseTopKCategoricalAccuracy(1, name="top1"),
            keras.metrics.SparseTopKCategoricalAccuracy(5, name="top5"),
        ],
    )
    head.fit(
        *feats["train"],
        validation_data=feats["val"],
        epochs=epochs,
        batch_size=64,
        verbose=0,
        callbacks=[
            keras.callbacks.EarlyStopping(patience=5, restore_best_weights=True)
        ],
    )
    res = head.evaluate(*feats["test"], verbose=0, return_dict=True)
    print(
        f"  minilm probe: test top-1 {res['top1']:.3f} (encoding {enc_s:.0f} s)",
        flush=True,
    )
    return res


def main(argv=None) -> int:
    p = parser("bench_classifier", __doc__.splitlines()[0])
    p.add_argument("--world", help="an existing demo world (default: render one)")
    p.add_argument("--images", type=int, default=None, help="default 6000")
    p.add_argument("--epochs", type=int, default=None, help="default 20")
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"a fast end-to-end check: {QUICK['images']} images, "
        f"{QUICK['epochs']} epochs (minutes, not the published figures)",
    )
    p.add_argument("--runs", help="keep the run directories here")
    p.add_argument("--skip-minilm", action="store_true")
    p.add_argument(
        "--with-scratch",
        action="store_true",
        help="also train fused with the image tower from scratch",
    )
    results_json = p.get_default("out")
    p.set_defaults(out=None)
    args = p.parse_args(argv)
    quick = QUICK if args.quick else {"images": 6000, "epochs": 20}
    args.images = args.images or quick["images"]
    args.epochs = args.epochs or quick["epochs"]
    probe_epochs = quick.get("probe_epochs", max(args.epochs, 30))
    # A quick run never overwrites the published figures unless asked to.
    args.out = args.out or (
        quick_json("bench_classifier") if args.quick else results_json
    )

    tmp = tempfile.TemporaryDirectory()
    world = Path(args.world or Path(tmp.name) / "world")
    if not args.world:
        shapes.generate(world, n_images=args.images, size=64, seed=0)
    runs_dir = Path(args.runs or Path(tmp.name) / "runs")
    print(f"demo world {world}; runs in {runs_dir}", flush=True)
    img = run_preset("demo_image", world, runs_dir / "image", args.epochs)
    bow = run_preset("demo_text_bow", world, runs_dir / "text_bow", args.epochs)
    pretrained = [f"model.image_weights={runs_dir / 'image'}"]
    fused = run_preset(
        "demo_fused_pretrained", world, runs_dir / "fused", args.epochs, pretrained
    )
    late = run_preset(
        "demo_late_fusion", world, runs_dir / "late", args.epochs, pretrained
    )
    scratch = None
    if args.with_scratch:
        scratch = run_preset(
            "demo_fused", world, runs_dir / "fused_scratch", args.epochs
        )
    minilm = {"top1": float("nan"), "top5": float("nan")}
    if not args.skip_minilm:
        minilm = minilm_probe(world, probe_epochs)
    best_single = max(
        img["test_top1"],
        bow["test_top1"],
        minilm["top1"] if not args.skip_minilm else 0.0,
    )
    gain = fused["test_top1"] - best_single
    gap = fused["test_text_missing_top1"] - img["test_top1"]
    print_table(
        "multimodal classification on the demo world (test split, top-1 / top-5)",
        [
            (
                "image only (small_cnn)",
                f"{img['test_top1']:.3f} / {img['test_top5']:.3f}",
            ),
            ("text only (bow)", f"{bow['test_top1']:.3f} / {bow['test_top5']:.3f}"),
            (
                "text only (minilm, frozen)",
                f"{minilm['top1']:.3f} / {minilm['top5']:.3f}",
            ),
            (
                "fused (small_cnn + bow, concat)",
                f"{fused['test_top1']:.3f} / {fused['test_top5']:.3f}",
            ),
            ("fused, text removed at test", f"{fused['test_text_missing_top1']:.3f}"),
            ("fused, image removed at test", f"{fused['test_image_missing_top1']:.3f}"),
            ("fused - best single (target >= +0.03)", f"{gain:+.3f}"),
            ("fused text-missing - image only (target |.| <= 0.03)", f"{gap:+.3f}"),
        ],
    )
    write_results(
        args.out,
        {
            "image_top1": img["test_top1"],
            "image_top5": img["test_top5"],
            "text_bow_top1": bow["test_top1"],
            "text_minilm_top1": minilm["top1"],
            "fused_top1": fused["test_top1"],
            "fused_top5": fused["test_top5"],
            "fused_text_missing_top1": fused["test_text_missing_top1"],
            "fused_image_missing_top1": fused["test_image_missing_top1"],
            "late_fusion_top1": late["test_top1"],
            "late_fusion_text_missing_top1": late["test_text_missing_top1"],
            **(
                {
                    "fused_scratch_top1": scratch["test_top1"],
                    "fused_scratch_text_missing_top1": scratch[
                        "test_text_missing_top1"
                    ],
                }
                if scratch
                else {}
            ),
            "image_only_top1_same_split": img["test_top1"],
            "fused_minus_best_single": gain,
            "text_missing_minus_image_only": gap,
        },
    )
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
