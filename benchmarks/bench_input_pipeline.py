"""Input pipeline throughput: PIL loop vs tf.data from files vs TFRecord shards.

Renders the demo world at 256 px (so JPEG decoding, not Python overhead,
dominates), resizes to 224, batch 64, one run each, images/s of:

  (a) pil_loop_ips      a plain Python loop opening, converting and resizing
                        each image with PIL into a numpy batch (what the
                        reference notebooks do);
  (b) files_ips         mmvision classification_dataset over the JPEG files;
  (c) tfrecord_ips      the same over TFRecord shards built by
                        data_pipelines/build_tfrecords.py; the shards store
                        images ALREADY resized to 224 and JPEG-encoded (that
                        is the point of preparation), so (c) decodes smaller
                        images and skips the resize;
  (d) decode_limit_ips  tf.io.decode_jpeg + resize over the shards' JPEG bytes
                        held in memory, on all cores (tf.data, AUTOTUNE): the
                        ceiling for (c). decode_limit_source_ips is the same
                        over the 256-px source files' bytes (the ceiling for b).

Targets: c/a >= 2 (two cores), c/d >= 0.7.

``--quick`` (about a minute; checks the script end to end, throughput of so
few images is noisy): 256 images, results to a temporary file unless
``--out`` is given.

Usage: python benchmarks/bench_input_pipeline.py [--out PATH] [--images N] [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "bench_input_pipeline.json"
QUICK_OUT = Path(tempfile.gettempdir()) / "mmvision_bench_quick" / DEFAULT_OUT.name
TARGET, SOURCE_SIZE, BATCH = 224, 256, 64
FULL_IMAGES, QUICK_IMAGES = 1500, 256


def _manifest(root: Path):
    from mmvision.data.manifest import make_manifest
    from mmvision.datasets import shapes

    img_dir = root / "flickr8k" / "Flicker8k_Dataset"
    rows = [
        {
            "id": r["id"],
            "image_path": str(img_dir / f"{r['id']}.jpg"),
            "label": r["label"],
            "label_name": r["label_name"],
            "title": r.get("title") or "",
            "split": r["split"],
        }
        for r in shapes.load_ground_truth(root)
    ]
    return make_manifest(rows)


def _time_dataset(ds) -> tuple[float, int]:
    for _ in ds.take(2):  # warm-up: tracing, thread pools, file cache
        pass
    n = 0
    t = time.perf_counter()
    for batch in ds:
        x = batch[0]["image"] if isinstance(batch, tuple) else batch
        n += int(x.shape[0])
    return n / (time.perf_counter() - t), n


def pil_loop(paths: list[str]) -> float:
    from PIL import Image

    for p in paths[:BATCH]:  # warm-up the page cache like the others
        Image.open(p).convert("RGB").resize((TARGET, TARGET))
    t = time.perf_counter()
    for i in range(0, len(paths), BATCH):
        chunk = paths[i : i + BATCH]
        batch = np.zeros((len(chunk), TARGET, TARGET, 3), np.float32)
        for j, p in enumerate(chunk):
            with Image.open(p) as im:
                batch[j] = np.asarray(im.convert("RGB").resize((TARGET, TARGET)))
    return len(paths) / (time.perf_counter() - t)


def decode_limit(blobs: list[bytes]) -> float:
    import tensorflow as tf

    def dec(b):
        img = tf.io.decode_jpeg(b, channels=3)
        return tf.image.resize(img, (TARGET, TARGET))

    ds = (
        tf.data.Dataset.from_tensor_slices(blobs)
        .map(dec, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(BATCH)
        .prefetch(tf.data.AUTOTUNE)
    )
    return _time_dataset(ds)[0]


def run(n_images: int, workdir: Path) -> dict:
    from data_pipelines.build_tfrecords import build_records
    from mmvision.data import pipelines, records
    from mmvision.datasets import shapes

    world = workdir / "world"
    t = time.perf_counter()
    shapes.generate(world, n_images=n_images, size=SOURCE_SIZE, seed=0)
    gen_s = time.perf_counter() - t
    manifest = _manifest(world)
    paths = list(manifest["image_path"])

    a = pil_loop(paths)
    files_ds = pipelines.classification_dataset(
        manifest, image_size=TARGET, batch_size=BATCH
    )
    b, n_b = _time_dataset(files_ds)

    rec_dir = workdir / "records"
    t = time.perf_counter()
    stats = build_records(
        manifest, rec_dir, image_size=TARGET, num_shards=8, direct_num_workers=2
    )
    build_s = time.perf_counter() - t
    rec_ds = pipelines.classification_dataset(
        rec_dir, image_size=TARGET, batch_size=BATCH
    )
    c, n_c = _time_dataset(rec_ds)

    rec_blobs = [
        e["image"].numpy() for e in records.read_records(rec_dir, decode=False)
    ]
    d = decode_limit(rec_blobs)
    d_src = decode_limit([Path(p).read_bytes() for p in paths])
    return {
        "images": len(paths),
        "source_size_px": SOURCE_SIZE,
        "target_size_px": TARGET,
        "batch_size": BATCH,
        "cpu_count": os.cpu_count() or 1,
        "pil_loop_ips": a,
        "files_ips": b,
        "tfrecord_ips": c,
        "decode_limit_ips": d,
        "decode_limit_source_ips": d_src,
        "files_over_pil": b / a,
        "tfrecord_over_pil": c / a,
        "tfrecord_over_decode_limit": c / d,
        "files_over_decode_limit_source": b / d_src,
        "files_images_seen": n_b,
        "tfrecord_images_seen": n_c,
        "records_written": stats["records_written"],
        "records_stored_at_target_size": True,
        "build_records_s": build_s,
        "generate_world_s": gen_s,
        "target_tfrecord_over_pil": 2.0,
        "target_tfrecord_over_decode_limit": 0.7,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", help=f"default {DEFAULT_OUT} ({QUICK_OUT} with --quick)")
    ap.add_argument("--images", type=int, help=f"default {FULL_IMAGES}")
    ap.add_argument(
        "--quick", action="store_true", help=f"a fast check: {QUICK_IMAGES} images"
    )
    args = ap.parse_args(argv)
    args.images = args.images or (QUICK_IMAGES if args.quick else FULL_IMAGES)
    # A quick run never overwrites the published figures unless asked to.
    args.out = args.out or str(QUICK_OUT if args.quick else DEFAULT_OUT)
    from mmvision.utils import write_json_atomic

    with tempfile.TemporaryDirectory(prefix="bench-input-") as tmp:
        r = run(args.images, Path(tmp))
    rows = [
        ("(a) PIL loop (reference notebooks)", r["pil_loop_ips"]),
        ("(b) classification_dataset, JPEG files 256px", r["files_ips"]),
        ("(c) classification_dataset, TFRecords (stored at 224)", r["tfrecord_ips"]),
        ("(d) decode limit: decode_jpeg+resize, shard bytes", r["decode_limit_ips"]),
        ("    decode limit over the 256px source bytes", r["decode_limit_source_ips"]),
    ]
    print(
        f"{r['images']} images {SOURCE_SIZE}px -> {TARGET}px, batch {BATCH}, "
        f"{r['cpu_count']} cores"
    )
    for name, v in rows:
        print(f"  {name:<58s} {v:9.1f} img/s")
    print(f"  b/a = {r['files_over_pil']:.2f}")
    print(f"  c/a = {r['tfrecord_over_pil']:.2f}   (target >= 2)")
    print(f"  c/d = {r['tfrecord_over_decode_limit']:.2f}   (target >= 0.7)")
    print(
        "  note: TFRecord shards hold images already resized to 224 and "
        f"JPEG-encoded (built in {r['build_records_s']:.1f} s with Beam)."
    )
    write_json_atomic(args.out, r)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
