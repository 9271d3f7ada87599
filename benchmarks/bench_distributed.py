"""Scale-out on this machine: 1 vs 2 local training workers, 1 vs 2 Beam workers.

Both sides run on the same 2-core CPU, so the figures show the overhead of
distribution (and that the results agree), not a speed-up.

- Training (``mmvision train classifier --strategy multiworker``, preset
  ``demo_image``, the demo world at 32 px): one worker process with a batch
  of 64 against two worker processes (``TF_CONFIG`` on loopback ports) with
  32 each, the same global batch of 64 and the same epochs, once per
  training seed (3 seeds). Examples/s is the training examples of all
  epochs over the chief's ``train_seconds`` (mean over the seeds);
  ``*_val_acc`` is the chief's validation top-1, the mean over the seeds
  (target: the two within 0.03; a single seed's runs differ by about 0.02
  between seeds on one side alone).
- Beam: the TFRecord build (``data_pipelines/build_tfrecords.py``) and the
  RunInference feature extraction (``data_pipelines/extract_features.py``,
  ``small_cnn`` at 32 px) of the same Parquet manifest with the DirectRunner
  and ``--direct_num_workers`` 1 vs 2 (multi-processing), wall seconds.

JSON keys: one_worker_eps, two_worker_eps, one_worker_val_acc,
two_worker_val_acc, beam_1_s, beam_2_s, beam_features_1_s, beam_features_2_s.

``--quick``: 960 images, 2 epochs, 1 seed; the figures only check the script.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, parser, print_table, write_results

QUICK = {"images": 960, "epochs": 2, "seeds": 1}
FULL = {"images": 4800, "epochs": 20, "seeds": 3}
_MAIN = "import sys; from mmvision.cli import main; sys.exit(main(sys.argv[1:]))"
MMVISION = [sys.executable, "-c", _MAIN]


def train(world, out, workers, batch, epochs, seed=0) -> dict:
    """Trains with ``workers`` processes; returns the chief's metrics."""
    from mmvision.distribute.tf_config import local_cluster

    procs = []
    for tf_config in local_cluster(workers):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
        env["TF_CONFIG"] = tf_config
        sets = ["data.image_size=32", f"train.batch_size={batch}",
                f"train.epochs={epochs}", "train.verbose=0", f"train.seed={seed}",
                "train.early_stopping_patience=0"]  # fmt: skip
        cmd = [*MMVISION, "train", "classifier", "--preset", "demo_image",
               "--data", str(world), "--out", str(out), "--strategy", "multiworker",
               *[a for kv in sets for a in ("--set", kv)]]  # fmt: skip
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE))  # fmt: skip
    for p in procs:
        _, err = p.communicate(timeout=3600)
        if p.returncode:
            raise SystemExit(
                f"a worker failed:\n{err.decode(errors='replace')[-3000:]}"
            )
    return json.loads((out / "metrics.json").read_text())


def _train_rows(world) -> int:
    from mmvision import configs
    from mmvision.tasks.classifier import ClassifierTask

    cfg = configs.get_preset("classifier", "demo_image")
    return len(ClassifierTask().load_data(cfg, world).split("train"))


def timed(fn, *args, **kwargs) -> float:
    t0 = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    p = parser("bench_distributed", __doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--work", help="work directory (default: a temporary one)")
    args = p.parse_args(argv)
    if args.quick and "--out" not in " ".join(sys.argv):
        args.out = str(Path(tempfile.gettempdir()) / "mmvision_bench_quick" /
                       "bench_distributed.json")  # fmt: skip
    s = QUICK if args.quick else FULL
    work = Path(args.work or tempfile.mkdtemp(prefix="mmvision_bench_dist_"))
    world = work / "world"
    from mmvision.datasets import shapes

    if not (world / "world.json").exists():
        shapes.generate(world, n_images=s["images"], size=32, seed=0)
    for d in ("one", "two", "rec1", "rec2", "feat1", "feat2"):
        shutil.rmtree(work / d, ignore_errors=True)
    rows, ep = _train_rows(world), s["epochs"]
    per_seed = {}
    for seed in range(s["seeds"]):
        for side, workers, batch in (("one", 1, 64), ("two", 2, 32)):
            m = train(world, work / side / str(seed), workers, batch, ep, seed)
            per_seed[f"{side}_worker_val_acc_seed{seed}"] = m["val_top1"]
            per_seed[f"{side}_worker_eps_seed{seed}"] = rows * ep / m["train_seconds"]
        one, two = (per_seed[f"{k}_worker_val_acc_seed{seed}"] for k in ("one", "two"))
        print(f"  seed {seed}: val top-1 {one:.3f} (1 worker) / {two:.3f} (2 workers)",
              flush=True)  # fmt: skip

    def mean(key):
        return sum(per_seed[f"{key}_seed{i}"] for i in range(s["seeds"])) / s["seeds"]

    from data_pipelines.build_tfrecords import build_records
    from data_pipelines.extract_features import extract
    from mmvision.data.manifest import write_manifest
    from mmvision.data.sources import folders

    manifest = work / "manifest.parquet"
    write_manifest(folders(world / "folders")[0], manifest)
    kw = {"direct_running_mode": "multi_processing"}
    beam_1 = timed(build_records, manifest, work / "rec1", image_size=32,
                   num_shards=4, direct_num_workers=1, **kw)  # fmt: skip
    beam_2 = timed(build_records, manifest, work / "rec2", image_size=32,
                   num_shards=4, direct_num_workers=2, **kw)  # fmt: skip
    feat_1 = timed(extract, str(manifest), str(work / "feat1"), "small_cnn", 32,
                   direct_num_workers=1, **kw)  # fmt: skip
    feat_2 = timed(extract, str(manifest), str(work / "feat2"), "small_cnn", 32,
                   direct_num_workers=2, **kw)  # fmt: skip

    fig = {
        "one_worker_eps": mean("one_worker_eps"),
        "two_worker_eps": mean("two_worker_eps"),
        "one_worker_val_acc": mean("one_worker_val_acc"),
        "two_worker_val_acc": mean("two_worker_val_acc"),
        "beam_1_s": beam_1, "beam_2_s": beam_2,
        "beam_features_1_s": feat_1, "beam_features_2_s": feat_2,
        "images": s["images"], "epochs": ep, "train_rows": rows,
        "seeds": s["seeds"], **per_seed,
    }  # fmt: skip
    gap = abs(fig["two_worker_val_acc"] - fig["one_worker_val_acc"])
    print_table("scale-out on one 2-core machine", [
        ("training examples/s: 1 worker / 2 workers",
         f"{fig['one_worker_eps']:.0f} / {fig['two_worker_eps']:.0f}"),
        (f"val top-1, mean of {s['seeds']} seeds: 1 worker / 2 workers",
         f"{fig['one_worker_val_acc']:.3f} / {fig['two_worker_val_acc']:.3f}"),
        ("val top-1 gap (target <= 0.03)", f"{gap:.3f}"),
        ("Beam TFRecord build s: 1 / 2 DirectRunner workers",
         f"{beam_1:.1f} / {beam_2:.1f}"),
        ("Beam RunInference features s: 1 / 2 workers", f"{feat_1:.1f} / {feat_2:.1f}"),
    ])  # fmt: skip
    write_results(args.out, fig)
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
