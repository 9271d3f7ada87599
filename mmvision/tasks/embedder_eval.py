"""Figures of an image embedder: triplet accuracy, retrieval mAP / P@5 / R@5.

Pure numpy over the embeddings of one split (``embed_split`` computes them
with the saved image -> unit vector model).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mmvision.metrics.embedding import query_scores, triplet_accuracy


def fixed_triplets(labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``[m, 3]`` row triplets (anchor, positive, negative), the same every call.

    Anchors come from classes with 2+ rows; ``m`` is ``n`` or 0 when no
    class has two rows or there is a single class.
    """
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    ok = np.isin(labels, classes[counts >= 2])
    if not ok.any() or len(classes) < 2 or n < 1:
        return np.zeros((0, 3), np.int64)
    rng = np.random.default_rng(seed)
    anchors = rng.choice(np.flatnonzero(ok), size=int(n))
    out = []
    for a in anchors:
        same = np.flatnonzero((labels == labels[a]) & (np.arange(len(labels)) != a))
        other = np.flatnonzero(labels != labels[a])
        out.append((a, rng.choice(same), rng.choice(other)))
    return np.asarray(out, np.int64)


def embed_split(model: Any, df, image_size: int, batch_size: int) -> np.ndarray:
    """Embeddings ``[n, dim]`` of the rows of ``df`` (in order)."""
    from mmvision.data import pipelines

    ds = pipelines.classification_dataset(
        df, image_size=image_size, batch_size=batch_size, fields=("image",),
        label_mode="none", shuffle=False,
    )  # fmt: skip
    parts = [np.asarray(model(x, training=False)) for x in ds]
    return np.concatenate(parts) if parts else np.zeros((0, 1), np.float32)


def split_figures(
    model, df, cfg, seed: int
) -> tuple[dict[str, float], np.ndarray, dict]:
    """``({triplet_acc, map, p5, recall5, auc}, embeddings, roc)`` of one
    split (``roc``: ``metrics.embedding.distance_roc``, for the plots)."""
    from mmvision.metrics.embedding import distance_roc

    d = cfg.data
    emb = embed_split(model, df, d.image_size, d.eval_batch_size)
    if len(emb) != len(df):
        raise ValueError(f"{len(df) - len(emb)} images of the split could not be read")
    labels = df["label"].to_numpy()
    trips = fixed_triplets(labels, d.val_triplets, seed)
    figs = {"triplet_acc": triplet_accuracy(emb, trips)} | query_scores(emb, labels, 5)
    roc = distance_roc(emb, labels)
    figs["auc"] = roc["auc"]
    return figs, emb, roc


def _grid_rows(df, emb, classes, n_queries: int = 6, k: int = 5) -> list[dict]:
    """The first ``n_queries`` rows of ``df`` (one per class where possible)
    with their ``k`` nearest and ``k`` farthest rows (distance as score)."""
    from mmvision.metrics.embedding import pairwise_distances

    dist = pairwise_distances(emb)
    labels = df["label"].to_numpy()
    _, first = np.unique(labels, return_index=True)
    queries = list(np.sort(first)[:n_queries])
    rows = []
    for q in queries:
        order = [j for j in np.argsort(dist[q], kind="stable") if j != q]

        def item(j, q=q):
            return {
                "image_path": df["image_path"].iloc[j],
                "caption": classes[labels[j]],
                "score": float(dist[q, j]),
            }

        rows.append({
            "image_path": df["image_path"].iloc[q], "caption": classes[labels[q]],
            "similar": [item(j) for j in order[:k]],
            "divergent": [item(j) for j in order[::-1][:k]],
        })  # fmt: skip
    return rows


def write_report(
    run, data, embs: dict, rocs: dict, figures: dict, seed: int = 0
) -> None:
    """The plots and ``report.html`` of an embedder run.

    ``embs`` and ``rocs`` map split names to their embeddings (rows of
    ``data.split(name)``) and ``distance_roc``; the plots show the test
    split and, when classes were held out, the ``unseen`` split beside it.
    (``learning_curves.png`` is the training loop's.)
    """
    from pathlib import Path

    from mmvision.report import embedding as rep
    from mmvision.report import plots
    from mmvision.report.retrieval import retrieval_grid

    run = Path(run)
    shown = {s: e for s, e in embs.items() if s in ("test", "unseen") and len(e)}
    if not shown:
        shown = {s: e for s, e in embs.items() if len(e)}
    labels = {s: data.split(s)["label"].to_numpy() for s in shown}
    rep.distance_histograms_png(
        {s: (rocs[s]["positive"], rocs[s]["negative"]) for s in shown},
        run / "distances.png",
    )
    rep.roc_png({s: rocs[s] for s in shown}, run / "roc.png")
    emb = np.concatenate(list(shown.values()))
    lab = np.concatenate(list(labels.values()))
    unseen = np.concatenate([np.full(len(e), s == "unseen") for s, e in shown.items()])
    plots.tsne_png(
        emb, lab, data.classes, run / "tsne.png", seed=seed, marked=unseen,
        marked_label="held-out classes", title="t-SNE of the embeddings",
    )  # fmt: skip
    first = next(iter(shown))
    retrieval_grid(
        _grid_rows(data.split(first), shown[first], data.classes),
        run / "neighbours.png",
    )
    rep.embedder_report_html(
        run, figures,
        notes=[f"Grid: {first} split, 5 nearest (similar) and 5 farthest "
               "(divergent) images of a query by Euclidean distance."],
    )  # fmt: skip
