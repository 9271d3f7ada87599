"""The end-to-end demo behind ``make demo`` / ``mmvision demo run OUT``.

Every capability that exists, on the embedded demo world, through the
library itself (``tasks`` and ``training``; no benchmark scripts, no CLI):

world -> readers -> pipelines -> caption-word image tower (learns the world
from the words of its captions: no ImageNet weights offline) -> image-only,
text-only and fused classifiers on that tower -> captioner on its features
(beam, greedy, nearest-neighbour baseline) -> captions of image files ->
SavedModel export -> image embedder (semi-hard triplet mining) -> retrieval
index of the generated captions and the embedder's image vectors (similar
and divergent images, evaluated on the world's ground truth) ->
``report.html``.

Two profiles: the full one (6,000 images at 64 px) and ``quick`` (2,400
images at 32 px: 50 per class, enough for every model to learn). The demo's
own figures are what its report shows; the benchmarks measure separately.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

#: profile -> world size and training lengths.
PROFILES: dict[str, dict[str, Any]] = {
    "full": dict(images=6000, size=64, image_epochs=10, text_epochs=10,
                 fused_epochs=10, tagger_epochs=15, caption_epochs=10,
                 embedder_epochs=10),
    "quick": dict(images=2400, size=32, image_epochs=10, text_epochs=8,
                  fused_epochs=8, tagger_epochs=12, caption_epochs=9,
                  embedder_epochs=6),
}  # fmt: skip
CHANCE = 1 / 48


class Demo:
    """One demo run into ``out`` (see the module docstring)."""

    def __init__(self, out: str | Path, profile: str, images: int | None, seed: int):
        if profile not in PROFILES:
            raise ValueError(
                f"unknown demo profile {profile!r}; valid: {list(PROFILES)}"
            )
        self.out = Path(out)
        self.p = dict(PROFILES[profile])
        if images:
            self.p["images"] = int(images)
        self.profile, self.seed = profile, seed
        self.world = self.out / "world"
        self.runs = self.out / "runs"
        self.rows: list[tuple[str, str, float, str]] = []  # step, figure, value, note
        self.t_start = time.perf_counter()

    # ----------------------------------------------------------------- util
    def step(self, title: str) -> float:
        print(f"\n== {title} ==", flush=True)
        return time.perf_counter()

    def done(self, t0: float) -> None:
        print(f"  ({time.perf_counter() - t0:.0f} s)", flush=True)

    def record(self, step: str, figure: str, value: float, note: str = "") -> None:
        self.rows.append((step, figure, float(value), note))
        print(f"  {figure:42s} {value:.3f} {note}", flush=True)

    def fit(self, task: str, cfg: Any, name: str) -> tuple[Path, dict[str, Any]]:
        from mmvision.configs import to_dict
        from mmvision.training import fit_task, run_dir
        from mmvision.training.callbacks import EpochProgress

        run = self.runs / name
        same = (run / run_dir.CONFIG).is_file() and (
            run_dir.read_config(run) == to_dict(cfg)
        )
        if (
            same
            and (run / run_dir.METRICS).is_file()
            and (run / run_dir.MODEL).is_file()
        ):
            print(f"  {name}: reusing the finished run in {run}")
            return run, run_dir.read_metrics(run)
        resume = same and (run / run_dir.CHECKPOINTS / run_dir.LAST).is_file()
        if not resume and run.exists():
            import shutil

            shutil.rmtree(run)  # another config, or stopped before its first epoch
        bar = EpochProgress(name, cfg.train.epochs)
        metrics = fit_task(task, cfg, self.world, run, resume=resume, callbacks=[bar])
        return run, metrics

    # ---------------------------------------------------------------- steps
    def make_world(self) -> None:
        from mmvision.datasets import shapes
        from mmvision.report.world import world_summary

        t0 = self.step("1. demo world: render it in five real dataset layouts")
        if (self.world / "world.json").is_file():
            info = shapes.load_world_info(self.world)
            if (
                info.get("n_images") == self.p["images"]
                and info.get("size") == self.p["size"]
            ):
                print(f"  reusing {self.world}")
                return self.done(t0)
        summary = shapes.generate(
            self.world, n_images=self.p["images"], size=self.p["size"], seed=self.seed
        )
        print(world_summary(summary))
        self.done(t0)

    def read_everything(self) -> None:
        from mmvision.data import pipelines, sources

        t0 = self.step("2. readers and pipelines: every layout, one tf.data batch")
        layouts = {
            "webvision": (self.world / "webvision", {"split": "train"}),
            "flickr8k": (self.world / "flickr8k", {"split": "all"}),
            "tiny_imagenet": (self.world / "tiny-imagenet-200", {"split": "all"}),
            "folders": (self.world / "folders", {"sidecar_json": True}),
        }
        for kind, (root, kw) in layouts.items():
            manifest, report, classes = sources.read(kind, root, **kw)
            skipped = dict(report.skipped or {})
            print(
                f"  {kind:14s} {len(manifest):6d} rows {len(classes):3d} classes, "
                f"skipped {skipped or 'nothing'}"
            )
        triplets = sources.read("triplets", self.world / "triplets.txt")[0]
        print(f"  {'triplets':14s} {len(triplets):6d} triplets")
        manifest, _, _ = sources.read(
            "webvision", self.world / "webvision", split="train"
        )
        ds = pipelines.classification_dataset(
            manifest.head(64), image_size=self.p["size"], batch_size=32,
            fields=("image", "title", "description", "tags"),
        )  # fmt: skip
        x, y = next(iter(ds))
        shapes = {k: tuple(v.shape) for k, v in x.items()}
        print(f"  classification batch: {shapes}, labels {tuple(y.shape)}")
        self.done(t0)

    def classifiers(self, tower_run: Path) -> None:
        from mmvision import configs
        from mmvision.training import evaluate_run

        t0 = self.step(
            "4. classification: image only, text only, fused (concat), on the "
            "caption-word tower (frozen)"
        )
        size, p = self.p["size"], self.p

        def cfg(preset: str, epochs: int, *extra: str):
            base = configs.get_preset("classifier", preset)
            return configs.apply_overrides(
                base,
                [f"data.image_size={size}", f"train.epochs={epochs}", "train.verbose=0",
                 f"train.seed={self.seed}", *extra],
            )  # fmt: skip

        tower = [f"model.image_weights={tower_run}", "model.freeze_fraction=1.0"]
        image_cfg = cfg("demo_image", p["image_epochs"], *tower)
        image_run, _ = self.fit("classifier", image_cfg, "image")
        text_cfg = cfg("demo_text_bow", p["text_epochs"])
        text_run, _ = self.fit("classifier", text_cfg, "text")
        fused_cfg = cfg("demo_fused_pretrained", p["fused_epochs"], *tower)
        fused_run, _ = self.fit("classifier", fused_cfg, "fused")
        figures = {}
        for name, run in (
            ("image", image_run),
            ("text", text_run),
            ("fused", fused_run),
        ):
            res = evaluate_run(run)
            figures[name] = res["test_top1"]
            self.record("classifier", f"{name} only test top-1" if name != "fused"
                        else "fused test top-1", res["test_top1"],
                        f"(chance {CHANCE:.3f})")  # fmt: skip
            if name == "fused":
                rob = res["robustness"]
                self.record(
                    "classifier", "fused, text removed: top-1", rob["text_missing"]
                )
                self.record(
                    "classifier", "fused, image removed: top-1", rob["image_missing"]
                )
                for field, v in res["field_robustness"].items():
                    if field != "classes":
                        self.record(
                            "classifier",
                            f"fused, 5 classes, {field} removed".replace(
                                "none removed", "nothing removed"
                            ),
                            v,
                        )
        gain = figures["fused"] - max(figures["image"], figures["text"])
        self.record("classifier", "fused minus best single modality", gain)
        self.done(t0)

    def caption_words(self) -> Path:
        from mmvision import configs

        t0 = self.step("3. caption-word image tower: learns the world from captions")
        size, p = self.p["size"], self.p
        tagger = configs.apply_overrides(
            configs.get_preset("concept_tagger", "demo_concept_tagger"),
            [f"data.image_size={size}", f"train.epochs={p['tagger_epochs']}",
             "model.tower=small_cnn", "train.verbose=0", "data.batch_size=64"],
        )  # fmt: skip
        tagger_run, tm = self.fit("concept_tagger", tagger, "caption_words")
        self.record("tower", "caption-word tower test word mAP", tm["test_word_map"])
        self.done(t0)
        return tagger_run

    def captioner(self, tagger_run: Path) -> Path:
        from mmvision import configs

        t0 = self.step("5. captioning: CNN-LSTM merge decoder on the tower's features")
        size, p = self.p["size"], self.p
        cap = configs.apply_overrides(
            configs.get_preset("captioner", "demo_captioner"),
            [f"data.image_size={size}", f"train.epochs={p['caption_epochs']}",
             "features.pretrain=none", f"features.source={tagger_run}",
             f"features.cache_dir={self.out / 'feature_cache'}", "train.verbose=0"],
        )  # fmt: skip
        cap_run, m = self.fit("captioner", cap, "captioner")
        self.record("captioning", "beam k=3 BLEU-4", m["bleu4"])
        self.record("captioning", "beam k=3 CIDEr-D", m["cider_d"])
        self.record("captioning", "greedy BLEU-4", m["greedy_bleu4"])
        self.record("captioning", "nearest-neighbour BLEU-4", m["nn_baseline_bleu4"])
        self.record("captioning", "beam minus nearest-neighbour BLEU-4",
                    m["bleu4"] - m["nn_baseline_bleu4"])  # fmt: skip
        self.done(t0)
        return cap_run

    def captions_and_export(self, cap_run: Path) -> None:
        import base64

        from mmvision.datasets import shapes
        from mmvision.export import export_captioner
        from mmvision.inference.captioner import caption_images

        t0 = self.step("6. caption image files; SavedModel export for TF Serving")
        truth = [
            r for r in shapes.load_ground_truth(self.world) if r["split"] == "test"
        ]
        paths = [self.world / "flickr8k" / "Flicker8k_Dataset" / f"{r['id']}.jpg"
                 for r in truth[:4]]  # fmt: skip
        for r in caption_images(cap_run, [p for p in paths if p.exists()]):
            print(f"  {Path(r.path).name}: {r.caption or r.error}")
        export = export_captioner(cap_run, self.out / "export" / "captioner" / "1")
        print(f"  SavedModel: {export}")
        import tensorflow as tf

        served = tf.saved_model.load(str(export)).signatures["serving_default"]
        body = {
            "instances": [{"b64": base64.b64encode(paths[0].read_bytes()).decode()}]
        }
        raw = [base64.b64decode(i["b64"]) for i in body["instances"]]
        out = served(image_bytes=tf.constant(raw))
        print(
            f"  served caption of {paths[0].name}: {out['caption'][0].numpy().decode()}"
        )
        self.done(t0)

    def embedder(self) -> Path:
        from mmvision import configs

        t0 = self.step("7. image embeddings: semi-hard triplet mining on P x K batches")
        cfg = configs.apply_overrides(
            configs.get_preset("embedder", "demo_embedder"),
            [f"data.image_size={self.p['size']}", f"train.seed={self.seed}",
             f"train.epochs={self.p['embedder_epochs']}", "train.verbose=0",
             # the world's canonical split: step 8's queries are its test
             # images, which the embedder must never train on
             "data.split_file=ground_truth.jsonl"],
        )  # fmt: skip
        run, m = self.fit("embedder", cfg, "embedder")
        self.record("embedder", "test triplet accuracy", m["test_triplet_acc"])
        self.record("embedder", "test mAP (same class)", m["test_map"],
                    f"(chance {CHANCE:.3f})")  # fmt: skip
        self.record("embedder", "test precision@5", m["test_p5"])
        self.record("embedder", "test pair ROC AUC", m["test_auc"])
        print(f"  plots and report: {run / 'report.html'}")
        self.done(t0)
        return run

    def retrieval(self, cap_run: Path, emb_run: Path) -> None:
        from mmvision.data.caption_data import read_caption_manifest
        from mmvision.retrieval import Retriever
        from mmvision.retrieval.world_report import evaluate_on_world

        t0 = self.step(
            "8. retrieval: similar and divergent images by captions and embeddings"
        )
        manifest, _, _ = read_caption_manifest(self.world)
        gallery = manifest[manifest["split"].isin(["train", "val"])]
        index = self.out / "index"
        r = Retriever.build(gallery, captioner=cap_run, image_source=emb_run)
        r.save(index)
        print(f"  {len(r)} train+val images captioned and indexed into {index}")
        figs = evaluate_on_world(
            Retriever.load(index), self.world, self.runs / "retrieval"
        )
        for method in ("caption", "bleu", "image", "combined", "random"):
            f = figs[method]
            self.record("retrieval", f"{method}: similar precision@5", f["similar_p5"])
            self.record("retrieval", f"{method}: divergent precision@5",
                        f["divergent_p5"])  # fmt: skip
        best = max(figs["caption"]["similar_p5"], figs["combined"]["similar_p5"])
        self.record("retrieval", "best similar p@5 minus random",
                    best - figs["random"]["similar_p5"])  # fmt: skip
        self.done(t0)

    def report(self) -> Path:
        from mmvision.report.demo import demo_report_html

        seconds = time.perf_counter() - self.t_start
        path = demo_report_html(self.out, self.rows, self.runs, seconds, self.profile)
        print("\n== summary ==")
        for step, figure, value, note in self.rows:
            print(f"  {step:11s} {figure:42s} {value:7.3f} {note}")
        print(f"\nreport: {path}")
        print(f"demo ({self.profile}) finished in {seconds / 60:.1f} min; "
              f"everything is under {self.out}")  # fmt: skip
        return path


def run(
    out: str | Path,
    quick: bool = False,
    images: int | None = None,
    seed: int = 0,
    verbose: bool = False,
) -> int:
    """Runs the demo into ``out``; returns a process exit code. A finished
    step's runs are reused when the demo is started again on the same folder."""
    from mmvision.utils import quiet_tensorflow

    quiet_tensorflow(verbose)
    demo = Demo(out, "quick" if quick else "full", images, seed)
    demo.out.mkdir(parents=True, exist_ok=True)
    demo.make_world()
    demo.read_everything()
    tower = demo.caption_words()
    demo.classifiers(tower)
    cap_run = demo.captioner(tower)
    demo.captions_and_export(cap_run)
    emb_run = demo.embedder()
    demo.retrieval(cap_run, emb_run)
    demo.report()
    return 0


__all__ = ["PROFILES", "Demo", "run"]
