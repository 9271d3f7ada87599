"""TFRecord schema and the Beam builder: Manifest -> shards -> feature dicts."""

import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from data_pipelines.build_tfrecords import build_records, main, plan_shards
from mmvision.data import pipelines as P
from mmvision.data import records
from mmvision.data.manifest import make_manifest
from tests.badfiles import _pattern, bad, build_bad_corpus

SIZE = 16


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    d = tmp_path_factory.mktemp("imgs")
    rows = []
    for i in range(10):
        path = d / f"im {i}.jpg"
        Image.fromarray(_pattern(24, 20, seed=i)).save(path, quality=95)
        rows.append(
            dict(
                id=f"x{i}",
                image_path=str(path),
                label=i % 4,
                label_name=f"c{i % 4}",
                title=f"título {i}",
                description="" if i == 3 else f"d{i}",
                tags=[] if i == 2 else ["a", f"t{i}"],
                captions=[f"cap {i} a", f"cap {i} b"],
                split="val" if i in (4, 8) else "train",
            )
        )
    corpus = build_bad_corpus(d / "bad")
    for f in bad(corpus):
        rows.append(dict(id="bad-" + f.name, image_path=f.path, label=0, split="train"))
    return make_manifest(rows), corpus


@pytest.fixture(scope="module")
def built(manifest, tmp_path_factory):
    df, _ = manifest
    out = tmp_path_factory.mktemp("rec")
    stats = build_records(df, out, image_size=SIZE, num_shards=3, direct_num_workers=2)
    return out, stats


def test_encode_parse_round_trip(tmp_path):
    row = dict(
        id="a", label=3, label_name="x", title="t", description="d", tags=["p", "q"],
        captions=["c1", "c2"], split="val", image_path="/i.jpg",
    )  # fmt: skip
    data = tf.io.encode_jpeg(np.zeros((4, 5, 3), np.uint8)).numpy()
    path = tmp_path / "data-00000-of-00001.tfrecord"
    assert records.write_shard(path, [records.encode_example(row, data, 4, 5)]) == 1
    ex = next(iter(records.read_records(tmp_path)))
    assert ex["id"].numpy() == b"a" and int(ex["label"]) == 3
    assert ex["tags"].numpy() == b"p q" and list(ex["captions"].numpy()) == [
        b"c1",
        b"c2",
    ]
    assert ex["image"].shape == (4, 5, 3) and ex["split"].numpy() == b"val"
    with pytest.raises(ValueError, match="no TFRecord shards"):
        records.list_shards(tmp_path / "nothing")


def test_plan_shards():
    assert plan_shards(["train"] * 8 + ["val", "test"], 8) == {
        "test": 1,
        "train": 6,
        "val": 1,
    }
    assert plan_shards(["", ""], 3) == {"data": 3}


def test_beam_round_trip(manifest, built):
    df, corpus = manifest
    out, stats = built
    good_rows = df[~df["id"].str.startswith("bad-")]
    assert stats["records_written"] == len(good_rows)
    want = {}
    for f in bad(corpus):
        want[f.expect] = want.get(f.expect, 0) + 1
    assert stats["skipped"] == want
    assert stats["records_per_split"] == {"train": 8, "val": 2}
    assert sorted(stats["shards"]) == sorted(
        f for f in os.listdir(out) if f.endswith(".tfrecord")
    )
    assert stats["num_classes"] == 4 and stats["unlabelled_records"] == 0
    got = {e["id"].numpy().decode(): e for e in records.read_records(out)}
    assert sorted(got) == sorted(good_rows["id"])
    for _, row in good_rows.iterrows():
        e = got[row["id"]]
        assert int(e["label"]) == row["label"]
        assert e["label_name"].numpy().decode() == row["label_name"]
        assert e["title"].numpy().decode() == row["title"]
        assert e["description"].numpy().decode() == row["description"]
        assert e["tags"].numpy().decode() == " ".join(row["tags"])
        assert [c.decode() for c in e["captions"].numpy()] == row["captions"]
        assert e["split"].numpy().decode() == row["split"]
        src = np.asarray(
            Image.open(row["image_path"])
            .convert("RGB")
            .resize((SIZE, SIZE), Image.BILINEAR)
        )
        img = e["image"].numpy()
        assert img.shape == (SIZE, SIZE, 3)
        assert np.abs(img - src.astype(np.float32)).mean() < 6.0  # JPEG tolerance


def test_rerun_is_noop_and_interrupted_run_resumes(manifest, built, tmp_path):
    df, _ = manifest
    out, stats = built
    mtimes = {f: os.path.getmtime(os.path.join(out, f)) for f in os.listdir(out)}
    assert build_records(df, out, image_size=SIZE, num_shards=3) == stats
    assert {
        f: os.path.getmtime(os.path.join(out, f)) for f in os.listdir(out)
    } == mtimes
    # A copy with one shard lost and a stray temp file, as a killed run leaves it.
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    lost = sorted(stats["shards"])[0]
    os.remove(copy / lost)
    (copy / f".{lost}.tmp-dead").write_bytes(b"half")
    kept = {s: os.path.getmtime(copy / s) for s in stats["shards"] if s != lost}
    again = build_records(
        df, copy, image_size=SIZE, num_shards=3, direct_running_mode="in_memory"
    )
    assert again["records_written"] == stats["records_written"]
    assert again["shards"] == stats["shards"]
    assert {s: os.path.getmtime(copy / s) for s in kept} == kept  # untouched
    with pytest.raises(ValueError, match="other settings"):
        build_records(df, copy, image_size=SIZE + 1, num_shards=3)


def test_pipeline_from_records_matches_files(manifest, built):
    df, _ = manifest
    out, _ = built
    good_rows = df[~df["id"].str.startswith("bad-")]
    from_rec = P.classification_dataset(
        out,
        image_size=SIZE,
        batch_size=None,
        fields=("image", "id", "title"),
        split="train",
    )
    from_files = P.classification_dataset(
        good_rows,
        image_size=SIZE,
        batch_size=None,
        fields=("image", "id", "title"),
        split="train",
    )
    a = {
        f["id"].numpy(): (f["image"].numpy(), int(y), f["title"].numpy())
        for f, y in from_rec
    }
    b = {
        f["id"].numpy(): (f["image"].numpy(), int(y), f["title"].numpy())
        for f, y in from_files
    }
    assert sorted(a) == sorted(b) and len(a) == 8
    for k in a:
        assert a[k][1:] == b[k][1:]
        assert np.abs(a[k][0] - b[k][0]).mean() < 8.0
    cat = P.classification_dataset(
        out, image_size=SIZE, label_mode="categorical", batch_size=4
    )
    assert next(iter(cat))[1].shape == (4, 4)  # num_classes from stats.json
    parts = [
        {
            f["id"].numpy()
            for f, _ in P.classification_dataset(
                out, image_size=SIZE, batch_size=None, fields=("id",), shard=(2, i)
            )
        }
        for i in range(2)
    ]
    assert not parts[0] & parts[1] and len(parts[0] | parts[1]) == 10


def test_cli_main(manifest, tmp_path, capsys):
    df, _ = manifest
    path = tmp_path / "m.jsonl"
    df.head(4).to_json(path, orient="records", lines=True, force_ascii=False)
    rc = main([str(path), str(tmp_path / "r"), "--image-size", "8", "--num-shards", "2",
               "--direct-running-mode", "in_memory"])  # fmt: skip
    assert rc == 0 and "4 records" in capsys.readouterr().out
    assert records.read_stats(tmp_path / "r")["image_size"] == [8, 8]


@pytest.mark.large
def test_a_parquet_manifest_is_read_by_a_beam_source(manifest, tmp_path):
    df, _ = manifest
    path = tmp_path / "m.parquet"
    df.to_parquet(path, index=False)
    by_file = build_records(
        path, tmp_path / "file", image_size=SIZE, num_shards=2,
        direct_num_workers=2, direct_running_mode="multi_processing",
    )  # fmt: skip
    in_memory = build_records(
        df, tmp_path / "mem", image_size=SIZE, num_shards=2,
        direct_running_mode="in_memory",
    )  # fmt: skip
    assert by_file["records_written"] == in_memory["records_written"] > 0
    assert by_file["skipped"] == in_memory["skipped"]

    def ids(out):
        return sorted(
            f["id"].numpy().decode()
            for f, _ in P.classification_dataset(
                out, image_size=SIZE, batch_size=None, fields=("id",)
            )
        )

    assert ids(tmp_path / "file") == ids(tmp_path / "mem")
