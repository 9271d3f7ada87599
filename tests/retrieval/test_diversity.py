"""MMR re-ranking and history files, on hand-computed cases."""

import json

import numpy as np
import pytest

from mmvision.retrieval import diversity as div

# Four candidates in 2-D: b is almost a; c is orthogonal to a; d between.
A, B, C, D = (1.0, 0.0), (0.995, 0.0998), (0.0, 1.0), (0.6, 0.8)
VECS = np.array([A, B, C, D])
REL = np.array([0.9, 0.85, 0.5, 0.6])
SEEN = np.array([[1.0, 0.0]])  # the user has seen an item like a


def test_no_diversity_keeps_the_relevance_order():
    assert div.mmr(REL, VECS, 4, diversity=0.0) == [0, 1, 3, 2]


def test_mmr_by_hand_without_history():
    # lam = 0.5. Step 1: a (0.45). Step 2: b 0.425-0.4975, c 0.25, d 0.3-0.3 -> c.
    # Step 3: b's redundancy max(0.995, 0.0998) -> -0.0725; d's max(0.6, 0.8)
    # -> 0.3-0.4 = -0.1; so b, then d.
    assert div.mmr(REL, VECS, 4, diversity=0.5) == [0, 2, 1, 3]


def test_history_pushes_seen_like_items_down():
    # Redundancy starts at sim to the history: a 1.0, b 0.995, c 0, d 0.6.
    # Step 1 gains: a -0.05, b -0.0725, c 0.25, d 0.0 -> c.
    # Step 2: d's redundancy becomes 0.8 -> -0.1; a -0.05 -> a; then b, d.
    order = div.mmr(REL, VECS, 4, diversity=0.5, history=SEEN)
    assert order == [2, 0, 1, 3]
    before = div.history_share(VECS[div.mmr(REL, VECS, 2, 0.5)], SEEN)
    plain = div.history_share(VECS[div.mmr(REL, VECS, 2, 0.0)], SEEN)
    after = div.history_share(VECS[order[:2]], SEEN)
    assert plain == 1.0 and before == 0.5 and after == 0.5
    # top-1 changes from the item the user has seen the like of to a new one
    assert div.mmr(REL, VECS, 1, 0.5)[0] == 0
    assert div.mmr(REL, VECS, 1, 0.5, history=SEEN)[0] == 2


def test_k_larger_than_candidates_and_bad_arguments():
    assert sorted(div.mmr(REL, VECS, 10, 0.3)) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="diversity"):
        div.mmr(REL, VECS, 2, diversity=1.5)
    with pytest.raises(ValueError, match="history"):
        div.mmr(REL, VECS, 2, 0.3, history=np.ones((1, 3)))
    with pytest.raises(ValueError, match="candidates"):
        div.mmr(REL[:3], VECS, 2, 0.3)


def test_read_history_counts_and_names_unknown_ids(tmp_path):
    p = tmp_path / "seen.txt"
    p.write_text("s1\n# a comment\ns9  # trailing comment\ns2\ns1\nnope\n")
    ids, rep = div.read_history(str(p), {"s1", "s2", "s3"})
    assert ids == ["s1", "s2"]
    assert rep == {"unknown": 2, "unknown_ids": ["s9", "nope"]}
    j = tmp_path / "seen.json"
    j.write_text(json.dumps(["s3", "x"]))
    assert div.read_history(str(j), {"s3"}) == (
        ["s3"],
        {"unknown": 1, "unknown_ids": ["x"]},
    )
    j.write_text("[1, 2]")
    with pytest.raises(ValueError, match="seen.json"):
        div.read_history(str(j), {"s3"})
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        div.read_history(str(tmp_path / "missing.txt"), set())
