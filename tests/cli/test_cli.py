"""The `mmvision` command line: help, the data commands, clear errors."""

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mmvision import cli

# ``python -m mmvision.cli`` needs a ``mmvision/cli/__main__.py``; this runs
# the same ``main`` without it (see test_python_dash_m_runs_the_cli).
MMVISION = [
    sys.executable,
    "-c",
    "import sys; from mmvision.cli import main; sys.exit(main(sys.argv[1:]))",
]
COMMANDS = (
    ["data", "demo"],
    ["data", "inspect"],
    ["data", "build-records"],
    ["demo", "run"],
    ["train", "classifier"],
    ["train", "captioner"],
    ["train", "concept_tagger"],
    ["train", "embedder"],
    ["evaluate"],
    ["caption"],
    ["classify"],
    ["export"],
)


def run(*args, **kw):
    return subprocess.run([*MMVISION, *args], capture_output=True, text=True, **kw)


def checksums(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_help_lists_groups_and_does_not_import_tensorflow():
    out = run("--help")
    assert out.returncode == 0
    for group in ("data", "demo", "train", "evaluate", "classify", "caption"):
        assert group in out.stdout, group
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, mmvision.cli as c; c.build_parser(); "
            "print('tensorflow' in sys.modules)",
        ],
        capture_output=True,
        text=True,
    )
    assert probe.stdout.strip() == "False"


def test_python_dash_m_runs_the_cli():
    out = subprocess.run(
        [sys.executable, "-m", "mmvision.cli", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "train" in out.stdout, out.stderr


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example(args):
    out = run(*args, "--help")
    assert out.returncode == 0, out.stderr
    assert re.search(r"examples?:\n  mmvision " + re.escape(args[0]), out.stdout)


def test_train_help_lists_the_task_presets():
    from mmvision import configs

    for task in ("classifier", "captioner", "concept_tagger", "embedder"):
        out = run("train", task, "--help")
        text = " ".join(out.stdout.split())
        for name in configs.preset_names(task):
            assert name in text, (task, name)
        assert "--resume" in text and "--strategy" in text


def test_data_demo_twice_gives_identical_checksums(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    r1 = run("data", "demo", str(a), "--images", "600", "--seed", "1")
    r2 = run("data", "demo", str(b), "--images", "600", "--seed", "1")
    assert r1.returncode == 0 and r2.returncode == 0, r1.stderr + r2.stderr
    assert checksums(a) == checksums(b)
    for layout in (
        "webvision/info",
        "flickr8k/Flickr8k_text",
        "tiny-imagenet-200",
        "folders",
        "triplets.txt",
        "ground_truth.jsonl",
        "contact_sheet.png",
    ):
        assert (a / layout).exists(), layout
    # The printed summary.
    for needle in (
        "classes                  48",
        "caption vocabulary",
        "missing descriptions",
        "text label noise",
    ):
        assert needle in r1.stdout, needle
    m = re.search(r"images\s+600 \(train (\d+), val (\d+), test (\d+)\)", r1.stdout)
    assert m and sum(map(int, m.groups())) == 600 and int(m[1]) > 400


@pytest.mark.parametrize(
    "args, needle",
    [
        (["data", "demo", "{tmp}/w", "--images", "abc"], "not an integer"),
        (["data", "demo", "{tmp}/w", "--images", "0"], "must be >= 1"),
        (["data", "demo", "{tmp}/w", "--frobnicate"], "unrecognized arguments"),
        (["data", "demo", "{tmp}/file.txt"], "not a directory"),
        (["data", "demo", "{tmp}/file.txt/sub"], "not a directory"),
        (["data", "demo", "{tmp}/foreign"], "not empty"),
        (["data"], "required"),
        (["nonsense"], "invalid choice"),
        ([], "required"),
        (["train", "classifier", "--out", "{tmp}/r", "--data", "{tmp}/no"], "exist"),
        (["train", "classifier", "--out", "{tmp}/file.txt"], "not a directory"),
        (["train", "nope"], "invalid choice"),
        (["train", "classifier", "--out", "{tmp}/r", "--strategy", "x"], "invalid"),
        (["evaluate", "{tmp}/missing"], "does not exist"),
        (["classify", "{tmp}/foreign", "img.jpg", "--top-k", "0"], "must be >= 1"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(tmp_path, args, needle):
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "keep.txt").write_text("x")
    out = run(*[a.format(tmp=tmp_path) for a in args])
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mmvision") and needle in lines[0], (
        out.stderr
    )
    assert (tmp_path / "foreign" / "keep.txt").read_text() == "x"


def test_main_in_process_returns_2_on_bad_path(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    with pytest.raises(SystemExit) as e:
        cli.main(["data", "demo", str(tmp_path / "f")])
    assert e.value.code == 2
    assert "not a directory" in capsys.readouterr().err


def test_inspect_writes_a_manifest_and_build_records_reads_it(demo_world, tmp_path):
    from mmvision.data import records
    from mmvision.data.manifest import read_manifest

    manifest = tmp_path / "m.parquet"
    out = run(
        "data",
        "inspect",
        "flickr8k",
        str(demo_world / "flickr8k"),
        "--split",
        "test",
        "--write",
        str(manifest),
    )
    assert out.returncode == 0, out.stderr
    assert '"bogus_key"' in out.stdout or "rows_read" in out.stdout
    df = read_manifest(manifest)
    assert len(df) == 48 and all(len(c) == 5 for c in df["captions"])
    rec = run(
        "data",
        "build-records",
        str(manifest),
        str(tmp_path / "rec"),
        "--image-size",
        "32",
        "--num-shards",
        "2",
    )
    assert rec.returncode == 0, rec.stderr[-2000:]
    ids = sorted(
        ex["id"].numpy().decode()
        for ex in records.read_records(tmp_path / "rec", decode=False)
    )
    assert ids == sorted(df["id"])


def test_manifest_files_round_trip_and_errors(tmp_path):
    from mmvision.data.manifest import make_manifest, read_manifest, write_manifest

    df = make_manifest(
        [
            {
                "id": "a",
                "image_path": "/x/a.jpg",
                "label": 1,
                "tags": ["t1", "t2"],
                "captions": ["one", "two"],
                "title": "é ü",
            },
            {"id": "b", "image_path": "/x/b.jpg"},
        ]
    )
    for suffix in ("parquet", "jsonl"):
        path = tmp_path / f"m.{suffix}"
        write_manifest(df, path)
        back = read_manifest(path)
        assert back["id"].tolist() == ["a", "b"]
        assert back["tags"].tolist() == [["t1", "t2"], []]
        assert back["captions"][0] == ["one", "two"] and back["title"][0] == "é ü"
        assert back["label"].tolist() == [1, -1]
    with pytest.raises(ValueError, match="not found"):
        read_manifest(tmp_path / "missing.parquet")
    with pytest.raises(ValueError, match=r"\.csv.*parquet or \.jsonl|must be"):
        write_manifest(df, tmp_path / "m.csv")
    (tmp_path / "bad.jsonl").write_text('{"id": "a"}\n')
    with pytest.raises(ValueError, match="bad.jsonl.*missing columns"):
        read_manifest(tmp_path / "bad.jsonl")
