"""SavedModel export of a captioner run for TF Serving: image bytes in,
caption strings out."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

EXPORT_DIR = "export"


def export_captioner(
    run_dir: str | os.PathLike,
    export_dir: str | os.PathLike | None = None,
    beam: int | None = None,
) -> Path:
    """Writes a SavedModel: JPEG (or PNG) bytes in, caption strings out.

    The signature ``serving_default`` takes ``image_bytes`` (string ``[N]``)
    and returns ``{"caption": string [N], "score": float32 [N]}``. Decoding
    (``data.images.bytes_to_pixels``, the pipelines' own path), the feature
    tower and the search all run in the graph, so TF Serving (or
    ``tf.saved_model.load`` in a process that never imported mmvision)
    captions images with it. Written atomically to ``export_dir`` (default
    ``RUN/export``).
    """
    import keras
    import tensorflow as tf

    from mmvision.data import images
    from mmvision.data.text import END_ID
    from mmvision.decoding import ids_to_text
    from mmvision.inference.captioner import VOCAB_FILE, CaptionerRun
    from mmvision.utils import atomic_path

    run = CaptionerRun(run_dir)
    beam, alpha = run.beam_and_alpha(beam)
    size = run.image_size
    tower = run.tower
    tokens = tf.constant(run.vocab.tokens, tf.string)

    def serve(image_bytes):
        pixels = tf.map_fn(
            lambda b: images.bytes_to_pixels(b, size),
            image_bytes,
            fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32),
        )
        feats = tf.cast(tower(pixels, training=False), tf.float32)
        ids, score = run.search(feats, beam, alpha)
        return {"caption": ids_to_text(ids, tokens, END_ID), "score": score}

    archive = keras.export.ExportArchive()
    archive.track(run.model)
    if not run.end_to_end:
        archive.track(tower)
    archive.add_endpoint(
        "serving_default",
        serve,
        input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")],
    )
    target = Path(export_dir) if export_dir is not None else run.run_dir / EXPORT_DIR
    with atomic_path(target) as tmp:
        archive.write_out(str(tmp), verbose=False)
        shutil.copy(run.run_dir / VOCAB_FILE, Path(tmp) / VOCAB_FILE)
    return target
