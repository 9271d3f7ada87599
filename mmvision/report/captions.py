"""Plots of a captioning run: qualitative caption grid and learning curve (PNG).

matplotlib with the Agg backend (no display needed); files are written
atomically.

Example:
>>> caption_grid([{"image_path": "a.jpg", "generated": "a red circle",
...     "references": ["A red disc ."]}], "grid.png")  # doctest: +SKIP
"""

from __future__ import annotations

import io
import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mmvision.utils import write_bytes_atomic


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | os.PathLike) -> Path:
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    write_bytes_atomic(path, buf.getvalue())
    return Path(path)


def caption_grid(
    items: Sequence[Mapping[str, Any]],
    path: str | os.PathLike,
    cols: int = 4,
    max_references: int = 2,
) -> Path:
    """A grid of images with their generated and reference captions.

    Args:
        items: dicts with ``image_path``, ``generated`` (str), optional
            ``references`` (list of str) and ``title``. An image that
            cannot be read is drawn as an empty panel saying so.
        path: the PNG to write.
        cols: panels per row.
        max_references: reference captions shown per image.
    """
    from PIL import Image

    plt = _pyplot()
    n = max(1, len(items))
    cols = max(1, min(int(cols), n))
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.4 * cols, 4.2 * rows), squeeze=False
    )
    for ax in axes.ravel():
        ax.axis("off")
    for ax, item in zip(axes.ravel(), items):
        try:
            with Image.open(item["image_path"]) as im:
                ax.imshow(im.convert("RGB"))
        except Exception as err:  # noqa: BLE001
            ax.text(
                0.5, 0.5, f"cannot read\n{err}", ha="center", va="center", fontsize=7
            )
        lines = ["gen: " + str(item.get("generated", ""))]
        for ref in list(item.get("references") or [])[:max_references]:
            lines.append("ref: " + str(ref))
        wrapped = "\n".join(textwrap.fill(x, 40) for x in lines)
        ax.set_title(str(item.get("title", "")), fontsize=8)
        ax.text(
            0.0, -0.03, wrapped, transform=ax.transAxes, ha="left", va="top", fontsize=7
        )
    fig.tight_layout()
    return _save(fig, path)
