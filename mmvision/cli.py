"""The ``mmvision`` command line: ``mmvision <group> <verb> [options]``.

Thin by design: parse, call the library, print. TensorFlow is imported only
inside the commands that need it, so ``mmvision --help`` stays fast. Bad
options and bad paths print one ``mmvision: error: ...`` line and exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

EXIT_USAGE = 2


class CLIError(Exception):
    """A user error: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        sys.exit(EXIT_USAGE)


_FORMATTER = argparse.RawDescriptionHelpFormatter


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    return value


def _out_dir(text: str) -> Path:
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} exists and is not a directory")
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise argparse.ArgumentTypeError(
            f"cannot create {text!r}: {ancestor} is not a directory"
        )
    return path


# --------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------


def _print_world_summary(summary: dict[str, Any]) -> None:
    splits = summary["splits"]
    print(f"demo world written to {summary['root']}")
    print(f"  classes                  {summary['classes']}")
    print(
        f"  images                   {summary['images']} "
        f"(train {splits['train']}, val {splits['val']}, test {splits['test']})"
    )
    print(f"  sources                  {summary['sources']}")
    print(f"  caption vocabulary       {summary['caption_vocabulary']} words")
    print(f"  missing descriptions     {summary['missing_description_rate']:.1%}")
    print(
        f"  text label noise         {summary['text_label_noise_rate']:.1%} "
        "(images whose web text names a wrong shape or colour)"
    )
    print(f"  contact sheet            {Path(summary['root']) / 'contact_sheet.png'}")


def cmd_data_demo(args: argparse.Namespace) -> int:
    from mmvision.datasets import shapes

    try:
        summary = shapes.generate(
            args.out, n_images=args.images, size=args.size, seed=args.seed
        )
    except ValueError as e:
        raise CLIError(str(e)) from None
    _print_world_summary(summary)
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    return 0


def cmd_demo_run(args: argparse.Namespace) -> int:
    from mmvision import demo

    return demo.run(args.out, images=args.images, seed=args.seed)


def _load_config(args: argparse.Namespace, task: str):
    from mmvision import configs

    try:
        cfg = configs.get_preset(args.preset, task=task)
        return configs.apply_overrides(cfg, args.set or [])
    except ValueError as e:
        raise CLIError(str(e)) from None


def _existing_dir(text: str) -> Path:
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text!r} does not exist")
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is not a directory")
    return path


def _existing_path(text: str) -> Path:
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text!r} does not exist")
    return path


def cmd_train_classifier(args: argparse.Namespace) -> int:
    from mmvision import runs

    if not args.resume and args.data is None:
        raise CLIError("--data is required (unless --resume)")
    cfg = None if args.resume else _load_config(args, "classifier")
    from mmvision import classification

    if cfg is None:
        from mmvision.configs import ClassifierConfig, from_dict

        try:
            runs.prepare(args.out, resume=True)
            cfg = from_dict(ClassifierConfig, runs.read_config(args.out))
        except ValueError as e:
            raise CLIError(str(e)) from None
    try:
        metrics = classification.train_classifier(cfg, args.data, args.out, args.resume)
    except (ValueError, runs.RunError) as e:
        raise CLIError(str(e)) from None
    print(json.dumps(metrics, indent=2, sort_keys=True))
    print(f"run written to {args.out}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from mmvision import runs

    try:
        cfg = runs.read_config(args.run)
        task = cfg.get("task", "captioner" if "decode" in cfg else "classifier")
    except runs.RunError as e:
        raise CLIError(str(e)) from None
    try:
        if task == "classifier":
            from mmvision import classification

            res = classification.evaluate_classifier(
                args.run, args.data, split=args.split
            )
        elif task == "captioner":
            from mmvision import captioning

            res = captioning.evaluate_captioner(
                args.run, data_dir=args.data, split=args.split
            )
            print(captioning.BLEU_NOTE)
        else:
            raise CLIError(f"{args.run}: unknown task {task!r} in config.json")
    except (ValueError, runs.RunError) as e:
        raise CLIError(str(e)) from None
    flat = {k: v for k, v in res.items() if isinstance(v, (int, float, str))}
    for k in sorted(flat):
        v = flat[k]
        print(f"{k:40s} {v:.4f}" if isinstance(v, float) else f"{k:40s} {v}")
    print(f"metrics written to {Path(args.run) / 'metrics.json'}")
    return 0


def cmd_train_captioner(args: argparse.Namespace) -> int:
    from mmvision import captioning

    if args.resume:
        from mmvision import runs
        from mmvision.configs.captioner import CaptionerConfig

        try:
            runs.prepare(args.out, resume=True)
            cfg = CaptionerConfig.from_dict(runs.read_config(args.out))
            from mmvision.configs import apply_overrides

            cfg = apply_overrides(cfg, args.set or [])
        except ValueError as e:
            raise CLIError(str(e)) from None
    else:
        cfg = _load_config(args, "captioner")
    if args.data is None:
        raise CLIError("--data is required")
    try:
        metrics = captioning.train_captioner(
            cfg, args.data, args.out, resume=args.resume
        )
    except ValueError as e:
        raise CLIError(str(e)) from None
    for k in sorted(metrics):
        v = metrics[k]
        print(f"{k:32s} {v:.4f}" if isinstance(v, float) else f"{k:32s} {v}")
    print(captioning.BLEU_NOTE)
    print(f"run written to {args.out}")
    return 0


def cmd_caption(args: argparse.Namespace) -> int:
    from mmvision import captioning

    try:
        results = captioning.caption_images(
            args.run, [str(p) for p in args.images], beam=args.beam
        )
    except ValueError as e:
        raise CLIError(str(e)) from None
    errors = [r for r in results if r.error]
    if len(results) == 1 and errors:
        raise CLIError(errors[0].error)
    for r in results:
        if r.error:
            sys.stderr.write(f"mmvision: skipped: {r.error}\n")
        else:
            print(f"{r.path}\t{r.caption}")
    if errors:
        sys.stderr.write(f"mmvision: {len(errors)} of {len(results)} images skipped\n")
    return 0 if len(errors) < len(results) else EXIT_USAGE


def cmd_export(args: argparse.Namespace) -> int:
    from mmvision import runs

    try:
        cfg = runs.read_config(args.run)
    except runs.RunError as e:
        raise CLIError(str(e)) from None
    if "decode" not in cfg:
        raise CLIError(
            f"{args.run} is not a captioner run; only captioner runs export for now"
        )
    from mmvision import captioning

    try:
        path = captioning.export_captioner(args.run, args.out, beam=args.beam)
    except ValueError as e:
        raise CLIError(str(e)) from None
    print(
        f"SavedModel written to {path} (signature serving_default: image_bytes -> "
        "caption, score)"
    )
    return 0


def cmd_data_inspect(args: argparse.Namespace) -> int:
    from mmvision.data import sources

    kwargs = {"strict": args.strict}
    if args.split:
        kwargs["split"] = args.split
    try:
        manifest, report, classes = sources.read(args.kind, args.root, **kwargs)
    except ValueError as e:
        raise CLIError(str(e)) from None
    print(f"{args.kind} at {args.root}: {len(manifest)} rows, {len(classes)} classes")
    if len(manifest) and "split" in manifest:
        print(manifest["split"].value_counts().to_string())
    print(report)
    if args.write:
        from mmvision.data.manifest import write_manifest

        if args.kind == "triplets":
            raise CLIError("a triplet list is not a Manifest; nothing to --write")
        try:
            write_manifest(manifest, args.write)
        except ValueError as e:
            raise CLIError(str(e)) from None
        print(f"manifest written to {args.write}")
    return 0


def cmd_data_build_records(args: argparse.Namespace) -> int:
    try:
        from data_pipelines import build_tfrecords
    except ImportError:
        raise CLIError(
            "data_pipelines is not importable: build-records needs a source checkout "
            "installed with 'pip install -e .[beam]'"
        ) from None
    try:
        return int(build_tfrecords.main(args.args) or 0)
    except ValueError as e:
        raise CLIError(str(e)) from None


# --------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------


def _add_train_args(p: argparse.ArgumentParser, preset: str, example: str) -> None:
    """The options every ``mmvision train <task>`` command takes."""
    p.add_argument("--preset", default=preset, help=f"default {preset}")
    p.add_argument(
        "--data", type=_existing_dir, help="dataset root (required unless --resume)"
    )
    p.add_argument("--out", type=_out_dir, required=True, help="run directory")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help=f"override a config value, e.g. {example}",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last checkpoint",
    )


def _verbs(groups, name: str, help: str):
    """A ``mmvision <name> <verb>`` group; returns its verb subparsers."""
    group = groups.add_parser(name, help=help)
    verbs = group.add_subparsers(dest="verb", metavar="<verb>", parser_class=_Parser)
    verbs.required = True
    return verbs


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mmvision",
        description=(
            "mmvision: Keras/TensorFlow toolkit for images that come with text."
        ),
        epilog="Run 'mmvision <group> <verb> --help' for the options of a command.",
        formatter_class=_FORMATTER,
    )
    from mmvision import __version__

    parser.add_argument("--version", action="version", version=__version__)
    groups = parser.add_subparsers(
        dest="group", metavar="<group>", parser_class=_Parser
    )
    groups.required = True

    # mmvision data ...
    data_verbs = _verbs(groups, "data", help="dataset tools: the demo world, readers")
    p = data_verbs.add_parser(
        "demo",
        help="render the demo world in the real dataset layouts",
        description=(
            "Render the deterministic demo world (coloured shapes with noisy web\n"
            "text and captions) and write it in the WebVision, Flickr8k,\n"
            "Tiny ImageNet, class-folder and triplet-list layouts."
        ),
        epilog="example:\n  mmvision data demo /tmp/world --images 600 --seed 1",
        formatter_class=_FORMATTER,
    )
    p.add_argument("out", type=_out_dir, help="output folder")
    p.add_argument("--images", type=_positive_int, default=6000, help="default 6000")
    p.add_argument("--size", type=_positive_int, default=64, help="pixels, default 64")
    p.add_argument("--seed", type=int, default=0, help="default 0")
    p.add_argument("--json", action="store_true", help="also print the summary as JSON")
    p.set_defaults(func=cmd_data_demo)

    p = data_verbs.add_parser(
        "inspect",
        help="read a dataset and print what was kept and skipped",
        description="Read a dataset with one of the readers and print its report.",
        epilog="example:\n  mmvision data inspect flickr8k /data/Flickr8k "
        "--split train",
        formatter_class=_FORMATTER,
    )
    p.add_argument(
        "kind",
        choices=[
            "webvision",
            "flickr8k",
            "tiny_imagenet",
            "folders",
            "table",
            "triplets",
        ],
    )
    p.add_argument(
        "root", type=_existing_path, help="dataset root (or table/triplet file)"
    )
    p.add_argument("--split", help="split to read where the format has them")
    p.add_argument("--strict", action="store_true", help="turn any skip into an error")
    p.add_argument(
        "--write",
        metavar="FILE",
        help="save the Manifest as .parquet or .jsonl (for build-records)",
    )
    p.set_defaults(func=cmd_data_inspect)
    p = data_verbs.add_parser(
        "build-records",
        help="Manifest -> resized, validated TFRecord shards (Apache Beam)",
        description=(
            "Run data_pipelines/build_tfrecords.py: MANIFEST OUT [--image-size N]\n"
            "[--num-shards N] [--runner R] [-- beam pipeline options].\n"
            "'mmvision data build-records -- --help' shows every option."
        ),
        epilog=(
            "example:\n  mmvision data inspect webvision /tmp/world/webvision "
            "--write m.parquet\n  mmvision data build-records m.parquet records/ "
            "--image-size 64 --num-shards 4"
        ),
        formatter_class=_FORMATTER,
    )
    p.add_argument(
        "args", nargs=argparse.REMAINDER, help="arguments of build_tfrecords.py"
    )
    p.set_defaults(func=cmd_data_build_records)

    # mmvision train ...
    train_verbs = _verbs(groups, "train", help="train a model into a run directory")
    p = train_verbs.add_parser(
        "classifier",
        help="train a multimodal (image + text) classifier",
        description=(
            "Train a multimodal classifier. Presets: demo_image, demo_text_bow,\n"
            "demo_text_minilm, demo_fused, demo_fused_pretrained,\n"
            "demo_fused_minilm, demo_late_fusion,\n"
            "webvision_* (the WebVision study's models)."
        ),
        epilog=(
            "example:\n  mmvision train classifier --preset demo_fused "
            "--data /tmp/world "
            "--out runs/fused --set train.epochs=5"
        ),
        formatter_class=_FORMATTER,
    )
    _add_train_args(p, "demo_fused", "model.text_tower=minilm")
    p.set_defaults(func=cmd_train_classifier)

    p = train_verbs.add_parser(
        "captioner",
        help="train a CNN-LSTM merge captioner",
        description=(
            "Train a captioner on a Flickr8k layout (or a demo world).\n"
            "Presets: demo_captioner (trains a small_resnet tower on the caption\n"
            "words into RUN/tower, then the decoder on its cached features),\n"
            "demo_captioner_e2e, demo_captioner_smoke, flickr8k_xception_lstm."
        ),
        epilog=(
            "examples:\n  mmvision train captioner --preset demo_captioner "
            "--data /tmp/world --out runs/cap\n"
            "  # the decoder on the image tower of another run (e.g. a classifier):\n"
            "  mmvision train captioner --preset demo_captioner --data /tmp/world "
            "--out runs/cap2 \\\n      --set features.pretrain=none "
            "--set features.source=runs/tower"
        ),
        formatter_class=_FORMATTER,
    )
    _add_train_args(p, "demo_captioner", "train.epochs=3")
    p.set_defaults(func=cmd_train_captioner)

    # mmvision caption RUN IMAGE...
    p = groups.add_parser(
        "caption",
        help="caption image files with a captioner run",
        description="Caption images; prints 'path<TAB>caption' per image.",
        epilog="example:\n  mmvision caption runs/cap img1.jpg img2.png --beam 3",
        formatter_class=_FORMATTER,
    )
    p.add_argument("run", type=_existing_dir, help="captioner run directory")
    p.add_argument("images", nargs="+", type=Path, help="image files")
    p.add_argument(
        "--beam",
        type=_positive_int,
        default=None,
        help="beam width (1 = greedy; default: the run's)",
    )
    p.set_defaults(func=cmd_caption)

    # mmvision export RUN
    p = groups.add_parser(
        "export",
        help="export a run as a SavedModel for TF Serving",
        description="Export a captioner run: JPEG bytes in, caption string out.",
        epilog="example:\n  mmvision export runs/cap --out exported/cap/1",
        formatter_class=_FORMATTER,
    )
    p.add_argument("run", type=_existing_dir, help="run directory")
    p.add_argument("--out", type=_out_dir, default=None, help="default RUN/export")
    p.add_argument("--beam", type=_positive_int, default=None, help="beam width")
    p.set_defaults(func=cmd_export)

    # mmvision evaluate RUN
    p = groups.add_parser(
        "evaluate",
        help="evaluate a run: metrics.json, plots, report.html",
        description="Evaluate a trained run on its test split.",
        epilog="example:\n  mmvision evaluate runs/fused",
        formatter_class=_FORMATTER,
    )
    p.add_argument("run", type=_existing_dir, help="run directory")
    p.add_argument(
        "--data", type=_existing_dir, help="dataset root (default: the run's)"
    )
    p.add_argument("--split", default="test", choices=["val", "test"])
    p.set_defaults(func=cmd_evaluate)

    # mmvision demo ...
    demo_verbs = _verbs(groups, "demo", help="the end-to-end demo")
    p = demo_verbs.add_parser(
        "run",
        help="run the end-to-end demo on the demo world",
        description="Render the demo world and run every capability on it.",
        epilog="example:\n  mmvision demo run demo_out",
        formatter_class=_FORMATTER,
    )
    p.add_argument("out", type=_out_dir, help="output folder")
    p.add_argument("--images", type=_positive_int, default=6000, help="default 6000")
    p.add_argument("--seed", type=int, default=0, help="default 0")
    p.set_defaults(func=cmd_demo_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import os

    # TensorFlow's C++ start-up chatter is noise on a command line.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return int(func(args) or 0)
    except (CLIError, FileNotFoundError) as e:
        sys.stderr.write(f"mmvision: error: {e}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("mmvision: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
