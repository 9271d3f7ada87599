"""Retrieval commands: ``mmvision index build|add`` and ``mmvision search``
(``mmvision evaluate INDEX`` evaluates an index; see ``cli/runs.py``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mmvision.cli.common import (
    FORMATTER,
    CLIError,
    existing_dir,
    existing_path,
    out_dir,
    positive_int,
    print_metrics,
    verbs,
)

BACKENDS = ("exact", "faiss-flat", "faiss-ivf", "faiss-hnsw", "hnswlib")
METHODS = ("caption", "bleu", "image", "combined")


def _gallery(data: Path, splits: str):
    from mmvision.data import caption_data

    manifest, _, report = caption_data.read_caption_manifest(data)
    if splits != "all":
        wanted = [s.strip() for s in splits.split(",") if s.strip()]
        manifest = manifest[manifest["split"].isin(wanted)].reset_index(drop=True)
        if manifest.empty:
            raise CLIError(f"{data}: no images in the splits {wanted}")
    return manifest, report


def cmd_build(args: argparse.Namespace) -> int:
    from mmvision.retrieval import Retriever

    manifest, report = _gallery(args.data, args.splits)
    image_source = args.embedder or ("captioner" if args.image_vectors else None)
    try:
        r = Retriever.build(
            manifest, captioner=args.captioner, encoder=args.encoder,
            image_source=image_source, backend=args.backend, beam=args.beam,
        )  # fmt: skip
        r.save(args.out)
    except (ValueError, KeyError, ImportError) as e:
        raise CLIError(str(e)) from None
    skipped = len(manifest) - len(r)
    print(f"indexed {len(r)} images of {args.data} into {args.out}")
    if skipped or report.n_skipped:
        print(
            f"skipped: {skipped} undecodable images, {report.n_skipped} rows of the "
            f"caption files ({dict(report.skipped)})"
        )
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    from mmvision.retrieval import Retriever

    manifest, _ = _gallery(args.data, args.splits)
    try:
        r = Retriever.load(args.index)
        rep = r.add(manifest)
        r.save(args.index)
    except (ValueError, KeyError) as e:
        raise CLIError(str(e)) from None
    print(
        f"added {rep['added']} images to {args.index} ({len(r)} in all; "
        f"{rep['skipped']} already present or undecodable)"
    )
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from mmvision.retrieval import Query, Retriever
    from mmvision.retrieval.diversity import read_history

    try:
        query = Query(
            image=None if args.image is None else str(args.image),
            text=args.text,
            id=args.id,
        )
        r = Retriever.load(args.index, load_models=args.image is not None)
        history = None
        if args.history:
            history, rep = read_history(str(args.history), r.ids)
            if rep["unknown"]:
                sys.stderr.write(
                    f"mmvision: {args.history}: {rep['unknown']} unknown id(s) "
                    f"ignored: {', '.join(rep['unknown_ids'])}\n"
                )
        res = r.query(
            query, mode=args.mode, k=args.k, method=args.method,
            history=history, diversity=args.diversity,
        )  # fmt: skip
    except (ValueError, KeyError, FileNotFoundError) as e:
        raise CLIError(str(e).strip("'\"")) from None
    if args.json:
        print(json.dumps(res.to_dict(), indent=2))
        return 0
    print(f"query caption: {res.query_caption}  ({res.mode}, {res.method})")
    for note in res.notes:
        print(f"note: {note}")
    print(f"{'rank':>4}  {'id':<16} {'score':>6}  {'caption':<48} path")
    for n, x in enumerate(res.results, 1):
        print(f"{n:>4}  {x.id:<16} {x.score:6.3f}  {x.caption[:48]:<48} {x.image_path}")
    return 0


def evaluate_index(index: Path, data: Path | None, out: Path | None) -> int:
    """``mmvision evaluate INDEX --data WORLD``: figures, grid, report.html."""
    from mmvision.retrieval import Retriever
    from mmvision.retrieval.world_report import evaluate_on_world, flatten

    if data is None:
        raise CLIError("evaluating a retrieval index needs --data (a demo world)")
    try:
        r = Retriever.load(index)
        figures = evaluate_on_world(r, data, out or index)
    except (ValueError, KeyError, FileNotFoundError) as e:
        raise CLIError(str(e)) from None
    print_metrics(flatten(figures))
    print(f"metrics, retrieval_grid.png and report.html written to {out or index}")
    return 0


def register(groups) -> None:
    sub = verbs(groups, "index", "build and grow a retrieval index")
    p = sub.add_parser(
        "build",
        help="caption a gallery with a captioner run and index it",
        formatter_class=FORMATTER,
        epilog="example:\n  mmvision index build --captioner runs/cap --data world "
        "--splits train,val --out indexes/gallery --image-vectors",
    )
    p.add_argument("--captioner", type=existing_dir, required=True)
    p.add_argument("--data", type=existing_dir, required=True, help="Flickr8k layout")
    p.add_argument("--out", type=out_dir, required=True, help="index directory")
    p.add_argument("--splits", default="all", help="comma list, or 'all'")
    p.add_argument("--encoder", default="minilm", help="minilm, tfidf or hub:<dir>")
    p.add_argument(
        "--embedder", help="image vectors from this run directory or tower name"
    )
    p.add_argument(
        "--image-vectors", action="store_true",
        help="store the captioner tower's image vectors (image/combined methods)",
    )  # fmt: skip
    p.add_argument("--backend", default="exact", choices=BACKENDS)
    p.add_argument("--beam", type=positive_int, default=3)
    p.set_defaults(func=cmd_build)

    p = sub.add_parser(
        "add", help="add new images to an index", formatter_class=FORMATTER
    )
    p.add_argument("index", type=existing_dir)
    p.add_argument("--data", type=existing_dir, required=True)
    p.add_argument("--splits", default="all")
    p.set_defaults(func=cmd_add)

    p = groups.add_parser(
        "search",
        help="similar or divergent images from an index",
        formatter_class=FORMATTER,
        epilog="examples:\n  mmvision search indexes/gallery --text 'a red circle'\n"
        "  mmvision search indexes/gallery --image q.jpg --mode divergent -k 5 "
        "--history seen.txt --diversity 0.3 --json",
    )
    p.add_argument("index", type=existing_dir)
    q = p.add_mutually_exclusive_group(required=True)
    q.add_argument("--image", type=existing_path, help="a query image file")
    q.add_argument("--text", help="a query caption")
    q.add_argument("--id", help="the id of an indexed image")
    p.add_argument("--mode", default="similar", choices=["similar", "divergent"])
    p.add_argument("-k", type=positive_int, default=5)
    p.add_argument("--method", choices=METHODS, help="default: combined or caption")
    p.add_argument("--history", type=existing_path, help="ids seen, one per line")
    p.add_argument("--diversity", type=float, help="MMR weight in [0, 1]")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)
