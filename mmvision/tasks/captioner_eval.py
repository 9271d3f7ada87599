"""Scores a captioner run on a split: beam and greedy decoding and the
nearest-neighbour baseline, with BLEU-1..4, ROUGE-L and CIDEr-D."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import numpy as np

BLEU_NOTE = (
    "BLEU-1..4 (nltk-style corpus BLEU, 0-1), ROUGE-L and CIDEr-D on "
    "mmvision.data.text.tokenize tokens (lowercase, no punctuation, one-letter "
    "words and words with digits dropped) of references and hypotheses"
)


def evaluate_captioner(
    run_dir: str | os.PathLike,
    split: str | None = None,
    beam: int | None = None,
    data_dir: str | os.PathLike | None = None,
    baselines: bool = True,
) -> dict[str, Any]:
    """Scores a run on a split and writes metrics, captions and a grid PNG.

    Keys: ``bleu1..bleu4, rouge_l, cider_d`` (beam), ``greedy_*``,
    ``nn_baseline_*`` (caption #0 of the closest training image by
    features), ``eval_images``, ``eval_skipped_images``, ``decode_seconds``.
    Writes ``metrics.json`` (merged), ``captions_<split>.jsonl`` and
    ``captions_<split>.png``.

    Raises:
        ValueError: a split without references (naming the caption file).
    """
    from mmvision.data import caption_data as cd
    from mmvision.inference.captioner import CaptionerRun
    from mmvision.metrics import caption_metrics
    from mmvision.report.captions import caption_grid
    from mmvision.retrieval.nearest_caption import nearest_neighbour_captions
    from mmvision.training import run_dir as rd
    from mmvision.utils import write_text_atomic

    run = CaptionerRun(run_dir)
    split = split or run.config.decode.eval_split
    manifest, cap_file, _ = cd.read_caption_manifest(rd.data_dir_of(run_dir, data_dir))
    rows = cd.split_rows(manifest, split, cap_file)
    cd.check_captions(rows, run.vocab, cap_file, split)
    feats = run.manifest_features(rows)
    rows = rows[rows["id"].isin(set(feats))].reset_index(drop=True)
    skipped = int((manifest["split"] == split).sum() - len(rows))
    x = np.stack([feats[i] for i in rows["id"]])
    refs = [list(c) for c in rows["captions"]]
    t0 = time.perf_counter()
    beam_caps = run.caption_features(x, beam=beam)
    decode_seconds = time.perf_counter() - t0
    greedy_caps = run.caption_features(x, beam=1)
    out: dict[str, Any] = dict(caption_metrics(refs, beam_caps))
    out.update(
        {f"greedy_{k}": v for k, v in caption_metrics(refs, greedy_caps).items()}
    )
    nn_caps = None
    if baselines:
        train = manifest[manifest["split"] == "train"].reset_index(drop=True)
        tf_ = run.manifest_features(train)
        train = train[train["id"].isin(set(tf_))].reset_index(drop=True)
        nn_caps = nearest_neighbour_captions(
            np.stack([tf_[i] for i in train["id"]]),
            [str(c[0]) if len(c) else "" for c in train["captions"]],
            x,
        )
        out.update(
            {f"nn_baseline_{k}": v for k, v in caption_metrics(refs, nn_caps).items()}
        )
    out.update(
        eval_images=len(rows),
        eval_skipped_images=skipped,
        decode_seconds=decode_seconds,
        beam_width=float(beam or run.config.decode.beam),
    )
    lines = []
    for i, ident in enumerate(rows["id"]):
        rec = {"id": str(ident), "caption": beam_caps[i], "greedy": greedy_caps[i]}
        if nn_caps is not None:
            rec["nn_baseline"] = nn_caps[i]
        rec["references"] = [str(r) for r in refs[i]]
        lines.append(json.dumps(rec))
    write_text_atomic(run.run_dir / f"captions_{split}.jsonl", "\n".join(lines) + "\n")
    n = min(run.config.decode.grid_images, len(rows))
    caption_grid(
        [
            {
                "image_path": rows["image_path"].iloc[i],
                "generated": beam_caps[i],
                "references": refs[i],
                "title": str(rows["id"].iloc[i]),
            }
            for i in range(n)
        ],
        run.run_dir / f"captions_{split}.png",
    )
    rd.write_metrics(run.run_dir, out)
    return out
