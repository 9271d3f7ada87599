"""Row ids of the readers: unique per file, also when names differ only in
extension (``a/cat.jpg`` and ``a/cat.png`` are two images, not a duplicate)."""

import io
import json
import os

from PIL import Image

from mmvision.data import sources
from mmvision.data.manifest import validate_manifest
from mmvision.data.sources.ids import unique_ids


def _write(path, text):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def _img(path, fmt="JPEG"):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buf, fmt)
    with open(path, "wb") as f:
        f.write(buf.getvalue())
    return str(path)


def _ids(result):
    m, report, _ = result
    validate_manifest(m)
    assert report.rows_kept == len(m)
    return dict(zip(m.id, m.image_path)), report


def test_unique_ids_rule():
    # A unique stem stays the id; stems shared by different extensions keep them.
    assert unique_ids(["a/cat.jpg", "a/cat.png", "a/dog.jpg", "a/cat.jpg"]) == {
        "a/cat.jpg": "a/cat.jpg",
        "a/cat.png": "a/cat.png",
        "a/dog.jpg": "a/dog",
    }
    # A kept extension meeting a file named with two dots: both stay apart.
    ids = unique_ids(["cat.jpg", "cat.png", "cat.jpg.png"])
    assert sorted(ids.values()) == ["cat.jpg", "cat.jpg.png", "cat.png"]
    # "stem": the same name in two folders cannot be told apart (a duplicate),
    # a different extension can.
    ids = unique_ids(["q1/000000.jpg", "q2/000000.jpg", "q2/000001.jpg"], "stem")
    assert ids == {
        "q1/000000.jpg": "000000",
        "q2/000000.jpg": "000000",
        "q2/000001.jpg": "000001",
    }
    ids = unique_ids(["q1/7.jpg", "q2/7.jpg", "q2/7.png"], "stem")
    assert ids == {"q1/7.jpg": "7.jpg", "q2/7.jpg": "7.jpg", "q2/7.png": "7.png"}


def test_folders_same_stem_different_extension(tmp_path):
    root = tmp_path / "root"
    cat_jpg = _img(root / "a" / "cat.jpg")
    cat_png = _img(root / "a" / "cat.png", "PNG")
    dog = _img(root / "a" / "dog.jpg")
    got, report = _ids(sources.folders(root))
    assert got == {"a/cat.jpg": cat_jpg, "a/cat.png": cat_png, "a/dog": dog}
    assert report.n_skipped == 0 and not report.skipped
    # "stem": across folders too, but the same name twice stays a duplicate.
    one_jpg = _img(root / "b" / "one.jpg")
    one_png = _img(root / "c" / "one.png", "PNG")
    _img(root / "c" / "dog.jpg")
    got, report = _ids(sources.folders(root, id_style="stem"))
    assert got["one.jpg"] == one_jpg and got["one.png"] == one_png
    assert {"cat.jpg", "cat.png", "dog"} <= set(got)
    assert dict(report.skipped) == {"duplicate_id": 1}  # c/dog.jpg vs a/dog.jpg


def test_tiny_imagenet_same_stem_different_extension(tmp_path):
    root = tmp_path / "tiny-imagenet-200"
    _write(root / "wnids.txt", "n01\n")
    _write(root / "words.txt", "n01\tgoldfish\n")
    a = _img(root / "train" / "n01" / "images" / "n01_0.JPEG")
    b = _img(root / "train" / "n01" / "images" / "n01_0.png", "PNG")
    c = _img(root / "val" / "images" / "val_0.JPEG")
    d = _img(root / "val" / "images" / "val_0.png", "PNG")
    e = _img(root / "val" / "images" / "val_1.JPEG")
    _write(
        root / "val" / "val_annotations.txt",
        "val_0.JPEG\tn01\t0\t0\t4\t4\nval_0.png\tn01\t0\t0\t4\t4\n"
        "val_1.JPEG\tn01\t0\t0\t4\t4\n",
    )
    _img(root / "test" / "images" / "test_0.JPEG")
    got, report = _ids(sources.tiny_imagenet(root, split="all"))
    assert {k: got[k] for k in ("n01_0.JPEG", "n01_0.png")} == {
        "n01_0.JPEG": a,
        "n01_0.png": b,
    }
    assert {k: got[k] for k in ("val_0.JPEG", "val_0.png", "val_1")} == {
        "val_0.JPEG": c,
        "val_0.png": d,
        "val_1": e,
    }
    assert "test_0" in got and len(got) == 6
    assert report.n_skipped == 0


def test_flickr8k_same_stem_different_extension(tmp_path):
    root = tmp_path / "f8k"
    a = _img(root / "Flicker8k_Dataset" / "1000_a.jpg")
    b = _img(root / "Flicker8k_Dataset" / "1000_a.png", "PNG")
    c = _img(root / "Flicker8k_Dataset" / "2000_b.jpg")
    _write(
        root / "Flickr8k_text" / "Flickr8k.token.txt",
        "1000_a.jpg#0\tA jpg .\n1000_a.png#0\tA png .\n2000_b.jpg#0\tB .\n",
    )
    m, report, _ = sources.flickr8k(root)
    validate_manifest(m)
    assert dict(zip(m.id, m.image_path)) == {
        "1000_a.jpg": a,
        "1000_a.png": b,
        "2000_b": c,
    }
    assert m.captions.tolist() == [["A jpg ."], ["A png ."], ["B ."]]
    assert report.n_skipped == 0


def test_webvision_same_stem_different_extension(tmp_path):
    root = tmp_path / "wv"
    _write(root / "info" / "synsets.txt", "n001 tench\n")
    a = _img(root / "google" / "q0001" / "000000.jpg")
    b = _img(root / "google" / "q0001" / "000000.png", "PNG")
    c = _img(root / "google" / "q0001" / "000001.jpg")
    _write(
        root / "info" / "train_filelist_google.txt",
        "google/q0001/000000.jpg 0\ngoogle/q0001/000000.png 0\n"
        "google/q0001/000001.jpg 0\n",
    )
    meta = [{"title": "jpg"}, {"title": "png"}, {"title": "other"}]
    _write(root / "meta" / "google" / "q0001.json", json.dumps(meta))
    _write(
        root / "info" / "train_meta_list_google.txt",
        "google/q0001.json 1\ngoogle/q0001.json 2\ngoogle/q0001.json 3\n",
    )
    res = sources.webvision(root, sources=["google"])
    got, report = _ids(res)
    assert got == {
        "google/q0001/000000.jpg": a,
        "google/q0001/000000.png": b,
        "google/q0001/000001": c,
    }
    assert res.manifest.title.tolist() == ["jpg", "png", "other"]
    assert report.n_skipped == 0


def test_table_same_stem_different_extension(tmp_path):
    a = _img(tmp_path / "imgs" / "a.jpg")
    b = _img(tmp_path / "imgs" / "a.png", "PNG")
    c = _img(tmp_path / "imgs" / "c.jpg")
    path = _write(
        tmp_path / "t.csv",
        "image,caption\nimgs/a.jpg,jpg one\nimgs/a.png,png one\n"
        "imgs/a.jpg,jpg two\nimgs/c.jpg,c one\n",
    )
    res = sources.table(path, {"image": "image", "captions": "caption"})
    got, report = _ids(res)
    assert got == {"imgs/a.jpg": a, "imgs/a.png": b, "imgs/c": c}
    # Rows of one image are still grouped under its id.
    assert res.manifest.captions.tolist() == [
        ["jpg one", "jpg two"],
        ["png one"],
        ["c one"],
    ]
    assert report.n_skipped == 0
    res = sources.table(path, {"image": "image"}, id_style="stem")
    assert res.manifest.id.tolist() == ["a.jpg", "a.png", "c"]
    assert dict(res.report.skipped) == {"duplicate_id": 1}  # imgs/a.jpg again
