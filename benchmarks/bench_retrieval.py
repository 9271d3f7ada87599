"""Retrieval on the demo world: quality of every method, query speed, ANN indexes.

One run (default: the full demo profile, 6,000 images at 64 px, seed 0):

1. A captioner run: ``--captioner RUN --world DIR`` (e.g. the run and world
   of ``bench_captioning.py``), else the demo's own models, trained through
   the library (``mmvision.demo.Demo``): the world, the caption-word image
   tower, the captioner on its features (finished runs in ``--work`` are
   reused when their config matches).
2. Quality: the train+val images are the gallery, **captioned by the
   captioner** (generated captions, never the references); the test images
   are the queries, captioned the same way. Relevance from the ground truth:
   similar = same primary shape and colour, divergent = exactly one of the
   two shared. Methods: caption cosine with ``tfidf`` and ``minilm``, the
   BLEU scorer, the captioner tower's image vectors, combined (caption +
   image), and random; with ``--embedder RUN`` (or ``--train-embedder``)
   also an embedder run's image vectors alone and combined with minilm
   (``--embedder-images N``: trained on a separate world of N images from
   the same generator, the next seed; ``--embedder-set KEY=VALUE``: its
   config overrides).
   Per method: similar precision@5 of what ``query`` returns (thresholds
   apply), divergent precision@5, ranking precision@10, mAP, nDCG@10,
   score at top 30. Also the mean cosine (minilm) between generated and
   reference captions of the test images.
3. Query speed over 100,000 captions (MiniLM vectors of the world's
   reference captions, tiled): one query against every caption, the
   reference's per-caption Python loop vs the vectorised exact index.
4. ANN: exact vs FAISS (flat, IVF, HNSW) and hnswlib on 1,000,000 x 384
   clustered unit vectors: queries/s, recall@10, build seconds, bytes per
   vector; and the exact search's peak memory (tracemalloc).

Targets: best similar precision@5 >= 0.90, best divergent precision@5 >=
0.60, vectorised_speedup >= 50, an ANN backend >= 5x exact at recall@10 >=
0.95. ``--quick``: the demo's quick profile (2,400 images at 32 px),
20,000 captions and 100,000 ANN vectors; results to a temporary file unless
``--out`` is given.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from _ann import clustered_vectors, compare_backends, exact_peak_mb, query_vectors
from _common import merge_results, parser, print_table, write_results

from mmvision.demo import Demo
from mmvision.retrieval import Retriever, evaluation
from mmvision.retrieval.index import VectorIndex
from mmvision.retrieval.sources import CaptionSource, ImageSource
from mmvision.retrieval.world_report import evaluate_on_world, world_queries


def train_embedder(
    world: Path,
    out: Path,
    quick: bool,
    images: int = 0,
    overrides: list[str] | None = None,
) -> Path:
    """``demo_embedder`` on ``world``'s canonical split (``data.split_file``:
    the queries, its test images, are never trained on); a finished run in
    ``out`` is reused.

    ``images > 0``: train instead on a separate world of that many images
    from the same generator with the next seed (rendered once in
    ``embedder_world_<images>`` beside ``out``): none of its images are in
    ``world``.
    ``overrides``: more ``KEY=VALUE`` config overrides (applied last).
    """
    from mmvision import configs
    from mmvision.datasets import shapes
    from mmvision.training import fit_task, run_dir

    if (out / run_dir.MODEL).is_file():
        return out
    info = shapes.load_world_info(world)
    size = int(info["size"])
    if images > 0:
        own, seed = out.parent / f"embedder_world_{images}", int(info["seed"]) + 1
        if not (own / "world.json").is_file():
            print(f"rendering the embedder's world ({images} images, {size} px, "
                  f"seed {seed}) ...", flush=True)  # fmt: skip
            shapes.generate(own, n_images=images, size=size, seed=seed)
        world = own
    cfg = configs.apply_overrides(
        configs.get_preset("embedder", "demo_embedder"),
        [f"data.image_size={size}", f"train.epochs={2 if quick else 25}",
         "train.verbose=0", "data.split_file=ground_truth.jsonl", *(overrides or [])],
    )  # fmt: skip
    m = fit_task("embedder", cfg, world, out)
    print(f"embedder: test triplet acc {m['test_triplet_acc']:.3f}, "
          f"test P@5 {m['test_p5']:.3f}")  # fmt: skip
    return out


def quality(
    work: Path,
    quick: bool,
    cap_run: Path | None,
    world: Path | None,
    embedder: Path | None = None,
) -> tuple[dict, dict]:
    if cap_run is None:
        demo = Demo(work, "quick" if quick else "full", None, 0)
        demo.out.mkdir(parents=True, exist_ok=True)
        demo.make_world()
        cap_run, world = demo.captioner(demo.caption_words()), demo.world
    queries, truth = world_queries(world)
    from mmvision.data.caption_data import read_caption_manifest

    manifest, _, _ = read_caption_manifest(world)
    gallery = manifest[manifest["split"].isin(["train", "val"])].reset_index(drop=True)
    cap = CaptionSource(cap_run, beam=3)
    img = ImageSource("captioner", cap)
    t0 = time.perf_counter()
    r_tfidf = Retriever.build(gallery, captioner=cap, encoder="tfidf", image_source=img)
    build_s = time.perf_counter() - t0
    r_minilm = Retriever.build(
        gallery, captioner=cap, captions=r_tfidf.captions, encoder="minilm",
        image_source=img,
    )  # fmt: skip
    print(f"gallery: {len(r_tfidf)} images captioned and indexed in {build_s:.0f} s")
    figures = evaluate_on_world(
        r_tfidf, world, work / "retrieval_tfidf",
        methods=["caption", "bleu", "image", "combined", "random"],
        method_names={"caption": "caption_tfidf", "combined": "combined_tfidf"},
    )  # fmt: skip
    figures.update(
        evaluate_on_world(
            r_minilm,
            world,
            work / "retrieval_minilm",
            methods=["caption", "combined"],
            method_names={"caption": "caption_minilm", "combined": "combined_minilm"},
        )  # fmt: skip
    )
    if embedder is not None:  # an embedder run's image vectors
        r_emb = Retriever.build(
            gallery, captioner=cap, captions=r_tfidf.captions, encoder="minilm",
            image_source=ImageSource(str(embedder)),
        )  # fmt: skip
        figures.update(
            evaluate_on_world(
                r_emb,
                world,
                work / "retrieval_embedder",
                methods=["image", "combined"],
                method_names={
                    "image": "image_embedder",
                    "combined": "combined_minilm_embedder",
                },
            )  # fmt: skip
        )
    resolved = evaluation.resolve_manifest(r_minilm, queries)
    refs = dict(zip(queries["id"], queries["captions"]))
    gen_ref = evaluation.generated_vs_reference(
        {i: q.caption for i, q in resolved.items()}, refs, r_minilm.encoder
    )
    extra = {"generated_vs_reference_cosine": gen_ref, "gallery_build_s": build_s}
    extra["report"] = str(work / "retrieval_tfidf" / "report.html")
    return figures, {**extra, "encoder": r_minilm.encoder, "world": world}


def loop_speed(encoder, world: Path, n: int, n_queries: int = 5) -> dict:
    """One query against ``n`` captions: the per-caption loop vs vectorised."""
    from mmvision.data.caption_data import read_caption_manifest

    manifest, _, _ = read_caption_manifest(world)
    texts = sorted({c for caps in manifest["captions"] for c in caps})
    vecs = encoder.encode(texts)
    db = np.resize(vecs, (n, vecs.shape[1])).astype(np.float32)
    ids = [f"c{i}" for i in range(n)]
    index = VectorIndex(db.shape[1])
    index.add(ids, db)
    qs = encoder.encode(texts[:n_queries])

    def loop(q):  # the reference: cosine caption by caption, in Python
        out = []
        for j, v in enumerate(db):
            cos = float(np.dot(q, v) / (np.linalg.norm(q) * np.linalg.norm(v)))
            if cos >= 0.9:
                out.append((ids[j], cos))
        return out

    t0 = time.perf_counter()
    slow = [loop(q) for q in qs]
    loop_s = (time.perf_counter() - t0) / len(qs)
    t0 = time.perf_counter()
    fast = []
    for q in qs:
        s = index.scores(q)
        keep = np.flatnonzero(s >= 0.9)
        fast.append([(ids[j], float(s[j])) for j in keep])
    vec_s = (time.perf_counter() - t0) / len(qs)
    same = all({a for a, _ in x} == {a for a, _ in y} for x, y in zip(slow, fast))
    return {
        "captions": n,
        "loop_query_s": loop_s,
        "vectorised_query_s": vec_s,
        "vectorised_speedup": loop_s / vec_s,
        "loop_and_vectorised_agree": int(same),
    }


def ann(n: int, n_queries: int) -> tuple[dict, list]:
    base = clustered_vectors(n, 384, seed=0)
    queries = query_vectors(base, n_queries, seed=1)
    rows = compare_backends(base, queries, k=10)
    out = {}
    for r in rows:
        for key in ("build_s", "queries_per_s", "recall10", "bytes_per_vector"):
            out[f"{r['name'].replace('-', '_')}_{key}"] = r[key]
    exact = next(r for r in rows if r["name"] == "exact")
    good = [r for r in rows if r["name"] != "exact" and r["recall10"] >= 0.95]
    best = max(good or rows[1:], key=lambda r: r["queries_per_s"])
    out.update(
        ann_backend=best["name"],
        ann_speedup=best["queries_per_s"] / exact["queries_per_s"],
        ann_recall10=best["recall10"],
        exact_peak_mb=exact_peak_mb(base, queries, k=10),
        ann_vectors=n,
        full_score_matrix_mb=n_queries * n * 4 / 2**20,
    )
    return out, rows


def main() -> None:
    p = parser("bench_retrieval", __doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--work", default=None, help="working directory (reused)")
    p.add_argument(
        "--captioner", type=Path,
        help="a finished captioner run to use (with --world) instead of training "
        "the demo's (e.g. bench_captioning.py's run_captioner)",
    )  # fmt: skip
    p.add_argument(
        "--world", type=Path, help="the demo world --captioner was trained on"
    )
    p.add_argument(
        "--embedder", type=Path,
        help="an embedder run whose image vectors add the methods image_embedder "
        "and combined_minilm_embedder (it must not have trained on the world's "
        "test images: train it with data.split_file=WORLD/ground_truth.jsonl)",
    )  # fmt: skip
    p.add_argument(
        "--train-embedder", action="store_true",
        help="train demo_embedder on the world's canonical split for --embedder "
        "(in WORK/embedder; reused when finished)",
    )  # fmt: skip
    p.add_argument(
        "--embedder-images", type=int, default=0,
        help="with --train-embedder: train it on a separate world of this many "
        "images (same generator, the next seed) instead of the world's own "
        "train split",
    )  # fmt: skip
    p.add_argument(
        "--embedder-set", action="append", default=[], metavar="KEY=VALUE",
        help="with --train-embedder: a config override of its run, e.g. "
        "train.epochs=40 (repeatable)",
    )  # fmt: skip
    p.add_argument(
        "--quality-only", action="store_true",
        help="measure the retrieval quality only (no query speed, no ANN) and "
        "merge its figures into --out",
    )  # fmt: skip
    args = p.parse_args()
    quick = args.quick
    work = Path(
        args.work
        or Path(tempfile.gettempdir())
        / ("mmvision_bench_retrieval_quick" if quick else "mmvision_bench_retrieval")
    )
    if quick and args.out == p.get_default("out"):
        args.out = str(Path(tempfile.mkdtemp()) / "bench_retrieval.json")
    if (args.captioner is None) != (args.world is None):
        p.error("--captioner and --world go together")
    embedder = args.embedder
    if args.train_embedder and embedder is None:
        if args.world is None:
            p.error("--train-embedder needs --captioner and --world")
        n = args.embedder_images
        name = f"embedder_{n}" if n else "embedder"
        if args.embedder_set:  # a run per config: a finished run is reused
            import hashlib

            tag = hashlib.sha1("\n".join(args.embedder_set).encode()).hexdigest()[:8]
            name += f"_{tag}"
        embedder = train_embedder(args.world, work / name, quick, n, args.embedder_set)
    figures, extra = quality(work, quick, args.captioner, args.world, embedder)
    methods = [m for m in figures if m != "random"]
    best_sim = max(methods, key=lambda m: figures[m]["similar_p5"])
    best_div = max(methods, key=lambda m: figures[m]["divergent_p5"])
    res = {
        "similar_p5": figures[best_sim]["similar_p5"],
        "divergent_p5": figures[best_div]["divergent_p5"],
        "best_similar_method": best_sim,
        "best_divergent_method": best_div,
        "random_similar_p5": figures["random"]["similar_p5"],
        "random_divergent_p5": figures["random"]["divergent_p5"],
        "similar_map": figures[best_sim]["similar_map"],
        "score_at_top30": figures[best_sim]["score_at_top30"],
        "generated_vs_reference_cosine": extra["generated_vs_reference_cosine"],
    }
    for m, f in figures.items():
        for key in ("similar_p5", "divergent_p5", "ranking_p10", "similar_map"):
            res[f"{m}_{key}"] = f[key]
        res[f"{m}_ndcg10"] = f["ndcg10"]
        res[f"{m}_score_at_top30"] = f["score_at_top30"]
    cols = ("similar_p5", "divergent_p5", "ranking_p10", "similar_map", "ndcg10")
    rows = [
        (m, "  ".join(f"{k} {f[k]:.3f}" for k in cols)
         + f"  top30 {f['score_at_top30']:.1f}")
        for m, f in figures.items()
    ]  # fmt: skip
    print_table(f"retrieval quality ({figures['random']['queries']} queries)", rows)
    if args.quality_only:  # keep the speed and ANN figures of the last full run
        merge_results(args.out, res)
        return
    speed = loop_speed(extra["encoder"], extra["world"], 20_000 if quick else 100_000)
    res.update(speed)
    ann_figs, ann_rows = ann(100_000 if quick else 1_000_000, 200 if quick else 1000)
    res.update(ann_figs)
    print_table(
        "search speed",
        [
            (f"caption query over {speed['captions']:,}",
             f"loop {speed['loop_query_s'] * 1e3:.1f} ms, vectorised "
             f"{speed['vectorised_query_s'] * 1e3:.2f} ms: "
             f"{speed['vectorised_speedup']:.0f}x"),
            *[(f"{r['name']} ({ann_figs['ann_vectors']:,} x 384)",
               f"{r['queries_per_s']:.0f} q/s, recall@10 {r['recall10']:.3f}, "
               f"build {r['build_s']:.1f} s, {r['bytes_per_vector']:.0f} B/vector")
              for r in ann_rows],
            ("ANN speed-up at recall@10 >= 0.95",
             f"{ann_figs['ann_speedup']:.1f}x ({ann_figs['ann_backend']}, "
             f"recall {ann_figs['ann_recall10']:.3f})"),
            ("exact search peak memory",
             f"{ann_figs['exact_peak_mb']:.0f} MB (the full score matrix would be "
             f"{ann_figs['full_score_matrix_mb']:.0f} MB)"),
        ],
    )  # fmt: skip
    print(f"generated vs reference caption cosine (minilm): "
          f"{res['generated_vs_reference_cosine']:.3f}")  # fmt: skip
    print(f"report: {extra['report']}")
    write_results(args.out, res)


if __name__ == "__main__":
    main()
