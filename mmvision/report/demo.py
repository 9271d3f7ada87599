"""The demo's ``report.html``: one summary table and links to every run's plots."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from mmvision.utils import write_text_atomic

_PLOTS = (
    "learning_curves.png",
    "confusion_matrix.png",
    "tsne.png",
    "captions_test.png",
    "retrieval_grid.png",
)


def demo_report_html(
    out: Path,
    rows: Sequence[tuple[str, str, float, str]],
    runs: Path,
    seconds: float,
    profile: str,
) -> Path:
    """Writes ``out/report.html``; returns its path."""
    table = "".join(
        f"<tr><td>{html.escape(s)}</td><td>{html.escape(f)}</td>"
        f"<td style='text-align:right'>{v:.3f}</td><td>{html.escape(n)}</td></tr>"
        for s, f, v, n in rows
    )
    sections = []
    for run in sorted(p for p in runs.iterdir() if p.is_dir()):
        imgs = "".join(
            f'<figure><img src="{(run / name).relative_to(out)}" style="max-width:48%">'
            f"<figcaption>{name}</figcaption></figure>"
            for name in _PLOTS
            if (run / name).is_file()
        )
        link = ""
        if (run / "report.html").is_file():
            link = (
                f' (<a href="{(run / "report.html").relative_to(out)}">run report</a>)'
            )
        sections.append(f"<h2>{html.escape(run.name)}{link}</h2>{imgs}")
    path = out / "report.html"
    write_text_atomic(
        path,
        "<!doctype html><html><head><meta charset='utf-8'><title>mmvision demo</title>"
        "</head><body><h1>mmvision demo</h1>"
        f"<p>profile {html.escape(profile)}, {seconds / 60:.1f} min; every figure on "
        "the demo world's test split.</p>"
        "<table border='1' cellspacing='0' cellpadding='4'><tr><th>step</th>"
        f"<th>figure</th><th>value</th><th></th></tr>{table}</table>"
        + "".join(sections)
        + "</body></html>\n",
    )
    return path
