"""The Retriever on a hand-built gallery: given captions, array image vectors.

Every expected ranking is computed here from the encoder's vectors and the
stored image vectors with numpy, independently of the retriever's code.
"""

import numpy as np
import pandas as pd
import pytest

from mmvision.retrieval import Query, RetrievalSettings, Retriever
from mmvision.retrieval import settings as settings_mod
from mmvision.retrieval.bleu_scorer import BleuScorer
from mmvision.retrieval.sources import ArraySource

CAPTIONS = {
    "a": "a red circle on a blue background",
    "b": "a red circle on a blue background",
    "c": "a red circle on a green background",
    "d": "a red square on a green background",
    "e": "a blue square near the top",
    "f": "a yellow heart alone on the picture",
    "g": "a green triangle at the bottom",
    "h": "a red circle in the middle",
}
IDS = list(CAPTIONS)
RNG = np.random.default_rng(0)
IMAGES = {i: RNG.normal(size=4) for i in IDS}


def _manifest(ids):
    return pd.DataFrame({"id": ids, "image_path": [f"/img/{i}.jpg" for i in ids]})


def _unit(x):
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@pytest.fixture()
def r():
    return Retriever.build(
        _manifest(IDS),
        captions=CAPTIONS,
        encoder="tfidf",
        image_source=ArraySource(IMAGES),
    )


def _cap_scores(r, text):
    q = r.encoder.encode([text])[0]
    return {
        i: float(v @ q) for i, v in zip(IDS, r.encoder.encode(list(CAPTIONS.values())))
    }


def test_similar_by_caption_applies_the_threshold(r):
    res = r.query("a red circle on a blue background", "similar", k=5)
    want = sorted(
        (i for i, s in _cap_scores(r, CAPTIONS["a"]).items() if s >= 0.9),
        key=lambda i: -_cap_scores(r, CAPTIONS["a"])[i],
    )
    assert want == ["a", "b"] and res.ids == want
    assert res.method == "caption" and res.results[0].score == pytest.approx(1.0)
    assert any("only 2 item(s)" in n for n in res.notes)
    assert res.results[0].image_path == "/img/a.jpg"


def test_id_query_leaves_itself_out(r):
    res = r.query(Query(id="a"), "similar", k=3, method="caption")
    assert res.ids[0] == "b" and "a" not in res.ids


def test_divergent_band_and_farthest(r):
    scores = _cap_scores(r, CAPTIONS["a"])
    lo, hi = sorted(scores.values())[2], sorted(scores.values())[5]
    r.settings = r.settings.replace("caption", band=(lo, hi))
    res = r.query(
        "a red circle on a blue background", "divergent", k=10, method="caption"
    )
    want = sorted(
        (i for i, s in scores.items() if lo <= s <= hi), key=lambda i: -scores[i]
    )
    assert res.ids == want and len(want) == 4
    img = {i: float(_unit(IMAGES[i]) @ _unit(IMAGES["c"])) for i in IDS if i != "c"}
    far = r.query(Query(id="c"), "divergent", k=3, method="image")
    assert far.ids == sorted(img, key=img.get)[:3]
    assert far.results[0].score == pytest.approx(min(img.values()), abs=1e-6)


def test_combined_score_and_image_agreement(r):
    cap = _cap_scores(r, CAPTIONS["c"])
    img = {i: float(_unit(IMAGES[i]) @ _unit(IMAGES["c"])) for i in IDS}
    comb = {i: 0.5 * cap[i] + 0.5 * img[i] for i in IDS if i != "c"}
    res = r.query(Query(id="c"), "similar", k=7)
    assert res.method == "combined"
    assert res.ids == sorted(comb, key=lambda i: -comb[i])
    assert [x.score for x in res.results] == pytest.approx(
        sorted(comb.values())[::-1], abs=1e-6
    )
    # caption matches must also agree by image
    r.settings = r.settings.replace(None, image_agreement=0.0).replace(
        "caption", threshold=None
    )
    agreed = r.query(Query(id="c"), "similar", k=7, method="caption")
    assert set(agreed.ids) == {i for i in IDS if i != "c" and img[i] >= 0.0}


def test_bleu_method_scores_are_the_scorers(r):
    res = r.query("a red circle on a green background", "similar", k=8, method="bleu")
    want = BleuScorer(list(CAPTIONS.values())).score(
        "a red circle on a green background"
    )
    by_id = dict(zip(IDS, want))
    assert [x.score for x in res.results] == pytest.approx(sorted(want)[::-1])
    assert res.results[0].id == "c" and by_id["c"] == pytest.approx(1.0)


def test_k_larger_than_the_index_returns_all_and_says_so(r):
    r.settings = r.settings.replace("caption", threshold=None)
    res = r.query("a red circle", "similar", k=50)
    assert len(res) == len(IDS)
    assert any("more than the 8 items" in n for n in res.notes)


def test_history_is_left_out_pushes_its_likes_down_and_names_unknown_ids(r):
    r.settings = r.settings.replace("caption", threshold=None)
    plain = r.query("a red circle on a blue background", "similar", k=3)
    assert plain.ids[:2] == ["a", "b"] or plain.ids[:2] == ["b", "a"]
    seen = r.query(
        "a red circle on a blue background",
        "similar",
        k=3,
        history=["b", "zzz"],
        diversity=0.5,
    )
    assert "b" not in seen.ids and "a" not in seen.ids[:1]
    assert any("1 unknown id(s) ignored: zzz" in n for n in seen.notes)
    vb = r.caption_index.vectors(["b"])
    share = lambda ids: float(
        ((r.caption_index.vectors(ids) @ vb.T).max(1) >= 0.9).mean()
    )
    assert share(seen.ids) < share([i for i in plain.ids if i != "b"] or plain.ids)


def test_bad_queries():
    with pytest.raises(ValueError, match="empty query text"):
        Query(text="   ")
    with pytest.raises(ValueError, match="exactly one"):
        Query(text="x", id="a")
    r = Retriever.build(_manifest(IDS), captions=CAPTIONS, encoder="tfidf")
    with pytest.raises(KeyError, match="nope"):
        r.query(Query(id="nope"))
    with pytest.raises(ValueError, match="image vectors"):
        r.query("a red circle", method="image")
    with pytest.raises(ValueError, match="no captioner"):
        r.query(Query(image=__file__))
    with pytest.raises(ValueError, match="does not exist"):
        r.query(Query(image="/no/such/image.jpg"))


def test_save_load_add_remove(r, tmp_path):
    queries = [Query(id="c"), Query(text="a green triangle"), Query(id="e")]
    before = [r.query(q, "similar", k=4).to_dict() for q in queries]
    r.save(tmp_path / "idx")
    back = Retriever.load(tmp_path / "idx")
    after = [back.query(q, "similar", k=4).to_dict() for q in queries]
    assert after == before
    with pytest.raises(ValueError, match="image_vectors"):
        back.add(_manifest(["new"]), captions={"new": "a purple star"})
    back.add(
        _manifest(["new"]),
        captions={"new": "a purple star in the corner"},
        image_vectors={"new": np.ones(4)},
    )
    assert back.query("a purple star in the corner", k=1).ids == ["new"]
    back.remove(["new", "a"])
    assert "new" not in back.query("a purple star", k=8, method="caption").ids
    back.save(tmp_path / "idx")
    again = Retriever.load(tmp_path / "idx")
    assert len(again) == len(IDS) - 1 and "a" not in again.ids


def test_load_names_a_truncated_vectors_file(r, tmp_path):
    r.save(tmp_path / "idx")
    vec = tmp_path / "idx" / "captions" / "vectors.npy"
    vec.write_bytes(vec.read_bytes()[:-16])
    with pytest.raises(ValueError, match="vectors.npy"):
        Retriever.load(tmp_path / "idx")


def test_load_names_a_truncated_items_file(r, tmp_path):
    r.save(tmp_path / "idx")
    items = tmp_path / "idx" / "items.jsonl"
    items.write_text("\n".join(items.read_text().splitlines()[:-1]) + "\n")
    with pytest.raises(ValueError, match="items.jsonl"):
        Retriever.load(tmp_path / "idx")


def test_settings_round_trip():
    s = RetrievalSettings().replace("caption", threshold=0.8, band=(0.4, 0.5))
    assert RetrievalSettings.from_dict(s.to_dict()) == s
    with pytest.raises(ValueError, match="divergent"):
        s.replace("image", divergent="sideways")


def test_minilm_is_the_default_encoder_with_its_own_bands():
    r = Retriever.build(_manifest(IDS[:4]), captions=CAPTIONS)
    assert r.encoder.spec == "minilm"
    assert r.settings == RetrievalSettings.for_encoder("minilm")
    assert r.settings.caption.band == (0.70, 0.85)
    assert (r.settings.caption_weight, r.settings.image_weight) == (0.7, 0.3)
    assert RetrievalSettings.for_encoder("tfidf") == RetrievalSettings()
    assert RetrievalSettings().caption.band == (0.50, 0.60)


def test_an_embedder_index_gets_its_own_combined_rules():
    minilm = RetrievalSettings.for_encoder("minilm")
    emb = RetrievalSettings.for_sources("minilm", "embedder")
    want = settings_mod.EMBEDDER_MINILM
    assert emb.combined == want["combined"]
    assert (emb.caption_weight, emb.image_weight) == (
        want["caption_weight"],
        want["image_weight"],
    )
    assert emb.caption == minilm.caption and emb != minilm
    for kind in (None, "captioner", "run", "tower", "array"):
        assert RetrievalSettings.for_sources("minilm", kind) == minilm
    assert RetrievalSettings.for_sources("tfidf", "embedder") == RetrievalSettings()
    with pytest.raises(ValueError, match="'pixels'"):
        RetrievalSettings.for_sources("minilm", "pixels")
    with pytest.raises(ValueError, match="'pixels'"):
        ArraySource(IMAGES, kind="pixels")
    # Retriever.build reads the kind off the image source; a saved index
    # keeps its rules
    r = Retriever.build(
        _manifest(IDS),
        captions=CAPTIONS,
        image_source=ArraySource(IMAGES, kind="embedder"),
    )
    assert r.settings == emb
    assert RetrievalSettings.from_dict(r.settings.to_dict()) == emb
