"""What every ``mmvision`` command module shares: the one-line error, the
parser class and argument types."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_USAGE = 2
FORMATTER = argparse.RawDescriptionHelpFormatter


class CLIError(Exception):
    """A user error: printed as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        sys.exit(EXIT_USAGE)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    return value


def out_dir(text: str) -> Path:
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


def existing_dir(text: str) -> Path:
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text!r} does not exist")
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is not a directory")
    return path


def existing_path(text: str) -> Path:
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text!r} does not exist")
    return path


def verbs(groups: Any, name: str, help: str) -> Any:
    """A ``mmvision <name> <verb>`` group; returns its verb subparsers."""
    group = groups.add_parser(name, help=help)
    sub = group.add_subparsers(dest="verb", metavar="<verb>", parser_class=Parser)
    sub.required = True
    return sub


def print_metrics(metrics: dict[str, Any], width: int = 40) -> None:
    for k in sorted(metrics):
        v = metrics[k]
        if isinstance(v, float):
            print(f"{k:{width}s} {v:.4f}")
        elif isinstance(v, (int, str)):
            print(f"{k:{width}s} {v}")
