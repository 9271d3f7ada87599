"""Plots and the page of an embedder run: positive / negative distance
histograms, the ROC of a distance threshold, and ``report.html``.

(The t-SNE, learning curves and the 5-nearest / 5-farthest grid reuse
``report.plots`` and ``report.retrieval``.)
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmvision.report.plots import _figure, _save
from mmvision.utils import write_text_atomic


def distance_histograms_png(
    pairs: Mapping[str, tuple[np.ndarray, np.ndarray]], path: str | os.PathLike
) -> None:
    """One panel per split: histograms of positive and negative pair distances.

    Args:
        pairs: ``{split: (positive distances, negative distances)}``.
    """
    n = max(1, len(pairs))
    plt, fig = _figure(figsize=(5 * n, 3.6))
    for i, (split, (pos, neg)) in enumerate(pairs.items()):
        ax = fig.add_subplot(1, n, i + 1)
        hi = float(max(np.max(pos, initial=0), np.max(neg, initial=0), 1e-6))
        bins = np.linspace(0.0, hi, 40)
        ax.hist(neg, bins=bins, density=True, alpha=0.6, label=f"negative ({len(neg)})")
        ax.hist(pos, bins=bins, density=True, alpha=0.6, label=f"positive ({len(pos)})")
        ax.set_xlabel("Euclidean distance")
        ax.set_title(f"{split}: pair distances")
        ax.legend(fontsize=8)
    _save(plt, fig, path)


def roc_png(rocs: Mapping[str, Mapping[str, Any]], path: str | os.PathLike) -> None:
    """ROC curves of "same class below a distance threshold", one per split."""
    plt, fig = _figure(figsize=(4.5, 4.5))
    ax = fig.add_subplot(111)
    for split, roc in rocs.items():
        if len(roc["fpr"]):
            ax.plot(roc["fpr"], roc["tpr"], label=f"{split} (AUC {roc['auc']:.3f})")
    ax.plot([0, 1], [0, 1], "k:", linewidth=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("pair verification by distance")
    ax.legend(loc="lower right", fontsize=8)
    _save(plt, fig, path)


IMAGES = (
    "learning_curves.png",
    "distances.png",
    "roc.png",
    "tsne.png",
    "neighbours.png",
)


def embedder_report_html(
    run: str | os.PathLike, figures: Mapping[str, Any], notes: Sequence[str] = ()
) -> Path:
    """``report.html`` of an embedder run: its figures and plots."""
    run = Path(run)
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v:.4f}</td></tr>"
        for k, v in figures.items()
        if isinstance(v, float)
    )
    imgs = "".join(
        f'<h2>{name[:-4].replace("_", " ")}</h2><img src="{name}" '
        'style="max-width:100%">'
        for name in IMAGES
        if (run / name).exists()
    )
    note = "".join(f"<p>{html.escape(n)}</p>" for n in notes)
    out = run / "report.html"
    write_text_atomic(
        out,
        "<!doctype html><html><head><meta charset='utf-8'><title>mmvision embedder"
        "</title><style>body{font-family:sans-serif;margin:2em}td{padding:3px 8px}"
        "</style></head><body><h1>Embedder run</h1>"
        f"{note}<table>{rows}</table>{imgs}</body></html>\n",
    )
    return out
