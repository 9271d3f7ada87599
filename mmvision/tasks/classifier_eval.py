"""Full evaluation of a classifier run: the figures ``mmvision evaluate`` and
the demo report show.

- top-1 / top-5 and per-class accuracy on a split;
- robustness, whole modality: text removed, image removed (every image);
- robustness, one field (the WebVision study's test): for 5 random classes,
  each of image, title and description removed in turn;
- confusion matrix, t-SNE of the fused embedding for 10 classes, learning
  curves and ``report.html``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

ROBUSTNESS = ("both", "text_missing", "image_missing")
FIELD_ROBUSTNESS_CLASSES = 5
TSNE_CLASSES = 10


def field_robustness(model, cfg, manifest, n_classes: int, seed: int = 0):
    """``{"none": top1, "image": top1, "title": ..., ...}`` on the rows of
    ``FIELD_ROBUSTNESS_CLASSES`` random classes, one input removed at a time."""
    from mmvision import metrics as M
    from mmvision.data.classification_data import input_fields
    from mmvision.inference.classifier import predict_split

    rng = np.random.default_rng(seed)
    present = sorted(set(manifest["label"].astype(int)))
    pick = rng.choice(present, min(FIELD_ROBUSTNESS_CLASSES, len(present)), False)
    rows = manifest[manifest["label"].isin(pick)].reset_index(drop=True)
    fields = [f for f in ("image", "title", "description") if f in input_fields(cfg)]
    out = {"classes": [int(c) for c in sorted(pick)]}
    for drop in (None, *fields):
        p, y, _ = predict_split(model, cfg, rows, drop=drop)
        out[drop or "none"] = M.top_k_accuracy(y, p, 1)
    return out


def evaluate_classifier(
    run: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    split: str = "test",
    plots: bool = True,
) -> dict[str, Any]:
    """Writes ``metrics.json`` (keys like ``test_top1``, ``test_text_missing_top1``,
    ``test_field5_title_top1``), ``per_class_accuracy.json`` and the plots;
    returns the figures plus ``robustness`` and ``field_robustness`` tables."""
    from mmvision import metrics as M
    from mmvision import report
    from mmvision.data.classification_data import load_classification_data
    from mmvision.inference.classifier import load_classifier, predict_split
    from mmvision.training import run_dir
    from mmvision.utils import write_json_atomic

    run = Path(run)
    cfg, model, classes = load_classifier(run)
    data = load_classification_data(cfg, run_dir.data_dir_of(run, data_dir))
    manifest = data.split(split)
    results: dict[str, Any] = {}
    probs, labels, emb = predict_split(model, cfg, manifest)
    pred = probs.argmax(1)
    results[f"{split}_top1"] = M.top_k_accuracy(labels, probs, 1)
    results[f"{split}_top5"] = M.top_k_accuracy(labels, probs, 5)
    per_class = M.per_class_accuracy(labels, pred, len(classes))
    results[f"{split}_mean_per_class_top1"] = float(np.nanmean(per_class))
    robustness = {"both": results[f"{split}_top1"]}
    if cfg.model.text_tower and cfg.model.image_tower:
        for drop, key in (("text", "text_missing"), ("image", "image_missing")):
            p, y, _ = predict_split(model, cfg, manifest, drop=drop)
            robustness[key] = M.top_k_accuracy(y, p, 1)
            results[f"{split}_{key}_top1"] = robustness[key]
    fields = field_robustness(model, cfg, manifest, len(classes), cfg.train.seed)
    for k, v in fields.items():
        if k != "classes":
            results[f"{split}_field5_{'none' if k == 'none' else k}_top1"] = v
    write_json_atomic(
        run / "per_class_accuracy.json",
        {c: (None if np.isnan(a) else float(a)) for c, a in zip(classes, per_class)},
    )
    run_dir.write_metrics(run, results)
    if plots:
        cm = M.confusion_matrix(labels, pred, n_classes=len(classes))
        report.confusion_matrix_png(cm, classes, run / "confusion_matrix.png")
        if emb is not None:
            keep = _first_classes(labels, TSNE_CLASSES)
            noisy = _label_noise(data.root, manifest)
            report.tsne_png(
                emb[keep], labels[keep], classes, run / "tsne.png", seed=cfg.train.seed,
                marked=None if noisy is None else noisy[keep],
                marked_label="web text names a wrong shape or colour",
            )  # fmt: skip
        text_embedding_tsne(model, manifest, run / "text_tsne.png", cfg.train.seed)
        if (run / run_dir.HISTORY).exists():
            report.learning_curves_png(
                run / run_dir.HISTORY, run / "learning_curves.png"
            )
        report.classifier_report_html(
            run, results, robustness, classes, per_class, field_robustness=fields
        )
    results["robustness"] = robustness
    results["field_robustness"] = fields
    return results


def _first_classes(labels: np.ndarray, n: int) -> np.ndarray:
    """Row mask of the ``n`` lowest class ids present (distinct colours)."""
    keep = np.unique(labels)[:n]
    return np.isin(labels, keep)


def _label_noise(root: Path, manifest) -> np.ndarray | None:
    """Row mask of images whose web text is noisy, where ground truth exists
    (the demo world's ``ground_truth.jsonl`` beside the dataset root)."""
    import json

    truth = Path(root).parent / "ground_truth.jsonl"
    if not truth.is_file():
        return None
    noisy = set()
    with open(truth, encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            if rec.get("text_noise"):
                noisy.add(str(rec["id"]))
    stems = manifest["image_path"].map(lambda p: Path(str(p)).stem)
    return stems.isin(noisy).to_numpy()


def _tower_of(model, field: str):
    for name in (f"{field}_text_tower", "text_tower"):
        try:
            return model.get_layer(name)
        except ValueError:
            continue
    return None


def text_embedding_tsne(model, manifest, path: Path, seed: int = 0, n: int = 300):
    """t-SNE of title and description embeddings, before and after the
    projection head of frozen text encoders (the study's figure); writes
    ``path`` and returns the number of texts, or 0 when the model has no
    such towers (e.g. ``bow``, which learns its own embedding)."""
    import keras

    from mmvision.report.plots import text_tsne_png

    texts, before, after = {}, {}, {}
    for field in ("title", "description"):
        tower = _tower_of(model, field)
        if tower is None or not all(
            any(layer.name == k for layer in tower.layers)
            for k in ("encoder", "projection")
        ):
            return 0
        values = [str(t) for t in manifest[field] if str(t).strip()][:n]
        if not values:
            return 0
        x = np.asarray(values, dtype=object)
        enc = keras.Model(tower.inputs, tower.get_layer("encoder").output)
        texts[field] = values
        before[field] = np.asarray(enc.predict(x, verbose=0))
        after[field] = np.asarray(tower.predict(x, verbose=0))
    text_tsne_png(before, after, path, seed=seed)
    return sum(len(v) for v in texts.values())
