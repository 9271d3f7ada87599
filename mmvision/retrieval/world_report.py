"""Evaluate a retrieval index on a demo world and write its report.

``evaluate_on_world(retriever, data_dir, out)`` takes the world's test split
as image queries (captioned by the index's captioner run), scores every
method against the ground truth, and writes to ``out``: ``metrics.json``
(flat: ``<method>_<figure>``), ``retrieval_grid.png`` (queries with their 5
most similar and 5 most divergent results) and ``report.html``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mmvision.utils import write_json_atomic


def world_queries(data_dir: str | os.PathLike, split: str = "test") -> tuple[Any, dict]:
    """``(query manifest, {id: label name})`` of a demo world: the rows of
    ``split`` of its Flickr8k layout, and the ground-truth class of every id."""
    from mmvision.data import caption_data
    from mmvision.datasets import shapes

    manifest, cap_file, _ = caption_data.read_caption_manifest(data_dir)
    queries = caption_data.split_rows(manifest, split, cap_file)
    truth = {g["id"]: g["label_name"] for g in shapes.load_ground_truth(data_dir)}
    return queries, truth


def flatten(figures: dict[str, dict[str, float]]) -> dict[str, float]:
    """``{method: {name: v}}`` -> ``{"<method>_<name>": v}``."""
    return {f"{m}_{n}": v for m, figs in figures.items() for n, v in figs.items()}


def evaluate_on_world(
    retriever: Any,
    data_dir: str | os.PathLike,
    out: str | os.PathLike | None = None,
    methods: list[str] | None = None,
    grid_queries: int = 4,
    method_names: dict[str, str] | None = None,
) -> dict[str, dict[str, float]]:
    """``{method: figures}``; with ``out``, also the files named above.

    Args:
        method_names: display names, e.g. ``{"caption": "caption_tfidf"}``.
    """
    from mmvision.retrieval import evaluation

    queries, truth = world_queries(data_dir)
    figures = evaluation.evaluate(retriever, queries, truth, methods)
    if method_names:
        figures = {method_names.get(m, m): f for m, f in figures.items()}
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / "metrics.json", flatten(figures))
        grid = write_grid(retriever, queries, out / "retrieval_grid.png", grid_queries)
        from mmvision.report.retrieval import retrieval_report_html

        retrieval_report_html(
            figures,
            [grid],
            out / "report.html",
            notes=[
                f"{len(queries)} test images as queries, captioned by the index's "
                f"captioner run; {len(retriever)} indexed images.",
                "similar: same primary shape and colour; divergent: exactly one "
                "of the two shared.",
            ],
        )
    return figures


def write_grid(retriever: Any, queries: Any, path: Path, n: int = 4) -> Path:
    """The grid PNG for the first ``n`` queries, with the index's default
    method."""
    from mmvision.report.retrieval import retrieval_grid
    from mmvision.retrieval import evaluation

    resolved = evaluation.resolve_manifest(retriever, queries.head(n))
    rows = []
    paths = dict(zip(queries["id"], queries["image_path"]))
    for qid, rq in resolved.items():
        rows.append(
            {
                "image_path": paths[qid],
                "caption": rq.caption,
                "similar": retriever.query(rq, "similar", 5).results,
                "divergent": retriever.query(rq, "divergent", 5).results,
            }
        )
    return retrieval_grid(rows, path)
