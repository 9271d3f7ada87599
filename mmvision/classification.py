"""Train and evaluate the multimodal classifier: the library behind
``mmvision train classifier`` and ``mmvision evaluate``.

A run reads a dataset with ``mmvision.data.sources``, splits it per class,
feeds it through ``mmvision.data.pipelines`` and fits
``build_multimodal_classifier`` with checkpoints (``--resume``), early
stopping, ReduceLROnPlateau and a CSV history, all in one run directory
(``mmvision.runs``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmvision import runs
from mmvision.configs import ClassifierConfig, from_dict, to_dict

#: Layout below a demo world root for each reader.
_DEMO_LAYOUT = {
    "webvision": "webvision",
    "folders": "folders",
    "tiny_imagenet": "tiny-imagenet-200",
    "flickr8k": "flickr8k",
}
ROBUSTNESS = ("both", "text_missing", "image_missing")


@dataclasses.dataclass
class ClassificationData:
    """A split Manifest and its classes."""

    manifest: pd.DataFrame
    classes: list[str]
    root: Path
    report: Any = None

    def split(self, name: str) -> pd.DataFrame:
        return self.manifest[self.manifest["split"] == name].reset_index(drop=True)


def load_data(cfg: ClassifierConfig, data_dir: str | os.PathLike) -> ClassificationData:
    """Reads and splits the dataset at ``data_dir`` as ``cfg.data`` says.

    Raises:
        FileNotFoundError: ``data_dir`` does not exist.
        ValueError: a text field the model needs is absent from every row,
            or a split came out empty.
    """
    from mmvision.data import sources, splits

    data_dir = Path(data_dir)
    if not data_dir.exists():
        raise FileNotFoundError(f"data directory {data_dir} does not exist")
    d = cfg.data
    root = data_dir
    if (data_dir / "world.json").exists() and d.format in _DEMO_LAYOUT:
        root = data_dir / _DEMO_LAYOUT[d.format]
    kwargs: dict[str, Any] = {}
    if d.format == "webvision":
        kwargs = {"sources": tuple(d.sources), "split": "train"}
    elif d.format == "folders":
        kwargs = {"sidecar_json": True}
    elif d.format == "tiny_imagenet":
        kwargs = {"split": "all"}
    manifest, report, classes = sources.read(d.format, root, **kwargs)
    if manifest.empty:
        raise ValueError(f"no usable rows in {root} ({d.format}): {report}")
    if cfg.model.text_tower:
        for f in d.fields:
            if f not in ("title", "description", "tags"):
                raise ValueError(
                    f"unknown text field {f!r} in data.fields; valid: "
                    "['title', 'description', 'tags']"
                )
            col = manifest[f]
            present = col.map(
                lambda v: bool(len(v)) if isinstance(v, list) else bool(str(v).strip())
            )
            if not present.any():
                raise ValueError(
                    f"text field {f!r} is required by the model (data.fields) but "
                    f"no row of {root} has it; remove it, e.g. --set "
                    f"data.fields={','.join(x for x in d.fields if x != f)}"
                )
    if d.split == "stratified":
        train_frac = 1.0 - d.val_fraction - d.test_fraction
        manifest = splits.stratified_split(
            manifest,
            fractions={
                "train": train_frac,
                "val": d.val_fraction,
                "test": d.test_fraction,
            },
            seed=d.split_seed,
        )
    elif d.split != "given":
        raise ValueError(
            f"unknown data.split {d.split!r}; valid: ['stratified', 'given']"
        )
    for s in ("train", "val", "test"):
        if not (manifest["split"] == s).any():
            raise ValueError(
                f"split {s!r} of {root} is empty; check data.split settings"
            )
    return ClassificationData(manifest, list(classes), root, report)


def _fields(cfg: ClassifierConfig) -> tuple[str, ...]:
    text = tuple(cfg.data.fields) if cfg.model.text_tower else ()
    return (("image",) if cfg.model.image_tower else ()) + text


def make_dataset(
    cfg: ClassifierConfig,
    manifest: pd.DataFrame,
    training: bool,
    fields: Sequence[str] | None = None,
):
    """The ``tf.data`` pipeline of a split (``(features, label)`` batches)."""
    from mmvision.data import pipelines

    return pipelines.classification_dataset(
        manifest,
        image_size=cfg.data.image_size,
        batch_size=cfg.train.batch_size,
        fields=tuple(fields or _fields(cfg)),
        shuffle=training,
        seed=cfg.train.seed,
        cache=cfg.data.cache,
        augment=(cfg.data.augment or None) if training else None,
    )


def build_model(cfg: ClassifierConfig, data: ClassificationData):
    """The classifier of ``cfg`` for ``data`` (vocabularies from its train split)."""
    import keras

    from mmvision.models.multimodal_classifier import build_multimodal_classifier

    keras.utils.set_random_seed(cfg.train.seed)
    train = data.split("train")
    adapt = {}
    for f in cfg.data.fields:
        col = train[f]
        adapt[f] = [" ".join(v) if isinstance(v, list) else str(v) for v in col]
    m = cfg.model
    if m.image_tower and m.freeze_fraction > 0 and not m.image_weights:
        raise ValueError(
            f"preset {cfg.preset!r} freezes {m.freeze_fraction:.0%} of a randomly "
            "initialised image tower; give it trained weights with --set "
            "model.image_weights=imagenet|<file.h5>|<run directory> (on the demo "
            "world: the run directory of a demo_image run)"
        )
    return build_multimodal_classifier(
        len(data.classes),
        image_tower=m.image_tower,
        image_size=cfg.data.image_size,
        image_weights=m.image_weights,
        freeze_fraction=m.freeze_fraction,
        text_fields=tuple(cfg.data.fields) if m.text_tower else (),
        text_tower=m.text_tower,
        text_dim=m.text_dim,
        text_options=m.text_options,
        adapt_texts=adapt,
        share_text_tower=m.share_text_tower,
        fusion=m.fusion,
        modality_dropout=m.modality_dropout,
        text_dropout=m.text_dropout,
        hidden_units=m.hidden_units,
        dropout=m.dropout,
        seed=cfg.train.seed,
    )


LR_SCHEDULES = ("plateau", "cosine")


def compile_model(model, cfg: ClassifierConfig, steps_per_epoch: int = 1) -> None:
    """Compiles with the config's optimizer; ``"cosine"`` decays per step."""
    import keras

    t = cfg.train
    if t.lr_schedule not in LR_SCHEDULES:
        raise ValueError(
            f"unknown train.lr_schedule {t.lr_schedule!r}; valid: {list(LR_SCHEDULES)}"
        )
    lr: Any = t.learning_rate
    if t.lr_schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(
            t.learning_rate, decay_steps=max(1, int(t.epochs * steps_per_epoch))
        )
    try:
        optimizer = keras.optimizers.get(
            {"class_name": t.optimizer, "config": {"learning_rate": lr}}
        )
    except ValueError:
        raise ValueError(
            f"unknown optimizer {cfg.train.optimizer!r}; use a keras optimizer name "
            "such as adam, nadam, adamax, adagrad, sgd"
        ) from None
    model.compile(
        optimizer=optimizer,
        loss="sparse_categorical_crossentropy",
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="top1"),
            keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5"),
        ],
    )


def train_classifier(
    cfg: ClassifierConfig,
    data_dir: str | os.PathLike | None,
    out: str | os.PathLike,
    resume: bool = False,
) -> dict[str, Any]:
    """Trains a classifier run in ``out``; returns its metrics.

    With ``resume=True`` it continues from ``out/checkpoints/last.keras``
    (model, optimizer state and epoch count) with the run's own config and,
    when ``data_dir`` is ``None``, its recorded data; a corrupt checkpoint is
    an error, never a silent fresh start. (EarlyStopping and ReduceLROnPlateau
    restart their patience counters on resume.)
    """
    run = runs.prepare(out, resume)
    import keras

    if resume:
        cfg = from_dict(ClassifierConfig, runs.read_config(run))
        model, state = runs.load_checkpoint(run)  # before any slow work: fail fast
        data_dir = data_dir or runs.read_info(run)["data_dir"]
    data = load_data(cfg, data_dir)
    train_ds = make_dataset(cfg, data.split("train"), training=True)
    if not resume:
        from mmvision.utils import write_json_atomic

        write_json_atomic(run / runs.CONFIG, to_dict(cfg))
        runs.write_info(run, data_dir)
        write_json_atomic(run / "classes.json", data.classes)
        model = build_model(cfg, data)
        steps = runs.optimizer_steps_per_epoch(
            train_ds, len(data.split("train")), cfg.train.batch_size
        )
        compile_model(model, cfg, steps)
        state = runs.new_state()
    val_ds = make_dataset(cfg, data.split("val"), training=False)
    t = cfg.train
    callbacks = [
        runs.learning_rate_log(),  # first, so that the CSV history has the column
        keras.callbacks.CSVLogger(str(run / runs.HISTORY), append=resume),
    ]
    if t.early_stopping_patience > 0:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=t.early_stopping_patience
            )
        )
    if t.lr_schedule == "plateau":
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss",
                factor=t.reduce_lr_factor,
                patience=t.reduce_lr_patience,
            )
        )
    callbacks.append(runs.checkpoint_callback(run, state))
    t0 = time.perf_counter()
    if state["epoch"] < t.epochs:
        model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=t.epochs,
            initial_epoch=int(state["epoch"]),
            callbacks=callbacks,
            verbose=t.verbose,
            shuffle=False,  # the pipeline shuffles
        )
    train_seconds = time.perf_counter() - t0
    runs.save_best_model(model, run)
    results = {}
    for split in ("val", "test"):
        ds = make_dataset(cfg, data.split(split), training=False)
        values = model.evaluate(ds, verbose=0, return_dict=True)
        results[split] = {
            "top1": values["top1"],
            "top5": values["top5"],
            "loss": values["loss"],
        }
    metrics = runs.write_metrics(
        run,
        {
            **results,
            "epochs_trained": state["epoch"],
            "best_epoch": state["best_epoch"],
            "train_seconds": train_seconds,
        },
    )
    return metrics


# --------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------


def load_run(run: str | os.PathLike):
    """``(config, model, classes)`` of a finished classifier run."""
    import keras

    import mmvision.layers  # noqa: F401

    run = Path(run)
    cfg = from_dict(ClassifierConfig, runs.read_config(run))
    path = run / runs.MODEL
    if not path.exists():
        raise runs.RunError(f"{run} has no trained model: {path} is missing")
    try:
        model = keras.saving.load_model(path)
    except Exception as e:
        raise runs.RunError(f"cannot load {path}: {type(e).__name__}: {e}") from None
    classes = json.loads((run / "classes.json").read_text())
    return cfg, model, classes


def predict_split(model, cfg: ClassifierConfig, manifest: pd.DataFrame, drop=None):
    """``(probs, labels, embeddings or None)`` over a split, optionally with a
    modality removed (``"text"`` or ``"image"``)."""
    import keras

    from mmvision.models.multimodal_classifier import (
        FUSED_EMBEDDING,
        OUTPUT,
        drop_modality,
    )

    ds = make_dataset(cfg, manifest, training=False)
    if drop:
        ds = ds.map(lambda x, y: (drop_modality(x, drop), y))
    try:
        emb_layer = model.get_layer(FUSED_EMBEDDING)
        both = keras.Model(
            model.inputs, [model.get_layer(OUTPUT).output, emb_layer.output]
        )
    except ValueError:
        both = None
    probs, embs, labels = [], [], []
    for x, y in ds:
        if both is not None:
            p, e = both(x, training=False)
            embs.append(np.asarray(e))
        else:
            p = model(x, training=False)
        probs.append(np.asarray(p))
        labels.append(np.asarray(y))
    return (
        np.concatenate(probs),
        np.concatenate(labels),
        np.concatenate(embs) if embs else None,
    )


def evaluate_classifier(
    run: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    split: str = "test",
    plots: bool = True,
) -> dict[str, Any]:
    """Top-1/top-5, per-class accuracy, the robustness table and plots.

    Writes ``metrics.json`` (keys like ``test_top1``,
    ``test_text_missing_top1``), ``per_class_accuracy.json``,
    ``confusion_matrix.png``, ``tsne.png`` and ``learning_curves.png``.
    """
    from mmvision import metrics as M
    from mmvision import report

    run = Path(run)
    cfg, model, classes = load_run(run)
    data = load_data(cfg, data_dir or runs.read_info(run)["data_dir"])
    manifest = data.split(split)
    has_text = bool(cfg.model.text_tower)
    has_image = bool(cfg.model.image_tower)
    results: dict[str, Any] = {}
    probs, labels, emb = predict_split(model, cfg, manifest)
    pred = probs.argmax(1)
    results[f"{split}_top1"] = M.top_k_accuracy(labels, probs, 1)
    results[f"{split}_top5"] = M.top_k_accuracy(labels, probs, 5)
    per_class = M.per_class_accuracy(labels, pred, len(classes))
    results[f"{split}_mean_per_class_top1"] = float(np.nanmean(per_class))
    robustness = {"both": results[f"{split}_top1"]}
    if has_text and has_image:
        for drop, key in (("text", "text_missing"), ("image", "image_missing")):
            p, y, _ = predict_split(model, cfg, manifest, drop=drop)
            robustness[key] = M.top_k_accuracy(y, p, 1)
            results[f"{split}_{key}_top1"] = robustness[key]
    from mmvision.utils import write_json_atomic

    write_json_atomic(
        run / "per_class_accuracy.json",
        {c: (None if np.isnan(a) else float(a)) for c, a in zip(classes, per_class)},
    )
    runs.write_metrics(run, results)
    if plots:
        cm = M.confusion_matrix(labels, pred, n_classes=len(classes))
        report.confusion_matrix_png(cm, classes, run / "confusion_matrix.png")
        if emb is not None:
            report.tsne_png(emb, labels, classes, run / "tsne.png", seed=cfg.train.seed)
        if (run / runs.HISTORY).exists():
            report.learning_curves_png(run / runs.HISTORY, run / "learning_curves.png")
        report.classifier_report_html(run, results, robustness, classes, per_class)
    results["robustness"] = robustness
    return results
