"""The multimodal classifier task (WebVision-style): image and text towers,
concatenated, trained with cross entropy.

Data: a reader of ``mmvision.data.sources`` (a demo world root picks the
matching layout), split per class; the model is
``models.build_multimodal_classifier``. Evaluation (``mmvision evaluate``):
top-1/top-5, per-class accuracy, the robustness tables (a whole modality
removed; one of image, title or description removed for 5 random classes),
confusion matrix, t-SNE and ``report.html``.
"""

from __future__ import annotations

import os
from typing import Any

from mmvision.data.classification_data import (
    DEMO_LAYOUT,
    ClassificationData,
    input_fields,
    load_classification_data,
    make_dataset,
)
from mmvision.tasks.base import Task

__all__ = [
    "DEMO_LAYOUT",
    "ClassificationData",
    "ClassifierTask",
    "image_tower_for",
    "input_fields",
    "load_classification_data",
    "make_dataset",
]

LR_SCHEDULES = ("plateau", "cosine")


def image_tower_for(cfg: Any) -> Any:
    """The image tower ``cfg.model`` asks for: a name, or a copy of the tower
    of the run directory ``model.image_weights`` names."""
    m = cfg.model
    if m.image_weights and os.path.isdir(os.fspath(m.image_weights)):
        from mmvision.inference.towers import copy_of_run_tower

        return copy_of_run_tower(m.image_tower, cfg.data.image_size, m.image_weights)
    return m.image_tower


class ClassifierTask(Task):
    """``train classifier``: see the module docstring."""

    name = "classifier"
    resume_keys = (
        "train.epochs",
        "train.verbose",
        "train.early_stopping_patience",
        "data.cache",
    )

    def patience(self, cfg):
        return int(cfg.train.early_stopping_patience)

    def load_data(self, cfg, data_dir, run=None):
        return load_classification_data(cfg, data_dir)

    def run_info(self, cfg, data):
        skipped = dict(getattr(data.report, "skipped", {}) or {})
        return {"classes": len(data.classes), "reader_skipped": skipped}

    def write_assets(self, cfg, data, run):
        from mmvision.utils import write_json_atomic

        write_json_atomic(run / "classes.json", data.classes)

    def datasets(self, cfg, data):
        return (
            make_dataset(cfg, data.split("train"), training=True),
            make_dataset(cfg, data.split("val"), training=False),
        )

    def steps_per_epoch(self, cfg, data, train_ds):
        from mmvision.training.run_dir import optimizer_steps_per_epoch

        n = len(data.split("train"))
        return optimizer_steps_per_epoch(train_ds, n, cfg.train.batch_size)

    def build_model(self, cfg, data):
        from mmvision.models.multimodal_classifier import build_multimodal_classifier

        train = data.split("train")
        adapt = {
            f: [" ".join(v) if isinstance(v, list) else str(v) for v in train[f]]
            for f in cfg.data.fields
        }
        m = cfg.model
        if m.image_tower and m.freeze_fraction > 0 and not m.image_weights:
            raise ValueError(
                f"preset {cfg.preset!r} freezes {m.freeze_fraction:.0%} of a randomly "
                "initialised image tower; give it trained weights with --set "
                "model.image_weights=imagenet|<file.h5>|<run directory> (on the "
                "demo world: the run directory of a demo_image run)"
            )
        tower = image_tower_for(cfg) if m.image_tower else None
        weights = None if not isinstance(tower, str) else m.image_weights
        return build_multimodal_classifier(
            len(data.classes),
            image_tower=tower,
            image_size=cfg.data.image_size,
            image_weights=weights,
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

    def compile(self, model, cfg, steps_per_epoch=1):
        import keras

        t = cfg.train
        if t.lr_schedule not in LR_SCHEDULES:
            raise ValueError(
                f"unknown train.lr_schedule {t.lr_schedule!r}; valid: "
                f"{list(LR_SCHEDULES)}"
            )
        lr: Any = self.schedule(cfg, steps_per_epoch) or t.learning_rate
        try:
            optimizer = keras.optimizers.get(
                {"class_name": t.optimizer, "config": {"learning_rate": lr}}
            )
        except ValueError:
            raise ValueError(
                f"unknown optimizer {t.optimizer!r}; use a keras optimizer name "
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

    def schedule(self, cfg, steps_per_epoch=1):
        import keras

        t = cfg.train
        if t.lr_schedule != "cosine":
            return None
        steps = max(1, int(t.epochs * steps_per_epoch))
        return keras.optimizers.schedules.CosineDecay(t.learning_rate, steps)

    def default_callbacks(self, cfg):
        import keras

        t = cfg.train
        if t.lr_schedule != "plateau":
            return []
        return [
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss",
                factor=t.reduce_lr_factor,
                patience=t.reduce_lr_patience,
            )
        ]

    def after_fit(self, run, model, cfg, data):
        out = {}
        for split in ("val", "test"):
            ds = make_dataset(cfg, data.split(split), training=False)
            values = model.evaluate(ds, verbose=0, return_dict=True)
            out[split] = {k: values[k] for k in ("top1", "top5", "loss")}
        return out

    def evaluate(self, run, data_dir=None, split=None):
        from mmvision.tasks.classifier_eval import evaluate_classifier

        return evaluate_classifier(run, data_dir, split=split or "test")
