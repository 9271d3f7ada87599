"""Classification data: a dataset read and split as a classifier config says,
and its ``tf.data`` pipelines (what training, evaluation and inference share)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pandas as pd

#: layout below a demo world root for each reader.
DEMO_LAYOUT = {
    "webvision": "webvision",
    "folders": "folders",
    "tiny_imagenet": "tiny-imagenet-200",
    "flickr8k": "flickr8k",
}


@dataclasses.dataclass
class ClassificationData:
    """A split Manifest and its classes."""

    manifest: pd.DataFrame
    classes: list[str]
    root: Path
    report: Any = None

    def split(self, name: str) -> pd.DataFrame:
        return self.manifest[self.manifest["split"] == name].reset_index(drop=True)


def _check_fields(cfg: Any, manifest: pd.DataFrame, root: Path) -> None:
    from mmvision.data.manifest import TEXT_FIELDS

    d = cfg.data
    for f in d.fields:
        if f not in TEXT_FIELDS:
            raise ValueError(
                f"unknown text field {f!r} in data.fields; valid: {list(TEXT_FIELDS)}"
            )
        present = manifest[f].map(
            lambda v: bool(len(v)) if isinstance(v, list) else bool(str(v).strip())
        )
        if not present.any():
            raise ValueError(
                f"text field {f!r} is required by the model (data.fields) but "
                f"no row of {root} has it; remove it, e.g. --set "
                f"data.fields={','.join(x for x in d.fields if x != f)}"
            )


def load_classification_data(cfg: Any, data_dir: str | os.PathLike):
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
    if (data_dir / "world.json").exists() and d.format in DEMO_LAYOUT:
        root = data_dir / DEMO_LAYOUT[d.format]
    kwargs: dict[str, Any] = {
        "webvision": {"sources": tuple(d.sources), "split": "train"},
        "folders": {"sidecar_json": True},
        "tiny_imagenet": {"split": "all"},
    }.get(d.format, {})
    manifest, report, classes = sources.read(d.format, root, **kwargs)
    if manifest.empty:
        raise ValueError(f"no usable rows in {root} ({d.format}): {report}")
    if cfg.model.text_tower:
        _check_fields(cfg, manifest, root)
    if d.split == "stratified":
        fractions = {
            "train": 1.0 - d.val_fraction - d.test_fraction,
            "val": d.val_fraction,
            "test": d.test_fraction,
        }
        manifest = splits.stratified_split(manifest, fractions, seed=d.split_seed)
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


def input_fields(cfg: Any) -> tuple[str, ...]:
    """The model inputs ``cfg`` feeds: ``image`` and the text fields."""
    text = tuple(cfg.data.fields) if cfg.model.text_tower else ()
    return (("image",) if cfg.model.image_tower else ()) + text


def make_dataset(cfg: Any, manifest: pd.DataFrame, training: bool):
    """The ``tf.data`` pipeline of a split (``(features, label)`` batches)."""
    from mmvision.data import pipelines

    return pipelines.classification_dataset(
        manifest,
        image_size=cfg.data.image_size,
        batch_size=cfg.train.batch_size,
        fields=input_fields(cfg),
        shuffle=training,
        seed=cfg.train.seed,
        cache=cfg.data.cache,
        augment=(cfg.data.augment or None) if training else None,
    )
