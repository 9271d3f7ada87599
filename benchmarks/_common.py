"""Shared plumbing for benchmark scripts: argument parsing, tables, JSON output."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mmvision.utils import write_json_atomic  # noqa: E402

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parser(name: str, doc: str) -> argparse.ArgumentParser:
    """An argparse parser with the ``--out`` every benchmark takes."""
    p = argparse.ArgumentParser(prog=f"benchmarks/{name}.py", description=doc)
    p.add_argument(
        "--out",
        default=str(ROOT / "benchmarks" / "results" / f"{name}.json"),
        help="where to write the flat JSON of figures (default: %(default)s)",
    )
    return p


def print_table(title: str, rows: list[tuple[str, str]]) -> None:
    """Prints a two-column table, one figure a line."""
    width = max(len(k) for k, _ in rows)
    print(title)
    print("-" * (width + 20))
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


def write_results(path: str, figures: dict) -> None:
    """Writes the figures as flat JSON (atomically) and says where."""
    flat = {k: v for k, v in figures.items() if isinstance(v, (int, float, str))}
    write_json_atomic(path, flat)
    print(f"wrote {path}")


def merge_results(path: str, figures: dict) -> None:
    """``write_results`` of the figures already at ``path`` updated by
    ``figures`` (a partial run keeps the rest of the last full run's)."""
    import json

    old = json.loads(Path(path).read_text()) if Path(path).exists() else {}
    write_results(path, old | figures)
