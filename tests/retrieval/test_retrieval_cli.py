"""Retrieval end to end on the demo world with a smoke captioner run: the
``index build|add``, ``search`` and ``evaluate`` commands, image queries
(generated captions), an undecodable query image, a history file."""

from __future__ import annotations

import json

import pytest

from mmvision import configs
from mmvision.cli import main
from mmvision.retrieval import Query, Retriever
from mmvision.training import fit_task

pytestmark = pytest.mark.large


@pytest.fixture(scope="module")
def cap_run(demo_world, tmp_path_factory):
    out = tmp_path_factory.mktemp("retrieval") / "cap"
    cfg = configs.apply_overrides(
        configs.get_preset("captioner", "demo_captioner_smoke"),
        [f"features.cache_dir={out.parent / 'cache'}"],
    )
    fit_task("captioner", cfg, demo_world, out)
    return out


@pytest.fixture(scope="module")
def index(cap_run, demo_world, tmp_path_factory):
    out = tmp_path_factory.mktemp("index") / "gallery"
    rc = main(["index", "build", "--captioner", str(cap_run), "--data",
               str(demo_world), "--splits", "train", "--out", str(out),
               "--image-vectors"])  # fmt: skip
    assert rc == 0
    return out


def _image(world, split="test"):
    from mmvision.datasets import shapes

    row = next(g for g in shapes.load_ground_truth(world) if g["split"] == split)
    return world / "flickr8k" / "Flicker8k_Dataset" / f"{row['id']}.jpg"


def test_build_indexes_generated_captions(index, cap_run, demo_world):
    header = json.loads((index / "retriever.json").read_text())
    assert header["captioner"] == str(cap_run.resolve())
    assert header["image_source"]["spec"] == "captioner"
    r = Retriever.load(index)
    assert len(r) > 0
    # the stored captions are what the run generates for those images
    from mmvision.data.caption_data import read_caption_manifest
    from mmvision.retrieval.sources import CaptionSource

    m, _, _ = read_caption_manifest(demo_world)
    some = m[m["id"].isin(r.ids[:10])]
    generated = CaptionSource(cap_run, beam=3).caption_manifest(some)
    assert generated == {i: r.captions[i] for i in some["id"]}
    assert all(r.paths[i].endswith(f"{i}.jpg") for i in r.ids)


def test_search_by_image_text_id_and_json(index, demo_world, capsys):
    img = _image(demo_world)
    assert main(["search", str(index), "--image", str(img), "-k", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mode"] == "similar" and out["method"] == "combined"
    assert 1 <= len(out["results"]) <= 3 and out["query_caption"]
    r = Retriever.load(index)
    direct = r.query(Query(image=str(img)), k=3)
    assert [x["id"] for x in out["results"]] == direct.ids
    first = r.ids[0]
    assert main(["search", str(index), "--id", first, "--mode", "divergent"]) == 0
    table = capsys.readouterr().out
    assert "rank" in table and first not in table.split("\n", 2)[2]


def test_search_errors(index, tmp_path, capsys):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    assert main(["search", str(index), "--image", str(bad)]) == 2
    assert "broken.jpg" in capsys.readouterr().err
    assert main(["search", str(index), "--text", "  "]) == 2
    assert "empty query text" in capsys.readouterr().err
    hist = tmp_path / "seen.txt"
    ids = Retriever.load(index, load_models=False).ids
    hist.write_text(f"{ids[0]}\nghost-1\nghost-2\n")
    rc = main(["search", str(index), "--text", "a red circle", "--history",
               str(hist), "-k", "100000"])  # fmt: skip
    assert rc == 0
    cap = capsys.readouterr()
    assert "2 unknown id(s) ignored: ghost-1, ghost-2" in cap.err
    assert "returning all" in cap.out


def test_add_then_evaluate(index, demo_world, capsys):
    before = len(Retriever.load(index, load_models=False))
    assert main(["index", "add", str(index), "--data", str(demo_world),
                 "--splits", "val"]) == 0  # fmt: skip
    r = Retriever.load(index, load_models=False)
    assert len(r) > before
    assert main(["evaluate", str(index), "--data", str(demo_world)]) == 0
    out = capsys.readouterr().out
    assert "random_similar_p5" in out and "combined_divergent_p5" in out
    metrics = json.loads((index / "metrics.json").read_text())
    for m in ("caption", "bleu", "image", "combined", "random"):
        assert 0.0 <= metrics[f"{m}_similar_p5"] <= 1.0
    assert (index / "retrieval_grid.png").stat().st_size > 1000
    assert "retrieval_grid.png" in (index / "report.html").read_text()


def test_embedder_run_and_minilm_encoder(cap_run, demo_world, tmp_path, capsys):
    # another image source than the captioner's: a tower by name, at the
    # captioner run's image size
    tower = "small_cnn"
    out = tmp_path / "minilm"
    assert main(["index", "build", "--captioner", str(cap_run), "--data",
                 str(demo_world), "--splits", "val", "--out", str(out),
                 "--encoder", "minilm", "--embedder", str(tower),
                 "--backend", "hnswlib"]) == 0  # fmt: skip
    header = json.loads((out / "retriever.json").read_text())
    assert header["encoder"] == "minilm"
    assert header["image_source"]["spec"] == "small_cnn"
    assert header["image_source"]["image_size"] == 32
    # a randomly initialised tower gets new weights when rebuilt: the stored
    # fingerprint refuses it, naming the header
    with pytest.raises(ValueError, match="retriever.json.*fingerprint"):
        Retriever.load(out)
    r = Retriever.load(out, load_models=False)
    res = r.query(Query(id=r.ids[0]), k=4)
    assert res.method == "combined" and len(res) == 4
    exact = Retriever.load(out, load_models=False)
    from mmvision.retrieval.index import VectorIndex

    exact.caption_index = VectorIndex(384)
    exact.caption_index.add(r.ids, r.caption_index.vectors())
    q = Query(text="a blue square on a striped background")
    r.settings = exact.settings = r.settings.replace("caption", threshold=None)
    # the smoke captioner repeats captions: compare scores (ties may reorder)
    got, want = r.query(q, k=5), exact.query(q, k=5)
    assert [x.score for x in got.results] == pytest.approx(
        [x.score for x in want.results], abs=1e-5
    )
