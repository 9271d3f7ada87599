"""``mmvision data demo|inspect|build-records``."""

from __future__ import annotations

import argparse
import json

from mmvision.cli.common import (
    FORMATTER,
    CLIError,
    existing_path,
    out_dir,
    positive_int,
    verbs,
)


def cmd_demo(args: argparse.Namespace) -> int:
    from mmvision.datasets import shapes
    from mmvision.report.world import world_summary

    try:
        summary = shapes.generate(
            args.out, n_images=args.images, size=args.size, seed=args.seed
        )
    except ValueError as e:
        raise CLIError(str(e)) from None
    print(world_summary(summary))
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
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


def cmd_build_records(args: argparse.Namespace) -> int:
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


def cmd_serve(args: argparse.Namespace) -> int:
    from mmvision.distribute import data_service

    try:
        if args.dispatcher:
            server = data_service.start_dispatcher(args.port, args.work_dir)
            print(f"tf.data dispatcher serving at {server.target}", flush=True)
        else:
            if not args.dispatcher_address:
                raise CLIError("--worker needs --dispatcher-address grpc://HOST:PORT")
            server = data_service.start_worker(args.dispatcher_address, args.port)
            print(f"tf.data worker registered with {args.dispatcher_address}",
                  flush=True)  # fmt: skip
    except ValueError as e:
        raise CLIError(str(e)) from None
    server.join()  # serves until the process is stopped
    return 0


def register(groups) -> None:
    sub = verbs(groups, "data", help="dataset tools: the demo world, readers")
    p = sub.add_parser(
        "demo",
        help="render the demo world in the real dataset layouts",
        description=(
            "Render the deterministic demo world (coloured shapes with noisy web\n"
            "text and captions) and write it in the WebVision, Flickr8k,\n"
            "Tiny ImageNet, class-folder and triplet-list layouts."
        ),
        epilog="example:\n  mmvision data demo /tmp/world --images 600 --seed 1",
        formatter_class=FORMATTER,
    )
    p.add_argument("out", type=out_dir, help="output folder")
    p.add_argument("--images", type=positive_int, default=6000, help="default 6000")
    p.add_argument("--size", type=positive_int, default=64, help="pixels, default 64")
    p.add_argument("--seed", type=int, default=0, help="default 0")
    p.add_argument("--json", action="store_true", help="also print the summary as JSON")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "inspect",
        help="read a dataset and print what was kept and skipped",
        description="Read a dataset with one of the readers and print its report.",
        epilog="example:\n  mmvision data inspect flickr8k /data/Flickr8k --split val",
        formatter_class=FORMATTER,
    )
    kinds = ["webvision", "flickr8k", "tiny_imagenet", "folders", "table", "triplets",
             "cifar10", "cifar100"]  # fmt: skip
    p.add_argument("kind", choices=kinds)
    p.add_argument("root", type=existing_path, help="dataset root (or table file)")
    p.add_argument("--split", help="split to read where the format has them")
    p.add_argument("--strict", action="store_true", help="turn any skip into an error")
    p.add_argument(
        "--write",
        metavar="FILE",
        help="save the Manifest as .parquet or .jsonl (for build-records)",
    )
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser(
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
        formatter_class=FORMATTER,
    )
    p.add_argument("args", nargs=argparse.REMAINDER, help="build_tfrecords.py args")
    p.set_defaults(func=cmd_build_records)

    p = sub.add_parser(
        "serve",
        help="run a tf.data service dispatcher or worker (input preprocessing)",
        description=(
            "Start a tf.data service dispatcher or a tf.data worker and serve\n"
            "until stopped; 'mmvision train TASK --data-service grpc://HOST:PORT'\n"
            "then reads its training batches from the workers."
        ),
        epilog=(
            "example:\n  mmvision data serve --dispatcher --port 5050\n"
            "  mmvision data serve --worker --dispatcher-address "
            "grpc://localhost:5050 --port 5051"
        ),
        formatter_class=FORMATTER,
    )
    role = p.add_mutually_exclusive_group(required=True)
    role.add_argument("--dispatcher", action="store_true", help="be the dispatcher")
    role.add_argument("--worker", action="store_true", help="be a tf.data worker")
    p.add_argument("--port", type=int, default=0, help="port (0: any free one)")
    p.add_argument("--dispatcher-address", help="the dispatcher (--worker)")
    p.add_argument("--work-dir", help="dispatcher journal folder (restartable)")
    p.set_defaults(func=cmd_serve)
