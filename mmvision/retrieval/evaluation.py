"""Retrieval quality on a world with ground truth (the demo world).

Queries are the test split's images, captioned by the index's captioner run
(generated captions, never the references); the database is the index.
Relevance from the ground truth's *primary* object (the class):

- similar: same primary shape **and** colour;
- divergent: exactly one of primary shape or primary colour shared;
- graded (score at top 30): 2 = both, 1 = exactly one, 0 = neither.

Per method: precision@5/@10, mAP and nDCG@10 of the full similarity ranking,
similar precision@5 of what ``query`` returns (its threshold applies),
divergent precision@5, and Wang et al.'s score at top 30. ``random`` ranks
at random.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mmvision.retrieval.query import ResolvedQuery


def attributes(label_names: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """``{id: (colour, shape)}`` from class names like ``"red circle"``."""
    out = {}
    for i, name in label_names.items():
        colour, _, shape = str(name).partition(" ")
        out[i] = (colour, shape)
    return out


def graded_relevance(query: tuple[str, str], db: Sequence[tuple[str, str]]):
    """``[N]`` grades of the database items for one query (2 / 1 / 0)."""
    colour = np.array([d[0] == query[0] for d in db])
    shape = np.array([d[1] == query[1] for d in db])
    return colour.astype(int) + shape.astype(int)


def resolve_manifest(retriever: Any, manifest: Any) -> dict[str, ResolvedQuery]:
    """Image queries of ``manifest`` resolved in batches: generated captions,
    caption vectors and (when the index has them) image vectors."""
    cap_src = retriever.captioner
    if cap_src is None:
        raise ValueError("evaluating needs an index with a captioner run")
    feats = cap_src.manifest_features(manifest)
    captions = cap_src.caption_manifest(manifest, feats)
    img = None
    if retriever.image_source is not None:
        img = retriever.image_source.embed_manifest(manifest, feats)
    ids = [i for i in manifest["id"] if i in captions and (img is None or i in img)]
    vecs = retriever.encoder.encode([captions[i] for i in ids])
    return {
        i: ResolvedQuery(captions[i], v, None if img is None else img[i])
        for i, v in zip(ids, vecs)
    }


def evaluate_method(
    retriever: Any,
    queries: Mapping[str, ResolvedQuery],
    attrs: Mapping[str, tuple[str, str]],
    method: str,
    k: int = 5,
    seed: int = 0,
) -> dict[str, float]:
    """Figures of one method (``"random"`` for the random baseline)."""
    from mmvision.metrics import retrieval as rm

    db_ids = retriever.ids
    db = [attrs[i] for i in db_ids]
    pos = {i: n for n, i in enumerate(db_ids)}
    rng = np.random.default_rng(seed)
    ranked, n_rel, sim_p5, div_p5, top30 = [], [], [], [], []
    for qid, rq in queries.items():
        grade = graded_relevance(attrs[qid], db)
        if method == "random":
            score = rng.random(len(db_ids))
            sim_ids = [db_ids[j] for j in np.argsort(-score)[:k]]
            div_ids = [db_ids[j] for j in rng.permutation(len(db_ids))[:k]]
        else:
            scored = retriever.scores(rq, method)  # once for both modes
            score = scored[0]
            sim_ids = retriever.query(rq, "similar", k, method, scores=scored).ids
            div_ids = retriever.query(rq, "divergent", k, method, scores=scored).ids
        order = np.argsort(-score, kind="stable")
        ranked.append(grade[order] == 2)
        n_rel.append(int((grade == 2).sum()))
        sim_p5.append(rm.precision_at_k([grade[pos[i]] == 2 for i in sim_ids], k))
        div_p5.append(rm.precision_at_k([grade[pos[i]] == 1 for i in div_ids], k))
        top30.append(rm.score_at_top_k(score, grade, 30))
    rep = rm.ranking_report(ranked, n_rel, ks=(5, 10))
    return {
        "similar_p5": float(np.mean(sim_p5)),
        "divergent_p5": float(np.mean(div_p5)),
        "ranking_p5": rep["p5"],
        "ranking_p10": rep["p10"],
        "similar_map": rep["map"],
        "ndcg10": rep["ndcg10"],
        "score_at_top30": float(np.mean(top30)),
        "queries": len(queries),
    }


def generated_vs_reference(
    generated: Mapping[str, str],
    references: Mapping[str, Sequence[str]],
    encoder: Any,
) -> float:
    """Mean cosine between each generated caption and its image's reference
    captions (averaged over the references, then the images)."""
    ids = [i for i in generated if references.get(i)]
    if not ids:
        raise ValueError("no generated caption has reference captions")
    gen = encoder.encode([generated[i] for i in ids])
    sims = []
    for i, g in zip(ids, gen):
        refs = encoder.encode(list(references[i]))
        sims.append(float((refs @ g).mean()))
    return float(np.mean(sims))


def evaluate(
    retriever: Any,
    manifest: Any,
    label_names: Mapping[str, str],
    methods: Sequence[str] | None = None,
    k: int = 5,
) -> dict[str, dict[str, float]]:
    """``{method: figures}`` for the image queries of ``manifest`` against the
    index, relevance from ``label_names`` (``{id: "colour shape"}``) of the
    queries and the database items. ``methods`` defaults to every method the
    index supports, plus ``random``."""
    if methods is None:
        methods = ["caption", "bleu"]
        if retriever.image_index is not None:
            methods += ["image", "combined"]
        methods.append("random")
    queries = resolve_manifest(retriever, manifest)
    attrs = attributes(label_names)
    missing = [i for i in [*queries, *retriever.ids] if i not in attrs]
    if missing:
        raise ValueError(
            f"{len(missing)} ids have no ground-truth label, e.g. {missing[:3]}"
        )
    return {m: evaluate_method(retriever, queries, attrs, m, k) for m in methods}
