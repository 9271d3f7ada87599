"""Pictures and a page of a retrieval evaluation.

``retrieval_grid``: one row per query: the query image, its 5 most similar
and 5 most divergent results, each with its caption and score.
``retrieval_report_html``: the figures table of every method next to
random, and the grids, as one self-contained page.
"""

from __future__ import annotations

import html
import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mmvision.report.captions import _pyplot, _save
from mmvision.utils import write_text_atomic


def _panel(ax: Any, path: str, title: str, caption: str, colour: str) -> None:
    from PIL import Image

    ax.axis("off")
    try:
        with Image.open(path) as im:
            ax.imshow(im.convert("RGB"))
    except Exception as err:  # noqa: BLE001  (an unreadable file is drawn, not fatal)
        ax.text(0.5, 0.5, f"cannot read\n{err}", ha="center", va="center", fontsize=6)
    ax.set_title(title, fontsize=7, color=colour)
    ax.text(
        0.0, -0.04, textwrap.fill(caption, 22), transform=ax.transAxes,
        ha="left", va="top", fontsize=6,
    )  # fmt: skip


def retrieval_grid(
    rows: Sequence[Mapping[str, Any]], path: str | os.PathLike, k: int = 5
) -> Path:
    """Writes the grid PNG.

    Args:
        rows: dicts with ``image_path`` and ``caption`` of the query and
            ``similar`` / ``divergent``: lists of ``Result`` (or dicts with
            ``image_path``, ``caption``, ``score``).
        path: the PNG to write.
        k: results shown per mode.
    """
    plt = _pyplot()
    cols = 1 + 2 * k
    n = max(1, len(rows))
    fig, axes = plt.subplots(n, cols, figsize=(1.55 * cols, 2.3 * n), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for r, row in enumerate(rows):
        _panel(axes[r, 0], row["image_path"], "query", row.get("caption", ""), "k")
        for m, (mode, colour) in enumerate(
            (("similar", "tab:green"), ("divergent", "tab:red"))
        ):
            for j, res in enumerate(list(row.get(mode, []))[:k]):
                d = res if isinstance(res, Mapping) else res.to_dict()
                _panel(
                    axes[r, 1 + m * k + j], d["image_path"],
                    f"{mode} {j + 1}: {d['score']:.2f}", d["caption"], colour,
                )  # fmt: skip
    fig.tight_layout()
    return _save(fig, path)


def retrieval_report_html(
    figures: Mapping[str, Mapping[str, float]],
    grids: Sequence[str | os.PathLike],
    path: str | os.PathLike,
    title: str = "mmvision retrieval",
    notes: Sequence[str] = (),
) -> Path:
    """A page with the per-method table and the grid images (paths relative
    to the page)."""
    cols = ["similar_p5", "divergent_p5", "ranking_p10", "similar_map", "ndcg10"]
    cols.append("score_at_top30")
    head = "".join(f"<th>{c}</th>" for c in ["method", *cols])
    body = []
    for method, figs in figures.items():
        cells = "".join(
            f"<td>{figs[c]:.3f}</td>" if c in figs else "<td></td>" for c in cols
        )
        body.append(f"<tr><td>{html.escape(method)}</td>{cells}</tr>")
    out = Path(path)
    imgs = "".join(
        f'<p><img src="{html.escape(os.path.relpath(g, out.parent))}" '
        'style="max-width:100%"></p>'
        for g in grids
    )
    note = "".join(f"<p>{html.escape(n)}</p>" for n in notes)
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        "</title><style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 8px;"
        "border-bottom:1px solid #ddd;text-align:right}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{note}<table><tr>{head}</tr>{''.join(body)}"
        f"</table>{imgs}</body></html>"
    )
    write_text_atomic(out, page)
    return out
