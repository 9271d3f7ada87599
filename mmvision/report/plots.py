"""Plots and the HTML report of a run (PNG files a person would rather look at).

matplotlib runs with the Agg backend; every file is written atomically.
"""

from __future__ import annotations

import html
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmvision.utils import write_bytes_atomic, write_text_atomic


def _figure(*args, **kwargs):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt, plt.figure(*args, **kwargs)


def _save(plt, fig, path: str | os.PathLike) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    write_bytes_atomic(path, buf.getvalue())


def confusion_matrix_png(
    cm: np.ndarray, classes: Sequence[str], path: str | os.PathLike
) -> None:
    """Row-normalised confusion matrix as an image (true rows, predicted columns)."""
    cm = np.asarray(cm, np.float64)
    rows = cm.sum(1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    n = len(classes)
    plt, fig = _figure(figsize=(max(6, n * 0.22), max(5, n * 0.22)))
    ax = fig.add_subplot(111)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), classes, rotation=90, fontsize=6)
    ax.set_yticks(range(n), classes, fontsize=6)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix (row-normalised)")
    fig.colorbar(im, ax=ax, fraction=0.03)
    _save(plt, fig, path)


def tsne_png(
    embeddings: np.ndarray,
    labels: np.ndarray,
    classes: Sequence[str],
    path: str | os.PathLike,
    seed: int = 0,
    max_points: int = 2000,
    marked: np.ndarray | None = None,
    marked_label: str = "marked",
    title: str = "t-SNE of the fused embeddings",
) -> np.ndarray:
    """t-SNE of embeddings coloured by class (scikit-learn); returns the 2-D points.

    ``marked`` (a boolean row mask) circles those points in black, e.g. images
    with label noise.
    """
    from sklearn.manifold import TSNE

    emb = np.asarray(embeddings, np.float32)
    labels = np.asarray(labels)
    marked = np.zeros(len(emb), bool) if marked is None else np.asarray(marked, bool)
    if len(emb) > max_points:
        idx = np.random.default_rng(seed).choice(len(emb), max_points, replace=False)
        emb, labels, marked = emb[idx], labels[idx], marked[idx]
    perplexity = float(min(30, max(2, (len(emb) - 1) / 3)))
    pts = TSNE(2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(
        emb
    )
    plt, fig = _figure(figsize=(7, 7))
    ax = fig.add_subplot(111)
    cmap = plt.get_cmap("tab20", max(len(classes), 1))
    ax.scatter(pts[:, 0], pts[:, 1], c=labels, cmap=cmap, s=8)
    if marked.any():
        ax.scatter(pts[marked, 0], pts[marked, 1], s=40, facecolors="none",
                   edgecolors="black", linewidths=0.6,
                   label=f"{marked_label} ({int(marked.sum())})")  # fmt: skip
        ax.legend(loc="lower right", fontsize=7)
    for c in np.unique(labels):
        cx, cy = np.median(pts[labels == c], axis=0)
        ax.annotate(classes[int(c)], (cx, cy), fontsize=6, alpha=0.8)
    ax.set_title(f"{title}, {len(np.unique(labels))} classes")
    ax.set_xticks([])
    ax.set_yticks([])
    _save(plt, fig, path)
    return pts


def text_tsne_png(
    before: dict[str, np.ndarray],
    after: dict[str, np.ndarray],
    path: str | os.PathLike,
    seed: int = 0,
) -> None:
    """Two t-SNE panels of text embeddings coloured by field: before and after
    the projection head (``{field: [N, D]}`` each)."""
    from sklearn.manifold import TSNE

    plt, fig = _figure(figsize=(11, 5))
    for i, (title, embs) in enumerate(
        (("before the projection head", before), ("after the projection head", after))
    ):
        fields = list(embs)
        x = np.concatenate([embs[f] for f in fields]).astype(np.float32)
        which = np.concatenate([np.full(len(embs[f]), j) for j, f in enumerate(fields)])
        perplexity = float(min(30, max(2, (len(x) - 1) / 3)))
        pts = TSNE(2, perplexity=perplexity, random_state=seed, init="pca")
        pts = pts.fit_transform(x)
        ax = fig.add_subplot(1, 2, i + 1)
        for j, f in enumerate(fields):
            ax.scatter(pts[which == j, 0], pts[which == j, 1], s=6, label=f)
        ax.set_title(f"text embeddings {title}")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend()
    _save(plt, fig, path)


def learning_curves_png(
    history_csv: str | os.PathLike, path: str | os.PathLike
) -> None:
    """Loss and accuracy per epoch from a Keras CSVLogger file."""
    import pandas as pd

    hist = pd.read_csv(history_csv)
    pairs = [(k, f"val_{k}") for k in hist.columns if f"val_{k}" in hist.columns]
    plt, fig = _figure(figsize=(5 * max(1, len(pairs)), 4))
    for i, (k, vk) in enumerate(pairs):
        ax = fig.add_subplot(1, len(pairs), i + 1)
        ax.plot(hist["epoch"] + 1, hist[k], label="train")
        ax.plot(hist["epoch"] + 1, hist[vk], label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(k)
        ax.legend()
    _save(plt, fig, path)


def classifier_report_html(
    run: str | os.PathLike,
    results: dict[str, Any],
    robustness: dict[str, float],
    classes: Sequence[str],
    per_class: np.ndarray,
    field_robustness: dict[str, Any] | None = None,
) -> None:
    """``report.html`` linking the plots of a classifier run."""
    run = Path(run)
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v:.4f}</td></tr>"
        for k, v in results.items()
        if isinstance(v, float)
    )
    rob = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v:.4f}</td></tr>"
        for k, v in robustness.items()
    )
    fields = field_robustness or {}
    frob = "".join(
        f"<tr><td>{'nothing' if k == 'none' else html.escape(k)}</td>"
        f"<td>{v:.4f}</td></tr>"
        for k, v in fields.items()
        if k != "classes"
    )
    if frob:
        frob = (
            f"<h2>One input removed, classes {fields.get('classes')} (top-1)</h2>"
            f"<table><tr><th>removed</th><th>top-1</th></tr>{frob}</table>"
        )
    pcs = "".join(
        f"<tr><td>{html.escape(c)}</td>"
        f"<td>{'' if np.isnan(a) else f'{a:.3f}'}</td></tr>"
        for c, a in zip(classes, per_class)
    )
    imgs = "".join(
        f'<h2>{name}</h2><img src="{name}" style="max-width:100%">'
        for name in (
            "learning_curves.png",
            "confusion_matrix.png",
            "tsne.png",
            "text_tsne.png",
        )
        if (run / name).exists()
    )
    write_text_atomic(
        run / "report.html",
        "<!doctype html><html><head><meta charset='utf-8'><title>mmvision run</title>"
        "</head><body><h1>Classifier run</h1>"
        f"<table>{rows}</table><h2>Robustness (top-1)</h2><table>{rob}</table>{frob}"
        f"{imgs}<h2>Per-class accuracy</h2><table>{pcs}</table></body></html>\n",
    )
