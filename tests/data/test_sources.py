"""Tests for mmvision.data.sources: the dataset readers and their validation.

Every fixture tree is built here, in tmp_path, with tiny images.
"""

import io
import json
import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mmvision.data import sources
from mmvision.data.manifest import COLUMNS, validate_manifest
from mmvision.data.sources import ReaderError

# ----------------------------------------------------------------- helpers


def _jpeg_bytes(colour=(200, 30, 30), size=(8, 8), **kw) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "JPEG", **kw)
    return buf.getvalue()


def _write(path, data=b"", text=None):
    path = str(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(text.encode("utf-8") if text is not None else data)
    return path


def _img(path, colour=(200, 30, 30)):
    return _write(path, _jpeg_bytes(colour))


def _check(result):
    m, report, _ = result
    validate_manifest(m)
    assert list(m.columns) == list(COLUMNS)
    assert report.rows_kept == len(m)
    assert all(os.path.isabs(p) for p in m.image_path)
    return m, report


def test_read_dispatcher_and_kinds(tmp_path):
    assert sources.KINDS == [
        "webvision",
        "flickr8k",
        "tiny_imagenet",
        "folders",
        "table",
        "triplets",
        "cifar10",
        "cifar100",
    ]
    with pytest.raises(ValueError, match="valid kinds: .*webvision"):
        sources.read("imagenet", tmp_path)
    _img(tmp_path / "a" / "x.jpg")
    m, _, classes = sources.read("folders", tmp_path)
    assert m.id.tolist() == ["a/x"] and classes == ["a"]


# ----------------------------------------------------------------- WebVision


def _webvision_tree(root, meta_style="meta"):
    """3 classes; google q0001 (class 0), q0002 (class 1); flickr q0001 (class 2)."""
    info = root / "info"
    _write(
        info / "synsets.txt",
        text="n001 tench, Tinca tinca\nn002 goldfish\nn003 shark\n",
    )
    _write(info / "queries_google.txt", text="tench\ngoldfish\n")
    _write(info / "queries_flickr.txt", text="shark\n")
    _write(info / "queries_synsets_map.txt", text="1 0\n2 1\n3 2\n")
    for rel in [
        "google/q0001/000000.jpg",
        "google/q0001/000001.jpg",
        "google/q0002/000000.jpg",
        "flickr/q0001/000000.jpg",
        "flickr/q0001/000001.jpg",
    ]:
        _img(root / rel)
    _write(
        info / "train_filelist_google.txt",
        text="google/q0001/000000.jpg 0\n"
        "google/q0001/000001.jpg 0\n"
        "google/q0002/000000.jpg 1\n"
        "google/q0002/000009.jpg 1\n"  # missing image
        "this line is malformed\n"
        "google/q0002/000000.jpg 7\n"  # label outside the class list
        "../escape.jpg 0\n"  # escapes the root
        "\n",
    )
    _write(
        info / "train_meta_list_google.txt",
        text="google/q0001.json 1\ngoogle/q0001.json 2\ngoogle/q0002.json 1\n"
        "google/q0002.json 2\nx 1\ngoogle/q0002.json 1\ngoogle/q0001.json 1\n",
    )
    _write(
        info / "train_filelist_flickr.txt",
        text="flickr/q0001/000000.jpg 2\nflickr/q0001/000001.jpg 2\n",
    )
    _write(
        info / "train_meta_list_flickr.txt",
        text="flickr/q0001.json 1\nflickr/q0001.json 2\n",
    )
    google_q1 = [
        {"id": "g1", "title": "Tench fish", "description": "a big tench"},
        {"id": "g2", "title": "Tench two"},  # no description
    ]
    # latin-1 bytes in the JSON: decoded with replacement, counted.
    google_q2 = b'[{"id": "g3", "title": "Goldfish caf\xe9", "description": ""}]'
    flickr_q1 = [
        {"id": "f1", "title": "shark!", "description": "sea", "tags": ["shark", "sea"]},
        {"id": "f2", "tags": []},
    ]
    if meta_style == "meta":
        d = {"google": root / "meta" / "google", "flickr": root / "meta" / "flickr"}
    else:
        d = {"google": root / "google_json", "flickr": root / "flickr_json"}
    _write(d["google"] / "q0001.json", text=json.dumps(google_q1))
    _write(d["google"] / "q0002.json", google_q2)
    _write(d["flickr"] / "q0001.json", text=json.dumps(flickr_q1))
    _img(root / "val_images_256" / "val000001.jpg")
    _img(root / "val_images_256" / "val000002.jpg")
    _write(info / "val_filelist.txt", text="val000001.jpg 1\nval000002.jpg 2\n")
    _img(root.parent / "escape.jpg")
    return root


@pytest.mark.parametrize("meta_style", ["meta", "google_json"])
def test_webvision_train(tmp_path, meta_style):
    root = _webvision_tree(tmp_path / "wv", meta_style)
    res = sources.webvision(root)
    m, report = _check(res)
    assert res.classes == ["tench", "goldfish", "shark"]
    assert m.id.tolist() == [
        "google/q0001/000000",
        "google/q0001/000001",
        "google/q0002/000000",
        "flickr/q0001/000000",
        "flickr/q0001/000001",
    ]
    assert m.label.tolist() == [0, 0, 1, 2, 2]
    assert m.label_name.tolist() == ["tench", "tench", "goldfish", "shark", "shark"]
    assert m.title.tolist() == [
        "Tench fish",
        "Tench two",
        "Goldfish caf\ufffd",
        "shark!",
        "",
    ]
    assert m.description.tolist() == ["a big tench", "", "", "sea", ""]
    assert m.tags.tolist() == [[], [], [], ["shark", "sea"], []]
    assert (m.split == "train").all()
    assert m.image_path[0] == str(root / "google/q0001/000000.jpg")
    assert dict(report.skipped) == {
        "missing_file": 1,
        "malformed_line": 1,
        "unknown_label": 1,
        "outside_root": 1,
    }
    assert report.rows_read == 9
    assert dict(report.missing) == {
        "google/description": 2,
        "flickr/title": 1,
        "flickr/description": 1,
        "flickr/tags": 1,
    }
    assert report.warnings["non_utf8"] == 1
    ex = report.examples["unknown_label"][0]
    assert "train_filelist_google.txt:6" in ex
    assert "train_filelist_google.txt:5" in report.examples["malformed_line"][0]


def test_webvision_val_all_sources_and_id_style(tmp_path):
    root = _webvision_tree(tmp_path / "wv")
    m, _ = _check(sources.webvision(root, split="val"))
    assert m.id.tolist() == ["val000001", "val000002"]
    assert m.label.tolist() == [1, 2] and (m.split == "val").all()
    assert m.image_path[0] == str(root / "val_images_256" / "val000001.jpg")
    m, _ = _check(sources.webvision(root, sources=["flickr"], split="all"))
    assert m.split.tolist() == ["train", "train", "val", "val"]
    # File stems repeat across queries: "stem" ids collide and are counted.
    m, report = _check(sources.webvision(root, sources=["google"], id_style="stem"))
    assert m.id.tolist() == ["000000", "000001"]
    assert report.skipped["duplicate_id"] == 1
    with pytest.raises(ValueError, match="valid values"):
        sources.webvision(root, sources="google")
    with pytest.raises(ValueError, match="valid values"):
        sources.webvision(root, split="test")
    with pytest.raises(ValueError, match="valid values"):
        sources.webvision(root, id_style="name")


def test_webvision_strict_and_outside_root(tmp_path):
    root = _webvision_tree(tmp_path / "wv")
    with pytest.raises(ReaderError, match=r"train_filelist_google\.txt:4: .*missing"):
        sources.webvision(root, strict=True)
    # Paths outside the root are accepted only when allowed.
    info = root / "info"
    _write(info / "train_filelist_google.txt", text="../escape.jpg 0\n")
    _write(info / "train_meta_list_google.txt", text="google/q0001.json 1\n")
    m, report = _check(sources.webvision(root, sources=["google"]))
    assert len(m) == 0 and report.skipped["outside_root"] == 1
    m, _ = _check(sources.webvision(root, sources=["google"], allow_outside_root=True))
    assert m.image_path.tolist() == [str(tmp_path / "escape.jpg")]


def test_webvision_missing_meta(tmp_path):
    root = _webvision_tree(tmp_path / "wv")
    os.remove(root / "info" / "train_meta_list_flickr.txt")
    os.remove(root / "meta" / "google" / "q0001.json")
    m, report = _check(sources.webvision(root))
    assert len(m) == 5
    assert m.title.tolist()[:2] == ["", ""]
    assert report.missing["google/title"] == 2
    assert report.missing["flickr/tags"] == 2
    assert report.warnings["missing_meta_file"] >= 2
    with pytest.raises(ValueError, match="synsets"):
        sources.webvision(tmp_path / "nowhere")


# ----------------------------------------------------------------- Flickr8k


def _flickr_tree(root):
    imgs = root / "Flicker8k_Dataset"
    for name in ["1000_a.jpg", "2000_b.jpg", "3000_c.jpg"]:
        _img(imgs / name)
    lines = []
    for name in ["1000_a.jpg", "2000_b.jpg", "3000_c.jpg"]:
        for k in (4, 0, 3, 1, 2):  # out of order: the reader sorts by #n
            lines.append(f"{name}#{k}\t{name[:4]} caption {k} .")
    lines.insert(3, "2258277193_586949ec62.jpg.1\tA bogus key .")
    lines.insert(7, "no tab on this line")
    _write(root / "Flickr8k_text" / "Flickr8k.token.txt", text="\n".join(lines) + "\n")
    _write(root / "Flickr8k_text" / "Flickr_8k.trainImages.txt", text="1000_a.jpg\n")
    _write(root / "Flickr8k_text" / "Flickr_8k.devImages.txt", text="2000_b.jpg\n")
    _write(root / "Flickr8k_text" / "Flickr_8k.testImages.txt", text="")
    return root


def test_flickr8k_token_file(tmp_path):
    root = _flickr_tree(tmp_path / "f8k")
    m, report = _check(sources.flickr8k(root))
    assert m.id.tolist() == ["1000_a", "2000_b", "3000_c"]
    assert m.captions[0] == [f"1000 caption {k} ." for k in range(5)]
    assert m.split.tolist() == ["train", "val", ""]
    assert (m.label == -1).all()
    assert dict(report.skipped) == {"missing_file": 1, "malformed_line": 1}
    assert "2258277193_586949ec62.jpg.1" in report.examples["missing_file"][0]
    assert report.rows_read == 17
    m, _ = _check(sources.flickr8k(root, split="val"))
    assert m.id.tolist() == ["2000_b"]
    m, _ = _check(sources.flickr8k(root, split="test"))
    assert len(m) == 0
    # Strict: the file is parsed first (malformed line 8), then images checked.
    with pytest.raises(ReaderError, match=r"Flickr8k\.token\.txt:8: .*malformed"):
        sources.flickr8k(root, strict=True)
    token = root / "Flickr8k_text" / "Flickr8k.token.txt"
    _write(token, text=token.read_text().replace("no tab on this line\n", ""))
    with pytest.raises(ReaderError, match=r"token\.txt:4: .*jpg\.1.*missing_file"):
        sources.flickr8k(root, strict=True)


def test_flickr8k_captions_csv_and_errors(tmp_path):
    root = tmp_path / "kaggle"
    _img(root / "Images" / "a.jpg")
    _img(root / "Images" / "b.jpg")
    _write(
        root / "captions.txt",
        text='image,caption\na.jpg,"A dog, running ."\na.jpg,A dog .\n'
        "b.jpg,Two cats .\nb.jpg,too,many,fields\nzzz.jpg,Missing image .\n",
    )
    m, report = _check(sources.flickr8k(root))
    assert m.id.tolist() == ["a", "b"]
    assert m.captions.tolist() == [["A dog, running .", "A dog ."], ["Two cats ."]]
    assert (m.split == "").all()
    assert dict(report.skipped) == {"malformed_line": 1, "missing_file": 1}
    with pytest.raises(ValueError, match="split lists"):
        sources.flickr8k(root, split="train")
    with pytest.raises(ValueError, match="no caption file"):
        sources.flickr8k(tmp_path / "empty")
    _write(root / "bad.csv", text="file,text\na.jpg,x\n")
    with pytest.raises(ValueError, match="needs columns 'image' and 'caption'"):
        sources.flickr8k(root, captions_file="bad.csv")


# ----------------------------------------------------------------- Tiny ImageNet


def _tiny_tree(root):
    _write(root / "wnids.txt", text="n02\nn01\n")
    _write(
        root / "words.txt",
        text="n00\tentity\nn01\tgoldfish, Carassius auratus\nn02\tshark\n",
    )
    for w in ("n01", "n02", "n99"):
        for i in range(2):
            _img(root / "train" / w / "images" / f"{w}_{i}.JPEG")
        _write(root / "train" / w / f"{w}_boxes.txt", text=f"{w}_0.JPEG\t0\t0\t4\t4\n")
    for i in range(4):
        _img(root / "val" / "images" / f"val_{i}.JPEG")
    _write(
        root / "val" / "val_annotations.txt",
        text="val_0.JPEG\tn01\t0\t0\t4\t4\nval_1.JPEG\tn02\t0\t0\t4\t4\n"
        "val_2.JPEG\tn77\t0\t0\t4\t4\nbroken\nval_3.JPEG\tn01\n",
    )
    _img(root / "test" / "images" / "test_0.JPEG")
    return root


def test_tiny_imagenet(tmp_path):
    root = _tiny_tree(tmp_path / "tiny-imagenet-200")
    res = sources.tiny_imagenet(root, split="all")
    m, report = _check(res)
    assert res.classes == ["shark", "goldfish"]
    got = dict(zip(m.id, zip(m.label, m.label_name, m.split)))
    assert got == {
        "n02_0": (0, "shark", "train"),
        "n02_1": (0, "shark", "train"),
        "n01_0": (1, "goldfish", "train"),
        "n01_1": (1, "goldfish", "train"),
        "val_0": (1, "goldfish", "val"),
        "val_1": (0, "shark", "val"),
        "val_3": (1, "goldfish", "val"),
        "test_0": (-1, "", "test"),
    }
    assert dict(report.skipped) == {"unknown_label": 3, "malformed_line": 1}
    m, _ = _check(sources.tiny_imagenet(root, split="val"))
    assert m.id.tolist() == ["val_0", "val_1", "val_3"]
    os.remove(root / "words.txt")
    res = sources.tiny_imagenet(root, split="test")
    assert res.classes == ["n02", "n01"]
    assert res.report.warnings["missing_class_name"] == 2


# ----------------------------------------------------------------- folders


def test_folders_with_sidecars(tmp_path):
    root = tmp_path / "seed"
    _img(root / "cat" / "1.jpg")
    _write(root / "cat" / "1", text=json.dumps({"title": "A cat", "description": "d"}))
    _img(root / "cat" / "2.JPG")  # no sidecar
    _img(root / "dog" / "3.png")
    _write(root / "dog" / "3", b"{not json")
    _img(root / "dog" / "sub" / "4.jpg")
    _write(root / "dog" / "notes.txt", text="x")
    _img(root / "loose.jpg")
    res = sources.folders(root, sidecar_json=True)
    m, report = _check(res)
    assert res.classes == ["cat", "dog"]
    assert m.id.tolist() == ["cat/1", "cat/2", "dog/3", "dog/sub/4"]
    assert m.label.tolist() == [0, 0, 1, 1]
    assert m.title.tolist() == ["A cat", "", "", ""]
    assert m.description.tolist() == ["d", "", "", ""]
    assert report.missing == {"title": 3, "description": 3}
    assert report.warnings["bad_json"] == 1
    assert report.warnings["ignored_file"] == 1
    assert report.skipped == {"no_class": 1}
    # Given classes fix the label order; unlisted folders are counted.
    res = sources.folders(root, classes=["dog"], id_style="stem")
    m, report = _check(res)
    assert m.id.tolist() == ["3", "4"] and (m.label == 0).all()
    assert report.skipped["unknown_label"] == 2
    with pytest.raises(ValueError, match="not a directory"):
        sources.folders(root / "missing")


# ----------------------------------------------------------------- tables


@pytest.fixture
def table_root(tmp_path):
    for name in ("a", "b", "c", "d"):
        _img(tmp_path / "imgs" / f"{name}.jpg")
    _img(tmp_path.parent / f"{tmp_path.name}_outside.jpg")
    return tmp_path


def test_table_csv_mapping_and_bad_rows(table_root):
    csv_bytes = (
        "path,class,name,text\n"
        "imgs/a.jpg,cat,Title A,desc a\n"
        "imgs/b.jpg,dog,,\n"  # NaN text
        "imgs/c.jpg,horse,Title C,x\n"  # unknown label
        "imgs/a.jpg,cat,Again,x\n"  # duplicate
        f"../{table_root.name}_outside.jpg,cat,T,x\n"  # traversal
        "imgs/missing.jpg,cat,T,x\n"
        "imgs/d.jpg,dog,extra,field,here\n"  # malformed
    ).encode() + b"imgs/d.jpg,dog,Caf\xe9 latin-1,x\n"
    path = _write(table_root / "t.csv", csv_bytes)
    cols = {"image": "path", "label": "class", "title": "name", "description": "text"}
    res = sources.table(path, cols, classes=["cat", "dog"])
    m, report = _check(res)
    assert m.id.tolist() == ["imgs/a", "imgs/b", "imgs/d"]
    assert m.label.tolist() == [0, 1, 1]
    assert m.title.tolist() == ["Title A", "", "Caf\ufffd latin-1"]
    assert m.description.tolist() == ["desc a", "", "x"]
    assert dict(report.skipped) == {
        "unknown_label": 1,
        "duplicate_id": 1,
        "outside_root": 1,
        "missing_file": 1,
        "malformed_line": 1,
    }
    assert report.missing == {"title": 1, "description": 1}
    assert report.warnings["non_utf8"] == 1
    assert report.rows_read == 8
    assert "t.csv:4" in report.examples["unknown_label"][0]
    # strict: the first bad row in file order is named.
    with pytest.raises(ReaderError, match=r"t\.csv:5: id 'imgs/a'"):
        sources.table(path, cols, classes=["cat", "dog", "horse"], strict=True)
    # Without classes: names are numbered in sorted order.
    res = sources.table(path, cols)
    assert res.classes == ["cat", "dog", "horse"]
    # With the traversal allowed the outside image is kept.
    res = sources.table(path, cols, allow_outside_root=True)
    assert any(p.endswith("_outside.jpg") for p in res.manifest.image_path)


def test_table_missing_columns_and_format(table_root):
    path = _write(table_root / "t.csv", text="path,class\nimgs/a.jpg,0\n")
    with pytest.raises(ValueError, match=r"t\.csv: mapped columns \{'title': 'name'\}"):
        sources.table(path, {"image": "path", "title": "name"})
    with pytest.raises(ValueError, match="no image column"):
        sources.table(path)
    with pytest.raises(ValueError, match="unknown fields"):
        sources.table(path, {"image": "path", "colour": "class"})
    with pytest.raises(ValueError, match="valid values"):
        sources.table(path, {"image": "path"}, format="xlsx")
    with pytest.raises(ValueError, match="cannot tell the format"):
        sources.table(_write(table_root / "t.dat", text="x"), {"image": "path"})
    m, _ = _check(sources.table(path, {"image": "path", "label": "class"}))
    assert m.label.tolist() == [0] and m.label_name.tolist() == ["0"]


def test_table_jsonl_captions_grouped(table_root):
    lines = [
        {"image": "imgs/a.jpg", "caption": "a one", "label": 1},
        {"image": "imgs/b.jpg", "caption": '["b one", "b two"]', "label": 0},
        {"image": "imgs/a.jpg", "caption": "a two", "label": 1},
        {"image": "imgs/a.jpg", "caption": "a three", "label": 0},  # conflicting
        {"image": "imgs/c.jpg", "caption": None, "label": 5, "tags": "x y"},
    ]
    text = "\n".join(json.dumps(x) for x in lines[:2])
    text += "\n{broken json\n[1, 2]\n" + "\n".join(json.dumps(x) for x in lines[2:])
    path = _write(table_root / "t.jsonl", text=text + "\n")
    cols = {"image": "image", "captions": "caption", "label": "label", "tags": "tags"}
    res = sources.table(path, cols)
    m, report = _check(res)
    assert m.id.tolist() == ["imgs/a", "imgs/b", "imgs/c"]
    assert m.captions.tolist() == [["a one", "a two"], ["b one", "b two"], []]
    assert m.label.tolist() == [1, 0, 5]
    assert res.classes == ["0", "1", "2", "3", "4", "5"]
    assert m.tags.tolist() == [[], [], ["x", "y"]]
    assert dict(report.skipped) == {"malformed_line": 2, "conflicting_duplicate": 1}
    assert "t.jsonl:3" in report.examples["malformed_line"][0]
    assert report.missing["captions"] == 1
    res = sources.table(path, cols, classes=["x", "y"])
    assert res.manifest.id.tolist() == ["imgs/a", "imgs/b"]
    assert res.report.skipped["unknown_label"] == 1


def test_table_parquet(table_root):
    df = pd.DataFrame(
        {
            "file": [str(table_root / "imgs" / "a.jpg"), "imgs/b.jpg", "imgs/c.jpg"],
            "y": [1.0, np.nan, 0.0],
            "title": ["t", None, np.nan],
            "caps": [["x", "y"], [], None],
            "split": ["train", "val", "test"],
        }
    )
    path = table_root / "t.parquet"
    df.to_parquet(path)
    cols = {
        "image": "file",
        "label": "y",
        "title": "title",
        "captions": "caps",
        "split": "split",
    }
    m, report = _check(sources.table(path, cols, classes=["neg", "pos"]))
    assert m.label.tolist() == [1, -1, 0]
    assert m.label_name.tolist() == ["pos", "", "neg"]
    assert m.title.tolist() == ["t", "", ""]
    assert m.captions.tolist() == [["x", "y"], [], []]
    assert m.split.tolist() == ["train", "val", "test"]
    assert report.missing == {"label": 1, "title": 2, "captions": 2}


# ----------------------------------------------------------------- triplets


def test_triplets(tmp_path):
    for n in ("a", "b", "c"):
        _img(tmp_path / "x" / f"{n}.jpg")
    _img(tmp_path.parent / f"{tmp_path.name}_out.jpg")
    path = _write(
        tmp_path / "trip.txt",
        text=f"x/a.jpg x/b.jpg\t{tmp_path / 'x' / 'c.jpg'}\n"
        "# comment\n"
        "x/a.jpg x/b.jpg\n"
        "x/a.jpg x/missing.jpg x/c.jpg\n"
        f"x/a.jpg x/b.jpg ../{tmp_path.name}_out.jpg\n"
        "x/c.jpg x/b.jpg x/a.jpg\n",
    )
    table, report = sources.triplets(path)
    assert list(table.columns) == ["anchor", "positive", "negative"]
    assert table.values.tolist() == [
        [str(tmp_path / "x" / n) for n in ("a.jpg", "b.jpg", "c.jpg")],
        [str(tmp_path / "x" / n) for n in ("c.jpg", "b.jpg", "a.jpg")],
    ]
    assert dict(report.skipped) == {
        "malformed_line": 1,
        "missing_file": 1,
        "outside_root": 1,
    }
    assert report.rows_read == 5 and report.rows_kept == 2
    with pytest.raises(ReaderError, match=r"trip\.txt:3: 2 fields"):
        sources.triplets(path, strict=True)
    table, _ = sources.triplets(path, allow_outside_root=True)
    assert len(table) == 3


# ----------------------------------------------------------------- bad files


def _save(img, path, fmt, **kw):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    img.save(path, fmt, **kw)
    return path


def _bad_corpus(d):
    """Good-but-unusual images and broken files; returns (good, bad{name: reason})."""
    d = str(d)
    rgb = Image.new("RGB", (16, 12), (10, 200, 30))
    good = {
        "plain.jpg": _save(rgb, f"{d}/plain.jpg", "JPEG"),
        "cmyk.jpg": _save(rgb.convert("CMYK"), f"{d}/cmyk.jpg", "JPEG"),
        "sixteen.png": _save(
            Image.fromarray(np.full((8, 8), 40000, np.uint16)),
            f"{d}/sixteen.png",
            "PNG",
        ),
        "palette.png": _save(rgb.convert("P"), f"{d}/palette.png", "PNG"),
        "rgba.png": _save(rgb.convert("RGBA"), f"{d}/rgba.png", "PNG"),
        "one.jpg": _save(Image.new("RGB", (1, 1)), f"{d}/one.jpg", "JPEG"),
        "ünïcødé 名前.jpg": _save(rgb, f"{d}/ünïcødé 名前.jpg", "JPEG"),
        "with space.jpg": _save(rgb, f"{d}/with space.jpg", "JPEG"),
    }
    frames = [Image.new("P", (8, 8), i) for i in (0, 1)]
    frames[0].save(f"{d}/anim.gif", save_all=True, append_images=frames[1:])
    good["anim.gif"] = f"{d}/anim.gif"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90
    good["rotated.jpg"] = _save(rgb, f"{d}/rotated.jpg", "JPEG", exif=exif)
    full = _jpeg_bytes(size=(64, 64), quality=95)
    bad = {
        "zero.jpg": ("empty_file", b""),
        "truncated.jpg": ("bad_image", full[: len(full) // 3]),
        "garbage.jpg": ("bad_image", b"\xff\xd8\xff" + bytes(range(256)) * 4),
        "text.jpg": ("bad_image", b"this is not an image\n"),
    }
    for name, (_, data) in bad.items():
        _write(f"{d}/{name}", data)
    os.symlink(f"{d}/nowhere.jpg", f"{d}/dangling.jpg")
    bad["dangling.jpg"] = ("missing_file", None)
    return good, {k: v[0] for k, v in bad.items()}


@pytest.fixture
def corpus(tmp_path):
    good, bad = _bad_corpus(tmp_path / "root" / "cls")
    return tmp_path / "root", good, bad


def test_bad_files_through_folders(corpus):
    root, good, bad = corpus
    # verify_images="decode": every broken file is a counted skip.
    m, report = _check(sources.folders(root, verify_images="decode", id_style="stem"))
    kept = {os.path.basename(p) for p in m.image_path}
    assert kept == set(good)
    expected = {}
    for reason in bad.values():
        expected[reason] = expected.get(reason, 0) + 1
    assert dict(report.skipped) == expected
    for name, reason in bad.items():
        assert any(name in ex for ex in report.examples[reason]), name
    # Header-level checks only: zero bytes and the dangling link are caught.
    m, report = _check(sources.folders(root))
    assert dict(report.skipped) == {"empty_file": 1, "missing_file": 1}
    assert len(m) == len(good) + 3
    # strict: the first bad file (in sorted walk order) is named.
    with pytest.raises(ReaderError, match=r"dangling\.jpg.*missing_file"):
        sources.folders(root, strict=True)
    # PIL verify catches garbage and text, not necessarily truncation.
    m, report = _check(sources.folders(root, verify_images=True))
    assert report.skipped["bad_image"] >= 2
    assert {os.path.basename(p) for p in m.image_path} >= set(good)


def test_bad_files_through_table_strict(corpus):
    root, good, bad = corpus
    names = sorted(good) + sorted(bad)
    lines = ["path,label"] + [f'"cls/{n}",0' for n in names]
    path = _write(root / "files.csv", text="\n".join(lines) + "\n")
    cols = {"image": "path", "label": "label"}
    m, report = _check(sources.table(path, cols, verify_images="decode"))
    assert {os.path.basename(p) for p in m.image_path} == set(good)
    assert report.n_skipped == len(bad)
    for name in bad:
        one = _write(root / "one.csv", text=f'path,label\n"cls/{name}",0\n')
        with pytest.raises(ReaderError, match=rf"one\.csv:2: .*{name}.*{bad[name]}"):
            sources.table(one, cols, verify_images="decode", strict=True)


def test_bad_verify_mode(tmp_path):
    with pytest.raises(ValueError, match="verify_images"):
        sources.folders(tmp_path, verify_images="full")


# ----------------------------------------------------------------- demo world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    shapes = pytest.importorskip("mmvision.datasets.shapes")
    root = tmp_path_factory.mktemp("world") / "w"
    shapes.generate(root, n_images=300, size=32, seed=0)
    return root, shapes


def test_demo_world_layouts_agree(world):
    root, shapes = world
    gt = {r["id"]: r for r in shapes.load_ground_truth(root)}
    info = shapes.load_world_info(root)
    folder_names = [
        c["folder"] for c in sorted(info["classes"], key=lambda c: c["label"])
    ]

    def labels(m):
        return dict(zip(m.id, m.label))

    truth = {i: r["label"] for i, r in gt.items()}
    wv, rep = _check(sources.webvision(root / "webvision", id_style="stem"))
    assert rep.n_skipped == 0 and labels(wv) == truth
    for i, t, d in zip(wv.id, wv.title, wv.description):
        assert (t, d) == (gt[i]["title"], gt[i]["description"])
    wv_val, _ = _check(
        sources.webvision(root / "webvision", split="val", id_style="stem")
    )
    assert labels(wv_val) == {
        i: r["label"] for i, r in gt.items() if r["split"] == "val"
    }

    ti, rep = _check(sources.tiny_imagenet(root / "tiny-imagenet-200", split="all"))
    assert rep.n_skipped == 0
    assert dict(zip(ti.id, ti.split)) == {i: r["split"] for i, r in gt.items()}
    assert labels(ti[ti.split != "test"]) == {
        i: r["label"] for i, r in gt.items() if r["split"] != "test"
    }

    fo, rep = _check(
        sources.folders(
            root / "folders", sidecar_json=True, classes=folder_names, id_style="stem"
        )
    )
    assert rep.n_skipped == 0 and labels(fo) == truth
    assert dict(zip(fo.id, fo.title)) == {i: r["title"] for i, r in gt.items()}

    fk, rep = _check(sources.flickr8k(root / "flickr8k"))
    assert dict(rep.skipped) == {"missing_file": 1}  # the bogus key
    assert dict(zip(fk.id, fk.captions)) == {i: r["captions"] for i, r in gt.items()}
    assert dict(zip(fk.id, fk.split)) == {i: r["split"] for i, r in gt.items()}

    # The same image bytes behind every layout.
    some = sorted(truth)[:3]
    for i in some:
        paths = [m.image_path[m.id == i].iloc[0] for m in (wv, fk, ti, fo)]
        data = {open(p, "rb").read() for p in paths}
        assert len(data) == 1

    trip, rep = sources.triplets(root / "triplets.txt")
    assert rep.n_skipped == 0 and len(trip) > 0
    by_path = dict(zip(fo.image_path, fo.label))
    assert all(by_path[a] == by_path[p] != by_path[n] for a, p, n in trip.values)


def test_shared_bad_corpus_through_readers(tmp_path):
    """The pipelines' corpus (tests/badfiles.py): readers agree on what is bad."""
    badfiles = pytest.importorskip("badfiles")
    corpus = badfiles.build_bad_corpus(tmp_path / "root" / "cls")
    reason = {"decode_error": "bad_image"}
    m, report = _check(sources.folders(tmp_path / "root", verify_images="decode"))
    # good.bmp / good.jpg / good.png differ only in extension: three images,
    # told apart by ids that keep the extension.
    good = {f.path for f in badfiles.good(corpus)}
    assert set(m.image_path) == good
    ids = dict(zip(m.image_path, m.id))
    for ext in ("bmp", "jpg", "png"):
        path = next(p for p in good if os.path.basename(p) == f"good.{ext}")
        assert ids[path] == f"cls/good.{ext}"
    want = {}
    for f in badfiles.bad(corpus):
        r = reason.get(f.expect, f.expect)
        want[r] = want.get(r, 0) + 1
    assert dict(report.skipped) == want
    # Without image verification only the file-level problems are caught.
    m, report = _check(sources.folders(tmp_path / "root"))
    assert set(report.skipped) == {"empty_file", "missing_file"}
