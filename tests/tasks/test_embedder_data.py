"""The embedder task's data: held-out classes, a triplet list (kept,
counted, strict line numbers), and P x K requests the data cannot meet."""

from __future__ import annotations

import pytest

from mmvision import configs
from mmvision.data.sources._common import ReaderError
from mmvision.tasks.embedder import EmbedderTask

SMOKE = "demo_embedder_smoke"


def _cfg(*overrides):
    return configs.apply_overrides(configs.get_preset("embedder", SMOKE), overrides)


def test_held_out_classes_leave_every_training_split(demo_world):
    cfg = _cfg("data.held_out=red_circle,blue_star")
    data = EmbedderTask().load_data(cfg, demo_world)
    held = {data.classes.index("red_circle"), data.classes.index("blue_star")}
    unseen = data.split("unseen")
    assert set(unseen["label"]) == held and len(unseen) == 20  # 10 images a class
    for s in ("train", "val", "test"):
        assert not set(data.split(s)["label"]) & held
    assert EmbedderTask().run_info(cfg, data)["held_out"] == ["red_circle", "blue_star"]
    with pytest.raises(ValueError, match="unknown class.*'mauve_circle'"):
        EmbedderTask().load_data(_cfg("data.held_out=mauve_circle"), demo_world)


def test_triplet_list_keeps_train_split_triplets_and_counts_the_rest(demo_world):
    cfg = _cfg("train.mode=offline", "data.triplets=triplets.txt")
    data = EmbedderTask().load_data(cfg, demo_world)
    lines = (demo_world / "triplets.txt").read_text().split()
    assert data.triplets is not None and len(data.triplets) > 0
    train = set(data.split("train")["image_path"])
    assert data.triplets.isin(train).all(axis=None)
    n_file = len(lines) // 3
    assert len(data.triplets) + data.triplet_skips["not_in_train_split"] == n_file
    info = EmbedderTask().run_info(cfg, data)["triplets"]
    assert info["kept"] == len(data.triplets)
    train_ds, _ = EmbedderTask().datasets(cfg, data)
    x, _ = next(iter(train_ds))
    assert x["image_0"].shape[1:] == (32, 32, 3)


def test_bad_triplet_lines_are_counted_or_named_by_line(demo_world, tmp_path):
    good = (demo_world / "triplets.txt").read_text().splitlines()
    bad = tmp_path / "bad_triplets.txt"
    root = demo_world.resolve()
    rows = [" ".join(str(root / p) for p in line.split()) for line in good[:30]]
    rows.insert(2, f"{root / good[0].split()[0]} only-two-fields")
    rows.insert(5, f"{root}/folders/nowhere/x.jpg {root}/a.jpg {root}/b.jpg")
    bad.write_text("\n".join(rows) + "\n")
    cfg = _cfg("train.mode=offline", f"data.triplets={bad}")
    data = EmbedderTask().load_data(cfg, demo_world)
    assert data.triplet_skips["malformed_line"] == 1
    assert data.triplet_skips["missing_file"] == 1
    with pytest.raises(ReaderError, match=r"bad_triplets\.txt:3: .*2 fields"):
        EmbedderTask().load_data(_cfg(*cfg_strict(bad)), demo_world)
    with pytest.raises(FileNotFoundError, match="no triplet list"):
        EmbedderTask().load_data(_cfg("data.triplets=nope.txt"), demo_world)


def cfg_strict(path):
    return ("train.mode=offline", f"data.triplets={path}", "data.strict=true")


def test_pk_request_beyond_a_class_names_it(demo_world):
    cfg = _cfg("train.k=9")  # 10 images a class: about 6 in train
    data = EmbedderTask().load_data(cfg, demo_world)
    with pytest.raises(ValueError, match=r"fewer than k=9 rows \(class \d+ \('.+'\)"):
        EmbedderTask().datasets(cfg, data)


def test_in_class_negatives_feed_offline_training(demo_world):
    from mmvision.tasks.embedder import thumbnails

    cfg = _cfg("train.mode=offline", "train.in_class_negative_fraction=0.5")
    data = EmbedderTask().load_data(cfg, demo_world)
    gold = thumbnails(data.split("train"))
    assert gold.shape == (len(data.split("train")), 192) and gold.max() <= 1.0
    train_ds, _ = EmbedderTask().datasets(cfg, data)
    x, _ = next(iter(train_ds))
    assert x["image_2"].shape == (16, 32, 32, 3)
    bad = _cfg("train.in_class_negative_fraction=0.5")  # online mode
    with pytest.raises(ValueError, match="sampled offline triplets"):
        EmbedderTask().load_data(bad, demo_world)


@pytest.mark.parametrize("mode", ["online", "offline"])
def test_steps_per_epoch_counts_the_batches_of_an_epoch(demo_world, mode):
    cfg = _cfg(f"train.mode={mode}", "train.steps_per_epoch=none")
    task = EmbedderTask()
    data = task.load_data(cfg, demo_world)
    train_ds, _ = task.datasets(cfg, data)
    assert task.steps_per_epoch(cfg, data, train_ds) == sum(1 for _ in train_ds)


def test_split_file_gives_the_worlds_canonical_split(demo_world):
    import json

    cfg = _cfg("data.split_file=ground_truth.jsonl")
    data = EmbedderTask().load_data(cfg, demo_world)
    rows = [json.loads(x) for x in (demo_world / "ground_truth.jsonl").open()]
    canonical = {r["id"]: r["split"] for r in rows}
    got = {
        i.rsplit("/", 1)[-1]: s
        for i, s in zip(data.manifest["id"], data.manifest["split"])
    }
    assert got == canonical  # every image, each in its canonical split
    counts = EmbedderTask().run_info(cfg, data)["split_file"]
    assert counts == {"listed": 480, "matched": 480, "not_in_split_list": 0}
    with pytest.raises(FileNotFoundError, match="no_such_split.txt"):
        EmbedderTask().load_data(_cfg("data.split_file=no_such_split.txt"), demo_world)


def test_split_file_without_a_val_image_is_an_error(demo_world, tmp_path):
    import json

    rows = [json.loads(x) for x in (demo_world / "ground_truth.jsonl").open()]
    lst = tmp_path / "no_val.txt"
    lst.write_text("".join(f"{r['id']} {'test' if r['split'] == 'test' else 'train'}\n"
                           for r in rows))  # fmt: skip
    with pytest.raises(ValueError, match=r"no_val\.txt: no image of split 'val'"):
        EmbedderTask().load_data(_cfg(f"data.split_file={lst}"), demo_world)
