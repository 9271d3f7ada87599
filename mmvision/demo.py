"""The end-to-end demo behind ``make demo`` / ``mmvision demo run OUT``.

Each capability adds its step here as it lands; every step runs offline on
the embedded demo world and prints what it measured.
"""

from __future__ import annotations

import time
from pathlib import Path


def _step(title: str) -> float:
    print(f"\n== {title} ==", flush=True)
    return time.perf_counter()


def run(out: str | Path, images: int = 6000, seed: int = 0) -> int:
    """Runs the demo into ``out``; returns a process exit code."""
    from mmvision.cli import _print_world_summary
    from mmvision.datasets import shapes

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = _step("1. demo world: render and write the real dataset layouts")
    summary = shapes.generate(out / "world", n_images=images, size=64, seed=seed)
    _print_world_summary(summary)
    print(f"  ({time.perf_counter() - t0:.1f} s)")
    print(f"\ndemo finished; everything is under {out}")
    return 0
