"""Tests for the CIFAR-10 / CIFAR-100 readers (mmvision.data.sources.cifar).

The batches are written here, in tmp_path, in the real python-pickle format:
protocol-2 pickles of dicts with byte keys, a uint8 [N, 3072] ``data`` array
(1024 red, 1024 green, 1024 blue values per row).
"""

from __future__ import annotations

import io
import os
import pickle
import struct

import numpy as np
import pytest
from PIL import Image

from mmvision.data import sources
from mmvision.data.manifest import COLUMNS, validate_manifest
from mmvision.data.sources import ReaderError
from mmvision.data.sources.cifar import PNG_SIZE, cifar10, cifar100

C10 = "cifar-10-batches-py"
C100 = "cifar-100-python"
NAMES10 = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog",
           b"horse", b"ship", b"truck"]  # fmt: skip


def _dump(path, obj) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)
    return str(path)


def _pixels(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 3072), dtype=np.uint8)


def _batch(name: str, n: int, seed: int, **keys) -> dict:
    out = {
        b"batch_label": name.encode(),
        b"data": _pixels(n, seed),
        b"labels": [(seed + i) % 10 for i in range(n)],
        b"filenames": [f"{name}_img_{i:06d}.png".encode() for i in range(n)],
    }
    out.update({k.encode(): v for k, v in keys.items()})
    return out


def _cifar10(root, n: int = 3) -> str:
    """A cifar-10-batches-py folder under ``root`` with ``n`` images per batch."""
    d = os.path.join(str(root), C10)
    meta = {b"label_names": NAMES10, b"num_cases_per_batch": n, b"num_vis": 3072}
    _dump(os.path.join(d, "batches.meta"), meta)
    for seed, name in enumerate(
        [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    ):
        _dump(os.path.join(d, name), _batch(name, n, seed))
    return d


def _cifar100(root, n: int = 4) -> str:
    d = os.path.join(str(root), C100)
    _dump(os.path.join(d, "meta"), {
        b"fine_label_names": [f"fine{i}".encode() for i in range(100)],
        b"coarse_label_names": [f"coarse{i}".encode() for i in range(20)],
    })  # fmt: skip
    for seed, name in enumerate(["train", "test"]):
        b = _batch(name, n, seed)
        del b[b"labels"]
        b[b"fine_labels"] = [37 + 10 * i + seed for i in range(n)]
        b[b"coarse_labels"] = [(3 + i + seed) % 20 for i in range(n)]
        _dump(os.path.join(d, name), b)
    return d


def _decode(path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.mode == "RGB" and im.size == (32, 32)
        return np.asarray(im)


def _check(result):
    m, report, classes = result
    validate_manifest(m)
    assert list(m.columns) == list(COLUMNS)
    assert report.rows_kept == len(m)
    assert all(os.path.isabs(p) and os.path.isfile(p) for p in m.image_path)
    return m, report, classes


# ----------------------------------------------------------------- CIFAR-10


def test_cifar10_manifest(tmp_path):
    d = _cifar10(tmp_path)
    m, report, classes = _check(cifar10(d))
    assert classes == [n.decode() for n in NAMES10]
    assert len(m) == 18 and report.rows_read == 18 and not report.skipped
    assert m.split.value_counts().to_dict() == {"train": 15, "test": 3}
    row = m.iloc[4]  # data_batch_2, row 1 (seed 1)
    assert row.id == "data_batch_2/data_batch_2_img_000001"
    assert row.label == 2 and row.label_name == "bird" and row.split == "train"
    images = tmp_path / f"{C10}-images"
    assert row.image_path == str(images / "data_batch_2" / (row.id[13:] + ".png"))
    assert m.iloc[-1].id == "test_batch/test_batch_img_000002"
    assert os.path.getsize(row.image_path) == PNG_SIZE


def test_cifar10_root_parent_splits_and_registry(tmp_path):
    d = _cifar10(tmp_path)
    full = cifar10(d).manifest
    assert cifar10(tmp_path).manifest.equals(full)  # parent folder works too
    test = cifar10(d, split="test").manifest
    assert list(test.id) == list(full.id[full.split == "test"])
    assert set(cifar10(d, split="train").manifest.split) == {"train"}
    assert sources.read("cifar10", d, split="test").manifest.equals(test)
    assert cifar10(d, split="test", verify_images="decode").manifest.equals(test)
    for name in ["data_batch_1", "data_batch_5"]:
        os.remove(os.path.join(d, name))
    assert len(cifar10(d, split="test").manifest) == 3  # train batches not read
    with pytest.raises(ValueError, match="valid values"):
        cifar10(d, split="val")


def test_png_has_exact_pixels_in_rgb_order(tmp_path):
    d = _cifar10(tmp_path)
    b = _batch("data_batch_1", 3, 0)
    red = np.zeros(3072, np.uint8)
    red[:1024] = 255  # first plane is red
    grad = np.zeros(3072, np.uint8)
    grad[2048:] = np.tile(np.arange(32, dtype=np.uint8) * 8, 32)  # blue grows in x
    b[b"data"][0], b[b"data"][1] = red, grad
    _dump(os.path.join(d, "data_batch_1"), b)
    m = cifar10(d, split="train").manifest
    assert (_decode(m.image_path[0]) == [255, 0, 0]).all()
    img = _decode(m.image_path[1])
    assert (img[:, :, :2] == 0).all() and (img[5, :, 2] == np.arange(32) * 8).all()
    for i in range(3):
        want = b[b"data"][i].reshape(3, 32, 32).transpose(1, 2, 0)
        np.testing.assert_array_equal(_decode(m.image_path[i]), want)


def test_materialised_images_are_reused(tmp_path):
    d = _cifar10(tmp_path)
    out = tmp_path / "cache"
    m = cifar10(d, images_dir=out).manifest
    assert all(p.startswith(str(out) + os.sep) for p in m.image_path)
    for p in m.image_path:
        os.utime(p, ns=(10**18, 10**18))
    again = cifar10(d, images_dir=out).manifest
    assert again.equals(m)
    assert all(os.stat(p).st_mtime_ns == 10**18 for p in m.image_path)
    with open(m.image_path[3], "r+b") as f:  # a truncated file is rewritten
        f.truncate(100)
    cifar10(d, images_dir=out)
    assert os.stat(m.image_path[3]).st_mtime_ns != 10**18
    assert os.stat(m.image_path[2]).st_mtime_ns == 10**18
    want = _batch("data_batch_2", 3, 1)[b"data"][0].reshape(3, 32, 32)
    np.testing.assert_array_equal(_decode(m.image_path[3]), want.transpose(1, 2, 0))
    assert not [f for _, _, fs in os.walk(out) for f in fs if f.endswith(".tmp")]


def test_python2_string_opcodes(tmp_path):
    """Real files come from Python 2: byte strings are BINSTRING opcodes."""

    class Py2Pickler(pickle._Pickler):
        dispatch = dict(pickle._Pickler.dispatch)

        def save_bytes(self, obj):
            n = len(obj)
            op = pickle.SHORT_BINSTRING + bytes([n]) if n < 256 else None
            self.write((op or pickle.BINSTRING + struct.pack("<i", n)) + obj)
            self.memoize(obj)

        dispatch[bytes] = save_bytes
        dispatch[str] = lambda self, s: self.save_bytes(s.encode("latin1"))

    d = _cifar10(tmp_path)
    b = _batch("test_batch", 2, 7)
    buf = io.BytesIO()
    Py2Pickler(buf, protocol=2).dump(b)
    data = buf.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    with open(os.path.join(d, "test_batch"), "wb") as f:
        f.write(data)
    m = cifar10(d, split="test").manifest
    assert list(m.label) == [7, 8]
    want = b[b"data"][1].reshape(3, 32, 32).transpose(1, 2, 0)
    np.testing.assert_array_equal(_decode(m.image_path[1]), want)


# ----------------------------------------------------------------- CIFAR-100


def test_cifar100_fine_and_coarse(tmp_path):
    d = _cifar100(tmp_path)
    fine, _, fine_classes = _check(cifar100(tmp_path))
    coarse, _, coarse_classes = _check(cifar100(d, label_mode="coarse"))
    assert len(fine_classes) == 100 and len(coarse_classes) == 20
    assert list(fine.id[:2]) == ["train/train_img_000000", "train/train_img_000001"]
    assert list(fine.id) == list(coarse.id)
    assert list(fine.label) == [37, 47, 57, 67, 38, 48, 58, 68]
    assert list(fine.label_name[:2]) == ["fine37", "fine47"]
    assert list(coarse.label) == [3, 4, 5, 6, 4, 5, 6, 7]
    assert coarse.label_name[7] == "coarse7" and coarse.split[7] == "test"
    assert list(cifar100(d, split="test").manifest.id) == list(fine.id[4:])
    assert sources.read("cifar100", d, label_mode="coarse").manifest.equals(coarse)
    with pytest.raises(ValueError, match="label_mode"):
        cifar100(d, label_mode="both")


# ----------------------------------------------------------------- bad input


def test_missing_files_name_them(tmp_path):
    d = _cifar10(tmp_path)
    os.remove(os.path.join(d, "data_batch_3"))
    with pytest.raises(ValueError, match="data_batch_3"):
        cifar10(d)
    os.remove(os.path.join(d, "batches.meta"))
    with pytest.raises(ValueError, match="batches.meta"):
        cifar10(d, split="test")
    (tmp_path / "x" / "cifar-100-python.tar.gz").parent.mkdir()
    (tmp_path / "x" / "cifar-100-python.tar.gz").write_bytes(b"gz")
    with pytest.raises(ValueError, match="extract cifar-100-python.tar.gz"):
        cifar100(tmp_path / "x")


def test_corrupt_pickles_name_the_file(tmp_path):
    d = _cifar10(tmp_path)
    path = os.path.join(d, "test_batch")
    with open(path, "rb") as f:
        data = f.read()
    for bad in (data[: len(data) // 2], b"not a pickle at all", b""):
        with open(path, "wb") as f:
            f.write(bad)
        with pytest.raises(ReaderError, match="test_batch: corrupt or truncated"):
            cifar10(d, split="test")
    _dump(path, [1, 2, 3])
    with pytest.raises(ReaderError, match="test_batch: not a CIFAR pickle"):
        cifar10(d, split="test")
    b = _batch("test_batch", 2, 0)
    del b[b"labels"]
    _dump(path, b)
    with pytest.raises(ReaderError, match="test_batch: no key b'labels'"):
        cifar10(d, split="test")


class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (self.target,))


def test_pickle_cannot_call_other_globals(tmp_path):
    d = _cifar10(tmp_path)
    marker = str(tmp_path / "pwned")
    _dump(os.path.join(d, "test_batch"), {b"data": _Evil(marker)})
    with pytest.raises(ReaderError, match="test_batch.*not allowed"):
        cifar10(d, split="test")
    assert not os.path.exists(marker)


def test_bad_rows_are_counted(tmp_path):
    d = _cifar10(tmp_path)
    path = os.path.join(d, "test_batch")
    b = _batch("test_batch", 7, 0)
    rows = list(b[b"data"])
    rows[1] = rows[1][:3000]  # short row
    b[b"data"] = rows
    b[b"labels"][2] = 10  # out of range
    b[b"labels"][3] = -1
    b[b"filenames"][4] = b"../escape.png"
    b[b"filenames"][5] = b[b"filenames"][0]  # same name twice
    _dump(path, b)
    m, report, _ = _check(cifar10(d, split="test"))
    assert list(m.id) == [f"test_batch/test_batch_img_00000{i}" for i in (0, 6)]
    assert report.rows_read == 7
    want = {"malformed_line": 1, "unknown_label": 2, "outside_root": 1}
    assert report.skipped == {**want, "duplicate_id": 1}
    assert report.examples["malformed_line"][0].startswith(f"{path}:1: 3000 values")
    assert report.examples["unknown_label"][0].startswith(f"{path}:2: label 10")
    assert not os.path.exists(tmp_path / "escape.png")
    with pytest.raises(ReaderError, match=f"{path}:1: .*malformed_line"):
        cifar10(d, split="test", strict=True)
    b[b"data"] = np.zeros((2, 3000), np.uint8)  # every row of the wrong width
    b[b"labels"], b[b"filenames"] = [0, 1], [b"a.png", b"b.png"]
    _dump(path, b)
    _, report, _ = cifar10(d, split="test")
    assert report.skipped == {"malformed_line": 2} and report.rows_kept == 0
