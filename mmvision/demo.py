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
    world = out / "world"
    for number, title, script, extra in _BENCHMARKS:
        t0 = _step(f"{number}. {title}")
        code = _run_benchmark(script, world, out, extra)
        if code:
            print(f"demo step {number} failed (exit code {code})")
            return code
        print(f"  ({time.perf_counter() - t0:.1f} s)")
    print(f"\ndemo finished; everything is under {out}")
    return 0


#: (step, title, benchmark script, extra args): each runs on the demo world.
_BENCHMARKS = [
    (
        2,
        "multimodal classification: image only, text only, fused (small_cnn + bow)",
        "bench_classifier.py",
        ["--runs", "{out}/runs/classifier"],
    ),
    (
        3,
        "captioning: caption-word image tower (small_resnet), CNN-LSTM merge "
        "decoder, beam search, BLEU/ROUGE-L/CIDEr-D",
        "bench_captioning.py",
        ["--work", "{out}/runs/captioning"],
    ),
]


def _run_benchmark(script: str, world: Path, out: Path, extra: list[str]) -> int:
    """Runs ``benchmarks/SCRIPT`` of this checkout on ``world``."""
    import subprocess
    import sys

    path = Path(__file__).resolve().parent.parent / "benchmarks" / script
    if not path.exists():
        print(f"  skipped: {path} not found (the demo needs a source checkout)")
        return 0
    args = [a.format(out=out) for a in extra]
    cmd = [
        sys.executable,
        str(path),
        "--world",
        str(world),
        "--out",
        str(out / script.replace(".py", ".json")),
        *args,
    ]
    print("  $ " + " ".join(cmd), flush=True)
    return subprocess.call(cmd)
