"""Commands on a trained run: ``evaluate``, ``caption``, ``classify``, ``export``.

Each dispatches on the run's ``task`` (its ``config.json``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mmvision.cli.common import (
    EXIT_USAGE,
    FORMATTER,
    CLIError,
    existing_dir,
    out_dir,
    positive_int,
    print_metrics,
)


def _task(run: Path, *allowed: str) -> str:
    from mmvision.training import RunError, run_dir

    try:
        task = run_dir.read_task(run)
    except RunError as e:
        raise CLIError(str(e)) from None
    if allowed and task not in allowed:
        raise CLIError(f"{run} is a {task} run; this command takes {list(allowed)}")
    return task


def cmd_evaluate(args: argparse.Namespace) -> int:
    from mmvision.training import RunError, evaluate_run

    if (args.run / "retriever.json").is_file():
        from mmvision.cli.index import evaluate_index

        return evaluate_index(args.run, args.data, None)
    task = _task(args.run)
    try:
        res = evaluate_run(args.run, args.data, split=args.split)
    except (ValueError, RunError, NotImplementedError) as e:
        raise CLIError(str(e)) from None
    print_metrics(res)
    if task == "captioner":
        from mmvision.tasks.captioner_eval import BLEU_NOTE

        print(BLEU_NOTE)
    print(f"metrics written to {Path(args.run) / 'metrics.json'}")
    return 0


def _print_results(results, line) -> int:
    """Prints ``line(r)`` for each image that worked and one line per skip;
    a single image that failed is an error. Exit 2 when every image failed."""
    errors = [r.error for r in results if r.error]
    if len(results) == 1 and errors:
        raise CLIError(errors[0])
    for r in results:
        if not r.error:
            print(line(r))
    if errors:
        for e in errors:
            sys.stderr.write(f"mmvision: skipped: {e}\n")
        sys.stderr.write(f"mmvision: {len(errors)} of {len(results)} images skipped\n")
    return 0 if len(errors) < len(results) else EXIT_USAGE


def cmd_caption(args: argparse.Namespace) -> int:
    from mmvision.inference.captioner import caption_images

    _task(args.run, "captioner")
    try:
        results = caption_images(args.run, [str(p) for p in args.images], args.beam)
    except ValueError as e:
        raise CLIError(str(e)) from None
    return _print_results(results, lambda r: f"{r.path}\t{r.caption}")


def _classification_line(r, as_json: bool) -> str:
    if as_json:
        top = [{"label": c, "score": s} for c, s in zip(r.labels, r.scores)]
        return json.dumps({"path": r.path, "top": top})
    tags = ", ".join(f"{c} {s:.3f}" for c, s in zip(r.labels, r.scores))
    return f"{r.path}\t{tags}"


def cmd_classify(args: argparse.Namespace) -> int:
    from mmvision.inference.classifier import classify_images

    _task(args.run, "classifier")
    try:
        results = classify_images(
            args.run, [str(p) for p in args.images], title=args.title,
            description=args.description, tags=args.tags or (), top_k=args.top_k,
        )  # fmt: skip
    except ValueError as e:
        raise CLIError(str(e)) from None
    return _print_results(results, lambda r: _classification_line(r, args.json))


def cmd_export(args: argparse.Namespace) -> int:
    from mmvision.export import export_captioner

    _task(args.run, "captioner")
    try:
        path = export_captioner(args.run, args.out, beam=args.beam)
    except ValueError as e:
        raise CLIError(str(e)) from None
    print(
        f"SavedModel written to {path} (signature serving_default: image_bytes -> "
        "caption, score)"
    )
    return 0


def register(groups) -> None:
    p = groups.add_parser(
        "evaluate",
        help="evaluate a run or a retrieval index: metrics.json, plots, report.html",
        description="Evaluate a trained run (any task) on a split, or a retrieval "
        "index on a demo world (its test split as queries).",
        epilog="example:\n  mmvision evaluate runs/fused",
        formatter_class=FORMATTER,
    )
    p.add_argument("run", type=existing_dir, help="run or index directory")
    p.add_argument(
        "--data", type=existing_dir, help="dataset root (default: the run's)"
    )
    p.add_argument("--split", default="test", choices=["val", "test"])
    p.set_defaults(func=cmd_evaluate)

    p = groups.add_parser(
        "caption",
        help="caption image files with a captioner run",
        description="Caption images; prints 'path<TAB>caption' per image.",
        epilog="example:\n  mmvision caption runs/cap img1.jpg img2.png --beam 3",
        formatter_class=FORMATTER,
    )
    p.add_argument("run", type=existing_dir, help="captioner run directory")
    p.add_argument("images", nargs="+", type=Path, help="image files")
    p.add_argument(
        "--beam", type=positive_int, default=None,
        help="beam width (1 = greedy; default: the run's)",
    )  # fmt: skip
    p.set_defaults(func=cmd_caption)

    p = groups.add_parser(
        "classify",
        help="top-k classes (suggested tags) of image files with a classifier run",
        description="Classify images; prints 'path<TAB>class score, ...' per image.",
        epilog=(
            "example:\n  mmvision classify runs/fused img.jpg --title 'red circle' "
            "--top-k 5 --json"
        ),
        formatter_class=FORMATTER,
    )
    p.add_argument("run", type=existing_dir, help="classifier run directory")
    p.add_argument("images", nargs="+", type=Path, help="image files")
    p.add_argument("--title", default="", help="the images' title text")
    p.add_argument("--description", default="", help="the images' description")
    p.add_argument("--tags", nargs="*", help="the images' tags")
    p.add_argument("--top-k", type=positive_int, default=5, help="default 5")
    p.add_argument("--json", action="store_true", help="one JSON object per image")
    p.set_defaults(func=cmd_classify)

    p = groups.add_parser(
        "export",
        help="export a run as a SavedModel for TF Serving",
        description="Export a captioner run: JPEG bytes in, caption string out.",
        epilog="example:\n  mmvision export runs/cap --out exported/cap/1",
        formatter_class=FORMATTER,
    )
    p.add_argument("run", type=existing_dir, help="run directory")
    p.add_argument("--out", type=out_dir, default=None, help="default RUN/export")
    p.add_argument("--beam", type=positive_int, default=None, help="beam width")
    p.set_defaults(func=cmd_export)
