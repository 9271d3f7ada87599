"""Splits from a list file: both formats, id matching, counted leftovers and
errors that name the line."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mmvision.data.split_lists import apply_split_list, read_split_list


def _manifest():
    return pd.DataFrame(
        {
            "id": ["cat/a1", "cat/a2", "dog/b1", "dog/b2", "dog/b3"],
            "image_path": ["/d/cat/a1.jpg", "/d/cat/a2.jpg", "/d/dog/b1.jpg",
                           "/d/dog/b2.jpg", "/x/y/zz.png"],
            "label": [0, 0, 1, 1, 1],
            "split": ["", "", "", "", ""],
        }
    )  # fmt: skip


def test_jsonl_and_text_lists_read_the_same(tmp_path):
    rows = [("a1", "train"), ("b1", "test"), ("zz", "val")]
    jl = tmp_path / "split.jsonl"
    jl.write_text("\n".join(json.dumps({"id": i, "split": s, "x": 1}) for i, s in rows))
    txt = tmp_path / "split.txt"
    txt.write_text("id,split\n# a comment\n\na1 train\nb1,test\nzz\tval\n")
    assert read_split_list(jl) == read_split_list(txt) == dict(rows)


def test_rows_match_by_id_then_last_component_then_file_stem(tmp_path):
    lst = tmp_path / "s.txt"
    lst.write_text("cat/a1 val\nb1 test\nb2 train\nzz train\nnot-there test\n")
    out, counts = apply_split_list(_manifest(), lst)
    assert dict(zip(out["id"], out["split"])) == {
        "cat/a1": "val", "dog/b1": "test", "dog/b2": "train", "dog/b3": "train",
    }  # fmt: skip
    # cat/a2 is in no line: dropped and counted, never given a split silently
    assert counts == {"listed": 5, "matched": 4, "not_in_split_list": 1}
    assert list(out.index) == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("s.txt", "a1 train\na2 train extra\n", r"s\.txt:2: expected '<id> <split>'"),
        ("s.txt", "a1 train\n\na2 holdout\n", r"s\.txt:3: unknown split 'holdout'"),
        ("s.txt", "a1 train\na1 test\n", r"s\.txt:2: 'a1' listed as 'train'"),
        ("s.jsonl", '{"id": "a1", "split": "train"}\n{"id": "a2"}\n',
         r"s\.jsonl:2: expected a JSON object with 'id' and 'split'"),
        ("s.jsonl", "not json\n", r"s\.jsonl:1: expected a JSON object"),
    ],
)  # fmt: skip
def test_bad_lines_are_errors_naming_file_and_line(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_split_list(path)


def test_a_missing_list_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.txt"):
        read_split_list(tmp_path / "nowhere.txt")
