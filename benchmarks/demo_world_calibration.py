"""Calibration of the demo world: no single modality may solve the task.

Renders the default demo world (6,000 images, 64 px, seed 0), then fits
scikit-learn logistic regressions on the train split and scores top-1 on the
test split with:

- text: bag-of-words (counts) of title + description;
- image: a colour/shape pixel feature (per palette colour, a soft colour
  membership map pooled on a 6x6 grid, colour area fractions, and
  rotation-invariant shape descriptors of each colour's mask);
- both: the two feature sets side by side.

Bounds: each single modality in [0.35, 0.75], both >= best + 0.05.
JSON keys: text_top1, image_top1, both_top1.

``--quick`` (about a minute; checks the script end to end, the bounds hold
only at full size): 1,200 images, results to a temporary file unless
``--out`` is given.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import parser, print_table, write_results
from PIL import Image
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from mmvision.datasets import shapes

GRID = 6
FULL_IMAGES, QUICK_IMAGES = 6000, 1200


def _mask_shape(mask: np.ndarray) -> np.ndarray:
    """Rotation-invariant shape descriptors of one binary mask.

    Area fraction, fill ratio of its bounding box, whether the centroid is
    empty (rings), a 10-bin radial histogram of pixel distances from the
    centroid (scaled by sqrt(area)), and log Hu moments.
    """
    area = mask.sum()
    if area < 4:
        return np.zeros(20, np.float32)
    ys, xs = np.nonzero(mask)
    cy, cx = ys.mean(), xs.mean()
    fill = area / ((np.ptp(ys) + 1) * (np.ptp(xs) + 1))
    hole = 1.0 - float(mask[int(round(cy)), int(round(cx))])
    r = np.hypot(ys - cy, xs - cx) / np.sqrt(area)
    radial = np.histogram(r, bins=10, range=(0, 1.2))[0] / area
    dy, dx = ys - cy, xs - cx
    mu = {
        (p, q): ((dx**p) * (dy**q)).sum() / area ** (1 + (p + q) / 2)
        for p in range(4)
        for q in range(4)
        if 2 <= p + q <= 3
    }
    n20, n02, n11 = mu[2, 0], mu[0, 2], mu[1, 1]
    n30, n03, n21, n12 = mu[3, 0], mu[0, 3], mu[2, 1], mu[1, 2]
    hu = [
        n20 + n02,
        (n20 - n02) ** 2 + 4 * n11**2,
        (n30 - 3 * n12) ** 2 + (3 * n21 - n03) ** 2,
        (n30 + n12) ** 2 + (n21 + n03) ** 2,
    ]
    hu = [-np.sign(h) * np.log10(abs(h) + 1e-12) for h in hu]
    return np.array([area / mask.size, fill, hole, *radial, *hu, 0, 0, 0], np.float32)


def pixel_features(path: Path) -> np.ndarray:
    """Colour membership pooled on a grid, plus shape descriptors per colour."""
    img = np.asarray(Image.open(path).convert("RGB"), np.float32)
    palette = np.array(list(shapes.COLOURS.values()), np.float32)  # [6, 3]
    d2 = ((img[:, :, None, :] - palette[None, None]) ** 2).sum(-1)  # [H, W, 6]
    member = np.exp(-d2 / (2 * 45.0**2))
    h, w = member.shape[:2]
    gh, gw = h // GRID, w // GRID
    pooled = member[: gh * GRID, : gw * GRID].reshape(GRID, gh, GRID, gw, -1)
    pooled = pooled.mean(axis=(1, 3)).reshape(-1)
    nearest = d2.argmin(-1)
    close = d2.min(-1) < 60.0**2
    descr = [_mask_shape((nearest == k) & close) for k in range(len(palette))]
    return np.concatenate([pooled, member.mean(axis=(0, 1)), *descr])


def main(argv: list[str] | None = None) -> int:
    p = parser("demo_world_calibration", __doc__.splitlines()[0])
    p.add_argument("--world", help="an existing demo world (default: render one)")
    p.add_argument("--images", type=int, help=f"default {FULL_IMAGES}")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--quick", action="store_true", help=f"a fast check: {QUICK_IMAGES} images"
    )
    results_json = p.get_default("out")
    p.set_defaults(out=None)
    args = p.parse_args(argv)
    args.images = args.images or (QUICK_IMAGES if args.quick else FULL_IMAGES)
    # A quick run never overwrites the published figures unless asked to.
    if args.out is None:
        quick = Path(tempfile.gettempdir()) / "mmvision_bench_quick"
        quick = quick / "demo_world_calibration.json"
        args.out = str(quick) if args.quick else results_json

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.world or Path(tmp) / "world")
        if not args.world:
            t0 = time.perf_counter()
            shapes.generate(root, n_images=args.images, size=64, seed=args.seed)
            print(f"rendered {args.images} images in {time.perf_counter() - t0:.1f} s")
        gt = shapes.load_ground_truth(root)
        train = [r for r in gt if r["split"] == "train"]
        test = [r for r in gt if r["split"] == "test"]

        def texts(rows):
            return [f"{r['title']} {r['description']}" for r in rows]

        def pixels(rows):
            return np.stack(
                [
                    pixel_features(
                        root / "flickr8k" / "Flicker8k_Dataset" / f"{r['id']}.jpg"
                    )
                    for r in rows
                ]
            )

        y_tr = np.array([r["label"] for r in train])
        y_te = np.array([r["label"] for r in test])
        vec = CountVectorizer(token_pattern=r"[a-z]+", lowercase=True)
        t_tr, t_te = vec.fit_transform(texts(train)), vec.transform(texts(test))
        scaler = StandardScaler()
        p_tr = scaler.fit_transform(pixels(train))
        p_te = scaler.transform(pixels(test))

    def fit_score(x_tr, x_te) -> float:
        clf = LogisticRegression(max_iter=3000, C=0.5)
        clf.fit(x_tr, y_tr)
        return float((clf.predict(x_te) == y_te).mean())

    text_top1 = fit_score(t_tr, t_te)
    image_top1 = fit_score(p_tr, p_te)
    both_top1 = fit_score(
        sparse.hstack([t_tr, sparse.csr_matrix(p_tr)]).tocsr(),
        sparse.hstack([t_te, sparse.csr_matrix(p_te)]).tocsr(),
    )
    best = max(text_top1, image_top1)
    ok = (
        0.35 <= text_top1 <= 0.75
        and 0.35 <= image_top1 <= 0.75
        and both_top1 >= best + 0.05
    )
    print_table(
        f"demo world calibration ({len(train)} train / {len(test)} test images, "
        "logistic regression, test top-1)",
        [
            ("text (BoW title+description)", f"{text_top1:.3f}"),
            ("image (colour/shape pixels)", f"{image_top1:.3f}"),
            ("both", f"{both_top1:.3f}"),
            ("both - best single", f"{both_top1 - best:+.3f}"),
            ("within bounds", "yes" if ok else "NO"),
        ],
    )
    write_results(
        args.out,
        {
            "text_top1": text_top1,
            "image_top1": image_top1,
            "both_top1": both_top1,
            "both_minus_best": both_top1 - best,
            "within_bounds": int(ok),
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
