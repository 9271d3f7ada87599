"""Writes a sampled world to disk in the real dataset layouts.

Under the world's root: ``webvision/`` (WebVision 1.0: file lists, per-query
metadata JSON, val images), ``flickr8k/`` (token file, split lists),
``tiny-imagenet-200/`` (wnids, words, train boxes, val annotations, test),
``folders/`` (one folder per class, a sidecar JSON ``X`` beside each
``X.jpg``), ``triplets.txt`` (anchor / positive / negative paths),
``ground_truth.jsonl``, ``world.json`` and ``contact_sheet.png``.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mmvision.datasets.shapes.language import _queries
from mmvision.datasets.shapes.render import contact_sheet, render
from mmvision.datasets.shapes.scene import CLASSES, SPLITS, WorldConfig


def class_folder(name: str) -> str:
    return name.replace(" ", "_")


def class_wnid(label: int) -> str:
    return f"n9{label + 1:07d}"


def _encode_jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _write_lines(path: Path, lines: Sequence[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _write_world(root: Path, records: list[dict[str, Any]], cfg: WorldConfig) -> None:
    queries = _queries()
    wv, fk, ti, fo = (
        root / "webvision",
        root / "flickr8k",
        root / "tiny-imagenet-200",
        root / "folders",
    )
    for d in (
        wv / "info",
        wv / "val_images",
        fk / "Flicker8k_Dataset",
        fk / "Flickr8k_text",
        ti / "val" / "images",
        ti / "test" / "images",
    ):
        d.mkdir(parents=True, exist_ok=True)

    filelists: dict[str, list[str]] = {"google": [], "flickr": []}
    metalists: dict[str, list[str]] = {"google": [], "flickr": []}
    query_meta: dict[tuple[str, int], list[dict[str, Any]]] = {}
    val_list, tokens, boxes_by_class, val_ann = [], [], {}, []
    split_lists: dict[str, list[str]] = {s: [] for s in SPLITS}

    for r in records:
        rng = np.random.default_rng([cfg.seed, 3, int(r["id"][1:])])
        img = render(r["_scene"], cfg.size, rng, cfg.pixel_noise)
        data = _encode_jpeg(img, cfg.jpeg_quality)
        rid, label, folder = r["id"], r["label"], class_folder(r["label_name"])
        src, q = r["source"], r["query"]
        # WebVision: every image, in its source/query folder, with metadata.
        rel = f"{src}/q{q:04d}/{rid}.jpg"
        (wv / rel).parent.mkdir(parents=True, exist_ok=True)
        (wv / rel).write_bytes(data)
        entries = query_meta.setdefault((src, q), [])
        entries.append({"id": rid, **r["_meta"]})
        filelists[src].append(f"{rel} {label}")
        metalists[src].append(f"{src}/q{q:04d}.json {len(entries)}")
        if r["split"] == "val":
            (wv / "val_images" / f"{rid}.jpg").write_bytes(data)
            val_list.append(f"{rid}.jpg {label}")
        # Flickr8k: every image, five captions, canonical split lists.
        (fk / "Flicker8k_Dataset" / f"{rid}.jpg").write_bytes(data)
        tokens += [f"{rid}.jpg#{k}\t{c}" for k, c in enumerate(r["captions"])]
        split_lists[r["split"]].append(f"{rid}.jpg")
        # Tiny ImageNet: train / val (annotated) / test (unlabelled).
        wnid = class_wnid(label)
        box = "\t".join(str(v) for v in r["objects"][0]["bbox"])
        if r["split"] == "train":
            d = ti / "train" / wnid / "images"
            d.mkdir(parents=True, exist_ok=True)
            (d / f"{rid}.JPEG").write_bytes(data)
            boxes_by_class.setdefault(wnid, []).append(f"{rid}.JPEG\t{box}")
        elif r["split"] == "val":
            (ti / "val" / "images" / f"{rid}.JPEG").write_bytes(data)
            val_ann.append(f"{rid}.JPEG\t{wnid}\t{box}")
        else:
            (ti / "test" / "images" / f"{rid}.JPEG").write_bytes(data)
        # Class-per-folder tree with the seed study's sidecar JSON.
        (fo / folder).mkdir(parents=True, exist_ok=True)
        (fo / folder / f"{rid}.jpg").write_bytes(data)
        sidecar = {"title": r["title"], "description": r["description"]}
        (fo / folder / rid).write_text(json.dumps(sidecar, sort_keys=True) + "\n")

    info = wv / "info"
    _write_lines(
        info / "synsets.txt",
        [f"{class_wnid(i)} {n}, {n.split()[1]}" for i, n in enumerate(CLASSES)],
    )
    for src in ("google", "flickr"):
        _write_lines(info / f"queries_{src}.txt", [q for q, _ in queries])
        _write_lines(info / f"train_filelist_{src}.txt", filelists[src])
        _write_lines(info / f"train_meta_list_{src}.txt", metalists[src])
    _write_lines(
        info / "queries_synsets_map.txt",
        [f"{i + 1} {label}" for i, (_, label) in enumerate(queries)],
    )
    _write_lines(info / "val_filelist.txt", val_list)
    for (src, q), entries in sorted(query_meta.items()):
        path = wv / "meta" / src / f"q{q:04d}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(entries, sort_keys=True, ensure_ascii=False))

    text = fk / "Flickr8k_text"
    # The real token file holds one bogus key matching no image.
    tokens.insert(len(tokens) // 2, "s9999999.jpg.1\tA bogus caption .")
    _write_lines(text / "Flickr8k.token.txt", tokens)
    for split, name in (("train", "train"), ("val", "dev"), ("test", "test")):
        _write_lines(text / f"Flickr_8k.{name}Images.txt", split_lists[split])

    wnids = [class_wnid(i) for i in range(len(CLASSES))]
    _write_lines(ti / "wnids.txt", wnids)
    words = [f"{w}\t{n}, {n.split()[1]} shape" for w, n in zip(wnids, CLASSES)]
    # words.txt covers every synset, not just the dataset's: add unrelated ones.
    words += [f"n8{k:07d}\tunrelated synset {k}" for k in range(1, 21)]
    _write_lines(ti / "words.txt", sorted(words))
    for wnid, lines in boxes_by_class.items():
        _write_lines(ti / "train" / wnid / f"{wnid}_boxes.txt", lines)
    _write_lines(ti / "val" / "val_annotations.txt", val_ann)

    # Triplets: anchor, positive (same class), negative (other class); train only.
    train = [r for r in records if r["split"] == "train"]
    by_label: dict[int, list[dict[str, Any]]] = {}
    for r in train:
        by_label.setdefault(r["label"], []).append(r)
    rng = np.random.default_rng([cfg.seed, 4])
    labels = sorted(by_label)
    trip = []

    def fpath(r: dict[str, Any]) -> str:
        return f"folders/{class_folder(r['label_name'])}/{r['id']}.jpg"

    for r in train:
        same = [o for o in by_label[r["label"]] if o["id"] != r["id"]]
        if not same or len(labels) < 2:
            continue
        pos = same[int(rng.integers(len(same)))]
        neg_label = labels[int(rng.integers(len(labels)))]
        while neg_label == r["label"]:
            neg_label = labels[int(rng.integers(len(labels)))]
        neg = by_label[neg_label][int(rng.integers(len(by_label[neg_label])))]
        trip.append(f"{fpath(r)} {fpath(pos)} {fpath(neg)}")
    _write_lines(root / "triplets.txt", trip)

    public = [{k: v for k, v in r.items() if not k.startswith("_")} for r in records]
    _write_lines(
        root / "ground_truth.jsonl",
        [json.dumps(r, sort_keys=True, ensure_ascii=False) for r in public],
    )
    counts = Counter(r["split"] for r in records)
    world = {
        "name": "mmvision shapes demo world",
        "seed": cfg.seed,
        "n_images": cfg.n_images,
        "size": cfg.size,
        "config": dataclasses.asdict(cfg),
        "classes": [
            {
                "label": i,
                "name": n,
                "folder": class_folder(n),
                "wnid": class_wnid(i),
                "colour": n.split()[0],
                "shape": n.split()[1],
            }
            for i, n in enumerate(CLASSES)
        ],
        "splits": {s: counts.get(s, 0) for s in SPLITS},
    }
    (root / "world.json").write_text(json.dumps(world, indent=2, sort_keys=True) + "\n")
    contact_sheet(records, cfg, root / "contact_sheet.png")
