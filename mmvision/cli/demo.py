"""``mmvision demo run OUT [--quick]``."""

from __future__ import annotations

import argparse

from mmvision.cli.common import FORMATTER, out_dir, positive_int, verbs


def cmd_run(args: argparse.Namespace) -> int:
    from mmvision import demo

    return demo.run(
        args.out, quick=args.quick, images=args.images, seed=args.seed,
        verbose=args.verbose,
    )  # fmt: skip


def register(groups) -> None:
    sub = verbs(groups, "demo", help="the end-to-end demo")
    p = sub.add_parser(
        "run",
        help="run the end-to-end demo on the demo world",
        description=(
            "Render the demo world and run every capability on it: readers,\n"
            "pipelines, image/text/fused classifiers, the caption-word tower, the\n"
            "captioner, captions, exports and report.html."
        ),
        epilog="examples:\n  mmvision demo run demo_out\n  mmvision demo run "
        "/tmp/quick --quick",
        formatter_class=FORMATTER,
    )
    p.add_argument("out", type=out_dir, help="output folder")
    p.add_argument(
        "--quick", action="store_true", help="a smaller world and shorter training"
    )
    p.add_argument(
        "--images", type=positive_int, default=None, help="world size override"
    )
    p.add_argument("--seed", type=int, default=0, help="default 0")
    p.add_argument(
        "--verbose", action="store_true", help="show TensorFlow's own log lines"
    )
    p.set_defaults(func=cmd_run)
