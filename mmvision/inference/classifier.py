"""A trained classifier run as a predictor: load it, predict splits with a
field removed, classify image files ("top-5 suggested tags")."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np


class Classification(NamedTuple):
    """One image's top-k classes, or the error that prevented it."""

    path: str
    labels: list[str]
    scores: list[float]
    error: str | None


def load_classifier(run: str | os.PathLike) -> tuple[Any, Any, list[str]]:
    """``(config, model, classes)`` of a finished classifier run."""
    from mmvision.configs import ClassifierConfig, from_dict
    from mmvision.training import run_dir

    run = Path(run)
    cfg = from_dict(ClassifierConfig, run_dir.read_config(run))
    model = run_dir.load_model(run / run_dir.MODEL)
    classes = json.loads((run / "classes.json").read_text())
    return cfg, model, classes


def predict_split(model, cfg, manifest, drop: str | None = None):
    """``(probs, labels, fused embeddings or None)`` over a Manifest, with
    ``drop`` (``multimodal_classifier.REMOVABLE``: ``image``, ``text`` or one
    text field) removed from every batch."""
    import keras

    from mmvision.data.classification_data import make_dataset
    from mmvision.models.multimodal_classifier import (
        FUSED_EMBEDDING,
        OUTPUT,
        drop_modality,
    )

    ds = make_dataset(cfg, manifest, training=False)
    if drop:
        ds = ds.map(lambda x, y: (drop_modality(x, drop), y))
    try:
        emb = model.get_layer(FUSED_EMBEDDING).output
        both = keras.Model(model.inputs, [model.get_layer(OUTPUT).output, emb])
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


def classify_images(
    run: str | os.PathLike,
    paths: Sequence[str | os.PathLike],
    title: str = "",
    description: str = "",
    tags: Sequence[str] = (),
    top_k: int = 5,
) -> list[Classification]:
    """Top-``k`` classes of image files with a classifier run.

    Pixels come from ``data.images.file_to_pixels`` (the pipelines' own
    bytes -> pixels path); the text fields the model takes get ``title``,
    ``description`` and ``tags`` (the same for every image). An unreadable
    image gets ``labels=[]`` and an ``error`` naming the file.
    """
    import tensorflow as tf

    from mmvision.data import images

    cfg, model, classes = load_classifier(run)
    names = [t.name for t in model.inputs]
    size = int(cfg.data.image_size)
    k = max(1, min(int(top_k), len(classes)))
    texts = {"title": title, "description": description, "tags": " ".join(tags)}
    out: list[Classification] = []
    for p in paths:
        p = os.fspath(p)
        x: dict[str, Any] = {}
        if "image" in names:
            try:
                x["image"] = tf.convert_to_tensor(images.file_to_pixels(p, size)[None])
            except Exception as err:  # noqa: BLE001  (a bad file never kills the batch)
                out.append(Classification(p, [], [], f"cannot classify {p}: {err}"))
                continue
        for f in names:
            if f != "image":
                x[f] = tf.constant([texts.get(f, "")])
        probs = np.asarray(model(x, training=False))[0]
        top = np.argsort(-probs)[:k]
        out.append(
            Classification(
                p, [classes[i] for i in top], [float(probs[i]) for i in top], None
            )
        )
    return out
