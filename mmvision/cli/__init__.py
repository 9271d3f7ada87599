"""The ``mmvision`` command line: ``mmvision <group> <verb> [options]``.

Thin by design: each module parses, calls the library and prints.
TensorFlow is imported only inside the commands that need it, so
``mmvision --help`` stays fast. Bad options and bad paths print one
``mmvision: error: ...`` line and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from mmvision.cli import data, demo, index, runs, train
from mmvision.cli.common import EXIT_USAGE, FORMATTER, CLIError, Parser

#: command modules, each with ``register(groups)``.
MODULES = (data, train, runs, index, demo)


def build_parser() -> argparse.ArgumentParser:
    from mmvision import __version__

    parser = Parser(
        prog="mmvision",
        description="mmvision: a Keras/TensorFlow toolkit for images with text.",
        epilog="Run 'mmvision <group> <verb> --help' for the options of a command.",
        formatter_class=FORMATTER,
    )
    parser.add_argument("--version", action="version", version=__version__)
    groups = parser.add_subparsers(dest="group", metavar="<group>", parser_class=Parser)
    groups.required = True
    for module in MODULES:
        module.register(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from mmvision.utils import quiet_tensorflow

    args = build_parser().parse_args(argv)
    quiet_tensorflow(verbose=bool(getattr(args, "verbose", False)))
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return int(func(args) or 0)
    except (CLIError, FileNotFoundError) as e:
        sys.stderr.write(f"mmvision: error: {e}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("mmvision: interrupted\n")
        return 130


__all__ = ["EXIT_USAGE", "CLIError", "build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
