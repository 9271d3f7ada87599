"""The demo world: determinism, every layout's format, captions, web text."""

import hashlib
import importlib
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmvision.datasets import shapes


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def gt(demo_world):
    return {r["id"]: r for r in shapes.load_ground_truth(demo_world)}


def test_vocabulary_of_the_world():
    assert len(shapes.SHAPES) >= 8 and len(shapes.COLOURS) >= 6
    assert len(shapes.CLASSES) == len(shapes.SHAPES) * len(shapes.COLOURS)
    assert len(set(shapes.CLASSES)) == len(shapes.CLASSES)
    assert set(shapes.BACKGROUNDS) == {
        "plain",
        "stripes",
        "checker",
        "gradient",
        "noise",
    }


def test_package_reexports_and_word_tables_match():
    from mmvision.datasets.shapes import language, layouts, scene, world

    # The function ``shapes.render`` shadows its module of the same name.
    render = importlib.import_module("mmvision.datasets.shapes.render")
    for name in shapes.__all__:
        assert hasattr(shapes, name), name
    assert shapes.generate is world.generate and shapes.render is render.render
    assert shapes.class_wnid is layouts.class_wnid
    assert shapes.names_object is language.names_object
    # Every shape and colour has words, in class order.
    assert list(shapes.SHAPE_WORDS) == scene.SHAPES
    assert list(shapes.COLOUR_WORDS) == list(scene.COLOURS)


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a = shapes.generate(tmp_path / "a", n_images=96, size=32, seed=5)
    shapes.generate(tmp_path / "b", n_images=96, size=32, seed=5)
    shapes.generate(tmp_path / "c", n_images=96, size=32, seed=6)
    da, db, dc = (tree_digest(tmp_path / x) for x in "abc")
    assert da == db
    assert da.keys() != dc.keys() or da != dc
    assert a["images"] == 96


def test_regenerating_in_place_replaces_the_world(tmp_path):
    shapes.generate(tmp_path / "w", n_images=96, size=32, seed=1)
    shapes.generate(tmp_path / "w", n_images=48, size=32, seed=1)
    assert len(shapes.load_ground_truth(tmp_path / "w")) == 48
    assert (
        len(list((tmp_path / "w" / "flickr8k" / "Flicker8k_Dataset").iterdir())) == 48
    )
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_refuses_a_foreign_non_empty_folder(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not empty"):
        shapes.generate(tmp_path, n_images=10, size=32)
    assert (tmp_path / "mine.txt").read_text() == "keep me"


@pytest.mark.parametrize("kwargs", [{"n_images": 0}, {"size": 8}])
def test_bad_arguments(tmp_path, kwargs):
    with pytest.raises(ValueError):
        shapes.generate(tmp_path / "w", **{"n_images": 10, **kwargs})


def test_ground_truth_classes_and_splits(demo_world, gt):
    info = shapes.load_world_info(demo_world)
    assert len(info["classes"]) == 48
    assert info["splits"] == dict(Counter(r["split"] for r in gt.values()))
    per_class = Counter((r["label"], r["split"]) for r in gt.values())
    for label in range(48):  # 10 per class -> 8/1/1, stratified
        assert [per_class[label, s] for s in ("train", "val", "test")] == [8, 1, 1]
    for r in gt.values():
        objs = r["objects"]
        assert 1 <= len(objs) <= 3
        assert objs[0]["size"] == max(o["size"] for o in objs)  # primary = largest
        assert r["label_name"] == f"{objs[0]['colour']} {objs[0]['shape']}"
        assert shapes.CLASSES[r["label"]] == r["label_name"]
        assert r["background"]["kind"] in shapes.BACKGROUNDS
        x0, y0, x1, y1 = objs[0]["bbox"]
        assert 0 <= x0 < x1 < 32 and 0 <= y0 < y1 < 32


def test_images_are_rgb_jpegs_of_the_right_size(demo_world, gt):
    for rid in list(gt)[:20]:
        img = Image.open(demo_world / "flickr8k" / "Flicker8k_Dataset" / f"{rid}.jpg")
        assert img.format == "JPEG" and img.mode == "RGB" and img.size == (32, 32)


def test_primary_colour_is_visible_at_its_centre(tmp_path):
    """Rendering check: for single-object squares/circles the centre pixel has
    the object's colour, not the background's."""
    shapes.generate(tmp_path / "w", n_images=480, size=64, seed=2, pixel_noise=0.0)
    hits = total = 0
    for r in shapes.load_ground_truth(tmp_path / "w"):
        o = r["objects"][0]
        if len(r["objects"]) == 1 and o["shape"] in ("circle", "square", "hexagon"):
            img = np.asarray(
                Image.open(
                    tmp_path / "w" / "flickr8k" / "Flicker8k_Dataset" / f"{r['id']}.jpg"
                ),
                np.float32,
            )
            pix = img[int(o["cy"]), int(o["cx"])]
            dists = {
                c: np.abs(pix - np.array(v)).sum() for c, v in shapes.COLOURS.items()
            }
            hits += min(dists, key=dists.get) == o["colour"]
            total += 1
    assert total > 10
    assert hits / total > 0.9


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def test_every_caption_names_the_primary_shape_and_colour(gt):
    for r in gt.values():
        p = r["objects"][0]
        assert len(r["captions"]) == 5 and len(set(r["captions"])) == 5
        for cap in r["captions"]:
            words = _words(cap)
            shape_words = {w for s in shapes.SHAPE_WORDS[p["shape"]] for w in s.split()}
            assert words & shape_words, (cap, p)
            assert words & set(shapes.COLOUR_WORDS[p["colour"]]), (cap, p)
            # ... bound in one phrase, the check the captioning benchmark uses.
            assert shapes.names_object(cap, p), (cap, p)


def test_names_object_binds_colour_to_shape():
    red_circle = {"shape": "circle", "colour": "red"}
    assert shapes.names_object("A huge crimson disc in the top left .", red_circle)
    assert shapes.names_object("a dot coloured red over a plain backdrop", red_circle)
    wrong_binding = "A red star next to a small blue circle ."
    assert not shapes.names_object(wrong_binding, red_circle)
    assert shapes.names_object(wrong_binding, red_circle, strict=False)
    assert not shapes.names_object("a red ring", red_circle, strict=False)
    assert not shapes.names_object("a red circles", red_circle)  # whole words
    cross = {"shape": "cross", "colour": "purple"}
    assert shapes.names_object("there is a violet plus sign", cross)


def test_missing_description_rate_near_its_setting():
    for rate in (1 / 3, 0.6):
        cfg = shapes.WorldConfig(n_images=3000, seed=4, p_missing_description=rate)
        records = shapes.sample_world(cfg)
        missing = np.mean([not r["description"] for r in records])
        assert abs(missing - rate) < 0.03, (missing, rate)


def test_web_text_is_noisy_but_informative(gt):
    rows = list(gt.values())
    title_names_shape = np.mean(
        [
            bool(
                _words(r["title"])
                & set(" ".join(shapes.SHAPE_WORDS[r["objects"][0]["shape"]]).split())
            )
            for r in rows
        ]
    )
    assert 0.3 < title_names_shape < 0.8
    assert 0.05 < np.mean([r["text_noise"] for r in rows]) < 0.6
    # Tags only for Flickr images, like WebVision's metadata.
    assert all(not r["tags"] for r in rows if r["source"] == "google")
    assert np.mean([bool(r["tags"]) for r in rows if r["source"] == "flickr"]) > 0.95


# ---------------------------------------------------------------------------
# Layouts, parsed with plain Python
# ---------------------------------------------------------------------------


def test_webvision_layout(demo_world, gt):
    wv = demo_world / "webvision"
    info = wv / "info"
    synsets = info.joinpath("synsets.txt").read_text().splitlines()
    assert len(synsets) == 48 and all(re.match(r"n\d{8} \S", s) for s in synsets)
    queries = info.joinpath("queries_google.txt").read_text().splitlines()
    qmap = dict(
        map(int, line.split())
        for line in info.joinpath("queries_synsets_map.txt").read_text().splitlines()
    )
    assert sorted(qmap) == list(range(1, len(queries) + 1))
    seen = set()
    for src in ("google", "flickr"):
        files = info.joinpath(f"train_filelist_{src}.txt").read_text().splitlines()
        metas = info.joinpath(f"train_meta_list_{src}.txt").read_text().splitlines()
        assert len(files) == len(metas) > 0
        cache = {}
        for fline, mline in zip(files, metas):
            rel, label = fline.split()
            assert (wv / rel).is_file() and rel.startswith(f"{src}/q")
            rid = Path(rel).stem
            query = int(rel.split("/")[1][1:])
            assert qmap[query] == int(label) == gt[rid]["label"]
            jpath, index = mline.split()
            obj = cache.setdefault(
                jpath, json.loads((wv / "meta" / jpath).read_text())
            )[int(index) - 1]
            assert obj["id"] == rid
            assert obj.get("title", "") == gt[rid]["title"]
            assert obj.get("description", "") == gt[rid]["description"]
            assert obj.get("tags", []) == gt[rid]["tags"]
            seen.add(rid)
    assert seen == set(gt)
    val = info.joinpath("val_filelist.txt").read_text().splitlines()
    assert {Path(v.split()[0]).stem for v in val} == {
        i for i, r in gt.items() if r["split"] == "val"
    }
    for line in val:
        name, label = line.split()
        assert (wv / "val_images" / name).is_file() and gt[Path(name).stem][
            "label"
        ] == int(label)


def test_flickr8k_layout(demo_world, gt):
    fk = demo_world / "flickr8k"
    caps: dict[str, list[str]] = {}
    bogus = []
    for line in (fk / "Flickr8k_text" / "Flickr8k.token.txt").read_text().splitlines():
        key, caption = line.split("\t")
        name, _, num = key.partition("#")
        if not num:
            bogus.append(key)
            continue
        caps.setdefault(name, []).append((int(num), caption))
    assert bogus == ["s9999999.jpg.1"]
    assert len(caps) == len(gt)
    for name, items in caps.items():
        assert [n for n, _ in items] == [0, 1, 2, 3, 4]
        assert [c for _, c in items] == gt[Path(name).stem]["captions"]
        assert (fk / "Flicker8k_Dataset" / name).is_file()
    lists = {
        s: (fk / "Flickr8k_text" / f"Flickr_8k.{s}Images.txt").read_text().split()
        for s in ("train", "dev", "test")
    }
    assert sum(map(len, lists.values())) == len(gt)
    for s, split in (("train", "train"), ("dev", "val"), ("test", "test")):
        assert all(gt[Path(n).stem]["split"] == split for n in lists[s])


def test_tiny_imagenet_layout(demo_world, gt):
    ti = demo_world / "tiny-imagenet-200"
    wnids = ti.joinpath("wnids.txt").read_text().split()
    words = dict(
        line.split("\t") for line in ti.joinpath("words.txt").read_text().splitlines()
    )
    assert len(wnids) == 48 and set(wnids) < set(words)
    train = {}
    for wnid in wnids:
        for p in (ti / "train" / wnid / "images").glob("*.JPEG"):
            train[p.stem] = wnids.index(wnid)
        boxes = (ti / "train" / wnid / f"{wnid}_boxes.txt").read_text().splitlines()
        assert len(boxes) == len(list((ti / "train" / wnid / "images").iterdir()))
        assert all(len(b.split("\t")) == 5 for b in boxes)
    assert train == {i: r["label"] for i, r in gt.items() if r["split"] == "train"}
    ann = [
        line.split("\t")
        for line in ti.joinpath("val/val_annotations.txt").read_text().splitlines()
    ]
    assert {a[0][:-5]: wnids.index(a[1]) for a in ann} == {
        i: r["label"] for i, r in gt.items() if r["split"] == "val"
    }
    assert all((ti / "val" / "images" / a[0]).is_file() and len(a) == 6 for a in ann)
    test_ids = {p.stem for p in (ti / "test" / "images").iterdir()}
    assert test_ids == {i for i, r in gt.items() if r["split"] == "test"}


def test_folders_layout_with_sidecar_json(demo_world, gt):
    fo = demo_world / "folders"
    assert len([d for d in fo.iterdir() if d.is_dir()]) == 48
    for rid, r in gt.items():
        folder = fo / r["label_name"].replace(" ", "_")
        assert (folder / f"{rid}.jpg").is_file()
        side = json.loads((folder / rid).read_text())
        assert side == {"title": r["title"], "description": r["description"]}


def test_triplets_layout(demo_world, gt):
    lines = (demo_world / "triplets.txt").read_text().splitlines()
    assert len(lines) == sum(r["split"] == "train" for r in gt.values())
    for line in lines:
        q, pos, neg = line.split()
        for p in (q, pos, neg):
            assert (demo_world / p).is_file()
        assert Path(q).parent == Path(pos).parent != Path(neg).parent
        assert q != pos
        assert gt[Path(q).stem]["split"] == "train"


def test_contact_sheet_is_a_png(demo_world):
    img = Image.open(demo_world / "contact_sheet.png")
    assert img.format == "PNG" and img.size[0] >= 8 * 64
