"""The demo world as a whole: sampling every record, writing, reading back."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmvision.datasets.shapes.language import _queries, captions_for, web_text
from mmvision.datasets.shapes.layouts import _write_world
from mmvision.datasets.shapes.scene import (
    CLASSES,
    SPLITS,
    WorldConfig,
    _assign_splits,
    _sample_scene,
)
from mmvision.utils import atomic_path


def sample_world(cfg: WorldConfig) -> list[dict[str, Any]]:
    """Samples every image's record (scene, texts, split) without rendering."""
    if cfg.n_images < 1:
        raise ValueError(f"n_images must be >= 1, got {cfg.n_images}")
    if not 16 <= cfg.size <= 1024:
        raise ValueError(f"size must be between 16 and 1024 px, got {cfg.size}")
    n_cls = len(CLASSES)
    perm = np.random.default_rng([cfg.seed, 1]).permutation(cfg.n_images)
    labels = perm % n_cls
    splits = _assign_splits(labels, cfg.seed, cfg.split_fractions)
    queries = _queries()
    by_class: dict[int, list[int]] = {}
    for q, (_, label) in enumerate(queries):
        by_class.setdefault(label, []).append(q + 1)
    records = []
    for i in range(cfg.n_images):
        rng = np.random.default_rng([cfg.seed, 2, i])
        label = int(labels[i])
        scene = _sample_scene(rng, label, cfg)
        source = "google" if rng.random() < 0.5 else "flickr"
        query = by_class[label][int(rng.integers(len(by_class[label])))]
        meta, wrong = web_text(rng, scene, source, cfg)
        captions = captions_for(rng, scene, cfg.size)
        records.append(
            {
                "id": f"s{i:07d}",
                "split": splits[i],
                "label": label,
                "label_name": CLASSES[label],
                "source": source,
                "query": query,
                "background": {k: scene["background"][k] for k in ("kind", "colour")},
                "objects": [
                    {k: o[k] for k in ("shape", "colour", "size", "cx", "cy", "bbox")}
                    for o in scene["objects"]
                ],
                "title": meta.get("title", ""),
                "description": meta.get("description", ""),
                "tags": meta.get("tags", []),
                "captions": captions,
                "text_noise": wrong,
                "_scene": scene,
                "_meta": meta,
            }
        )
    return records


def _caption_vocab(records: Sequence[dict[str, Any]]) -> set[str]:
    vocab: set[str] = set()
    for r in records:
        for c in r["captions"]:
            vocab.update(re.findall(r"[a-z]+", c.lower()))
    return vocab


def summarize(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The figures ``mmvision data demo`` prints."""
    n = len(records)
    counts = Counter(r["split"] for r in records)
    return {
        "images": n,
        "classes": len({r["label"] for r in records}),
        "splits": {s: counts.get(s, 0) for s in SPLITS},
        "caption_vocabulary": len(_caption_vocab(records)),
        "missing_description_rate": sum(not r["description"] for r in records) / n,
        "text_label_noise_rate": sum(bool(r["text_noise"]) for r in records) / n,
        "sources": dict(sorted(Counter(r["source"] for r in records).items())),
    }


def generate(
    out_dir: str | os.PathLike,
    n_images: int = 6000,
    size: int = 64,
    seed: int = 0,
    **overrides: Any,
) -> dict[str, Any]:
    """Renders the world and writes every layout under ``out_dir``.

    The write is atomic: the world is built in a temporary folder beside
    ``out_dir`` and renamed into place, replacing an earlier world there. A
    non-empty ``out_dir`` that is not a demo world is refused.

    Args:
        out_dir: destination folder.
        n_images: number of images.
        size: image side in pixels.
        seed: the same seed gives byte-identical files.
        **overrides: other ``WorldConfig`` fields.

    Returns:
        The summary dict (see ``summarize``) plus ``"root"``.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not (out / "world.json").exists():
        raise ValueError(
            f"refusing to write into {out}: it is not empty and holds no demo "
            "world (no world.json)"
        )
    cfg = WorldConfig(n_images=n_images, size=size, seed=seed, **overrides)
    records = sample_world(cfg)
    with atomic_path(out) as tmp:
        tmp.mkdir()
        _write_world(tmp, records, cfg)
        if out.is_dir() and not any(out.iterdir()):
            out.rmdir()
    summary = summarize(records)
    summary["root"] = str(out)
    return summary


def load_ground_truth(root: str | os.PathLike) -> list[dict[str, Any]]:
    """Reads ``ground_truth.jsonl`` of a world written by ``generate``."""
    path = Path(root) / "ground_truth.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"no demo world at {root}: {path} is missing")
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_world_info(root: str | os.PathLike) -> dict[str, Any]:
    """Reads ``world.json`` of a world written by ``generate``."""
    path = Path(root) / "world.json"
    if not path.is_file():
        raise FileNotFoundError(f"no demo world at {root}: {path} is missing")
    return json.loads(path.read_text(encoding="utf-8"))


def remove(root: str | os.PathLike) -> None:
    """Deletes a world written by ``generate`` (refuses other folders)."""
    root = Path(root)
    if not (root / "world.json").exists():
        raise ValueError(f"{root} is not a demo world (no world.json)")
    shutil.rmtree(root)
