"""`mmvision classify RUN IMG...`: top-k classes of image files."""

import json

import pytest

from mmvision import cli, configs
from mmvision.training import run_dir


@pytest.fixture(scope="module")
def classifier_run(demo_world, tmp_path_factory):
    run = tmp_path_factory.mktemp("classify") / "run"
    args = ["train", "classifier", "--preset", "demo_classifier_smoke"]
    args += ["--data", str(demo_world), "--out", str(run), "--set", "train.epochs=1"]
    assert cli.main(args) == 0
    return run


@pytest.fixture(scope="module")
def images(demo_world):
    return sorted((demo_world / "folders").rglob("*.jpg"))[:3]


def test_json_lines_with_top_k_labels_in_score_order(classifier_run, images, capsys):
    classes = json.loads((classifier_run / "classes.json").read_text())
    args = ["classify", str(classifier_run), *map(str, images)]
    args += ["--title", "red circle", "--description", "a shape", "--tags", "red"]
    assert cli.main([*args, "--top-k", "3", "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(images)
    for line, path in zip(lines, images):
        row = json.loads(line)
        assert row["path"] == str(path)
        labels = [t["label"] for t in row["top"]]
        scores = [t["score"] for t in row["top"]]
        assert len(labels) == 3 and len(set(labels)) == 3
        assert set(labels) <= set(classes)
        assert scores == sorted(scores, reverse=True)
        assert all(0.0 <= s <= 1.0 for s in scores)


def test_plain_output_and_top_k_above_the_class_count(classifier_run, images, capsys):
    assert cli.main(["classify", str(classifier_run), str(images[0])]) == 0
    path, tags = capsys.readouterr().out.strip().split("\t")
    assert path == str(images[0]) and len(tags.split(", ")) == 5  # default top 5
    code = cli.main(
        ["classify", str(classifier_run), str(images[0]), "--top-k", "1000", "--json"]
    )
    assert code == 0
    assert len(json.loads(capsys.readouterr().out)["top"]) == 48


@pytest.fixture
def broken(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    return bad, empty


def test_a_corrupt_image_beside_a_good_one_is_skipped_and_named(
    classifier_run, images, broken, capsys
):
    args = ["classify", str(classifier_run), str(images[0]), str(broken[0])]
    assert cli.main([*args, "--json"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["path"] == str(images[0])
    assert "broken.jpg" in captured.err and "1 of 2 images skipped" in captured.err


def test_when_every_image_is_corrupt_each_is_named_and_exit_is_2(
    classifier_run, broken, capsys
):
    bad, empty = broken
    assert cli.main(["classify", str(classifier_run), str(bad), str(empty)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "broken.jpg" in captured.err and "empty.png" in captured.err
    assert "2 of 2 images skipped" in captured.err
    # A single bad image: one error line naming it.
    assert cli.main(["classify", str(classifier_run), str(bad), "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mmvision: error")
    assert "broken.jpg" in err[0]


def test_a_captioner_run_is_refused_naming_its_task(images, tmp_path, capsys):
    # Only config.json decides the task: a captioner run's config is enough.
    run = tmp_path / "captioner_run"
    run.mkdir()
    run_dir.write_config(run, configs.get_preset("captioner", "demo_captioner_smoke"))
    assert cli.main(["classify", str(run), str(images[0])]) == 2
    err = capsys.readouterr().err
    assert "captioner run" in err and "classifier" in err
    # And a directory that is no run at all.
    assert cli.main(["classify", str(tmp_path), str(images[0])]) == 2
    assert "not a run directory" in capsys.readouterr().err
