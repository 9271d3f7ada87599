"""Table and caption files with cells longer than the csv module's default
field limit (128 KiB): loaded intact; real parse errors name file and line."""

import csv
import io
import json
import os

import pytest
from PIL import Image

from mmvision.data import sources

LONG = 300_000


def _write(path, text):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    return str(path)


@pytest.fixture
def root(tmp_path):
    for name in ("a", "b"):
        buf = io.BytesIO()
        Image.new("RGB", (8, 8), (200, 30, 30)).save(buf, "JPEG")
        os.makedirs(tmp_path / "imgs", exist_ok=True)
        (tmp_path / "imgs" / f"{name}.jpg").write_bytes(buf.getvalue())
    return tmp_path


def _long_text():
    words = ("lorem", "ipsum", "dolor", "sit", "amet,", '"quoted"', "caf\u00e9")
    text = " ".join(words[i % len(words)] for i in range(LONG // 4))
    return (text + " " + "x" * LONG)[: LONG - 1] + "z"  # no edge whitespace


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_csv_with_a_300k_character_description(root, fmt):
    desc = _long_text()
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter="," if fmt == "csv" else "\t")
    writer.writerows(
        [
            ["path", "class", "text"],
            ["imgs/a.jpg", "cat", desc],
            ["imgs/b.jpg", "dog", "short"],
        ]
    )
    path = _write(root / f"t.{fmt}", buf.getvalue())
    limit = csv.field_size_limit()
    cols = {"image": "path", "label": "class", "description": "text"}
    m, report, classes = sources.table(path, cols)
    assert len(m.description[0]) == LONG and m.description[0] == desc
    assert m.description.tolist()[1] == "short" and classes == ["cat", "dog"]
    assert report.n_skipped == 0
    assert csv.field_size_limit() == limit  # restored


def test_jsonl_with_a_300k_character_description(root):
    desc = _long_text()
    lines = [
        {"image": "imgs/a.jpg", "label": 0, "description": desc},
        {"image": "imgs/b.jpg", "label": 1, "description": "short"},
    ]
    path = _write(root / "t.jsonl", "".join(json.dumps(x) + "\n" for x in lines))
    m, report, _ = sources.table(path)
    assert len(m.description[0]) == LONG and m.description[0] == desc
    assert report.n_skipped == 0


def test_flickr_captions_csv_with_a_300k_character_caption(root):
    os.makedirs(root / "Images")
    os.replace(root / "imgs" / "a.jpg", root / "Images" / "a.jpg")
    caption = _long_text()
    buf = io.StringIO()
    csv.writer(buf).writerows([["image", "caption"], ["a.jpg", caption]])
    _write(root / "captions.txt", buf.getvalue())
    m, report, _ = sources.flickr8k(root)
    assert m.captions.tolist() == [[caption]]
    assert len(m.captions[0][0]) == LONG


def test_csv_parse_error_names_file_and_line(root):
    # A carriage return inside an unquoted cell: the csv module gives up.
    path = _write(root / "bad.csv", "path,text\nimgs/a.jpg,ok\nimgs/b.jpg,x\ry\n")
    limit = csv.field_size_limit()
    with pytest.raises(ValueError, match=r"bad\.csv:3: cannot parse the CSV") as e:
        sources.table(path, {"image": "path", "description": "text"})
    assert not isinstance(e.value, csv.Error)
    assert csv.field_size_limit() == limit
