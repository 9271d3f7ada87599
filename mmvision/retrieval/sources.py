"""Where a retriever's captions and image embeddings come from.

- ``CaptionSource``: a captioner run that captions a Manifest's images (the
  product path: generated captions) or image files (an image query).
- ``ImageSource``: image embeddings from ``"captioner"`` (the captioner run's
  own feature tower), an embedder run (its whole image -> unit vector
  model), any other run directory with an ``image_tower`` layer (a
  classifier, a caption-word tower) or an image tower name.

Vectors are L2-normalised rows. Each source has a ``fingerprint`` that a
saved index keeps, so an index is never queried with another model.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from mmvision.retrieval.nearest_caption import unit_rows


class CaptionSource:
    """Captions images with a captioner run (beam search by default).

    Args:
        run: a captioner run directory or a loaded ``CaptionerRun``.
        beam: beam width (1 = greedy).
    """

    def __init__(self, run: Any, beam: int = 3):
        from mmvision.inference.captioner import CaptionerRun

        self.run = run if isinstance(run, CaptionerRun) else CaptionerRun(run)
        self.beam = int(beam)
        self.path = str(self.run.run_dir.resolve())
        self.fingerprint = str(self.run.info.get("vocab_fingerprint", "")) + str(
            self.run.info.get("feature_fingerprint", "")
        )

    def manifest_features(self, manifest: Any) -> dict[str, np.ndarray]:
        """The captioner's tower features of ``manifest`` (undecodable images
        skipped; the feature cache is used)."""
        return self.run.manifest_features(manifest)

    def caption_manifest(
        self, manifest: Any, features: dict[str, np.ndarray] | None = None
    ) -> dict[str, str]:
        """``{id: generated caption}`` for every decodable image of ``manifest``."""
        feats = self.manifest_features(manifest) if features is None else features
        ids = [i for i in manifest["id"] if i in feats]
        if not ids:
            return {}
        caps = self.run.caption_features(np.stack([feats[i] for i in ids]), self.beam)
        return dict(zip(ids, caps))

    def caption_file(self, path: str | os.PathLike) -> str:
        """The caption of one image file.

        Raises:
            ValueError: the file cannot be read or decoded (named).
        """
        from mmvision.inference.captioner import caption_images

        (res,) = caption_images(self.run, [path], beam=self.beam)
        if res.error:
            raise ValueError(res.error)
        return str(res.caption)


class ImageSource:
    """Unit image embeddings from a captioner's tower, a run or a tower name.

    Args:
        spec: ``"captioner"``, a run directory, or an image tower name.
        captioner: the ``CaptionSource`` (needed for ``"captioner"``).
        image_size: input side for a tower name (default: the captioner
            run's).
    """

    def __init__(
        self,
        spec: str,
        captioner: CaptionSource | None = None,
        image_size: int | None = None,
    ):
        from mmvision.inference.features import load_vector_source, weights_fingerprint

        self.spec = os.fspath(spec)
        self.captioner = captioner
        #: what the vectors are (``settings.IMAGE_KINDS``): the defaults of
        #: the selection rules depend on it.
        self.kind = "tower"
        if self.spec == "captioner":
            self.kind = "captioner"
            if captioner is None:
                raise ValueError("image source 'captioner' needs a captioner run")
            run = captioner.run
            self.tower, self.image_size = run.tower, run.image_size
            self.name = f"captioner:{captioner.path}"
        else:
            if os.path.isdir(self.spec):
                from mmvision.inference.towers import run_task

                self.spec = os.path.abspath(self.spec)
                self.kind = "embedder" if run_task(self.spec) == "embedder" else "run"
            elif image_size is None and captioner is not None:
                image_size = captioner.run.image_size
            self.tower, self.image_size, self.name = load_vector_source(
                self.spec, image_size
            )
        self.fingerprint = weights_fingerprint(self.tower)
        self.dim = int(self.tower.output_shape[-1])

    def embed_manifest(
        self, manifest: Any, features: dict[str, np.ndarray] | None = None
    ) -> dict[str, np.ndarray]:
        """``{id: unit vector}`` of ``manifest``'s decodable images."""
        if self.spec == "captioner":
            feats = (
                self.captioner.manifest_features(manifest)
                if features is None
                else features
            )
        else:
            from mmvision.inference.features import extract_features

            ids, vecs = extract_features(manifest, self.tower, self.image_size)
            feats = dict(zip(ids, vecs))
        if not feats:
            return {}
        keys = list(feats)
        vecs = unit_rows(np.stack([feats[i] for i in keys]))
        return dict(zip(keys, vecs))

    def embed_files(self, paths: Sequence[str | os.PathLike]) -> np.ndarray:
        """``[len(paths), D]`` unit embeddings of image files.

        Raises:
            ValueError: a file cannot be read or decoded (named).
        """
        from mmvision.data import images

        pixels = []
        for p in paths:
            try:
                pixels.append(images.file_to_pixels(os.fspath(p), self.image_size))
            except images.ImageDecodeError as err:
                raise ValueError(
                    f"cannot embed {os.fspath(p)}: {err.reason}: {err.detail}"
                ) from None
            except OSError as err:
                raise ValueError(f"cannot embed {os.fspath(p)}: {err}") from None
        out = np.asarray(self.tower(np.stack(pixels).astype(np.float32)), np.float32)
        return unit_rows(out)


class ArraySource:
    """Image vectors computed elsewhere (``{id: vector}``), e.g. exported by
    an embedder; id and text queries work, image-file queries do not.

    Args:
        vectors: ``{id: vector}`` (normalised here).
        name: a label kept in the index header.
        kind: what the vectors are (``settings.IMAGE_KINDS``), e.g.
            ``"embedder"`` for an embedder's exported vectors: it picks the
            index's default selection rules.
    """

    spec = "array"
    image_size = None

    def __init__(
        self, vectors: dict[str, np.ndarray], name: str = "array", kind: str = "array"
    ):
        from mmvision.retrieval.settings import check_image_kind
        from mmvision.utils import stable_hash

        check_image_kind(kind)
        self.kind = kind
        keys = list(vectors)
        if not keys:
            raise ValueError("ArraySource needs at least one vector")
        mat = unit_rows(np.stack([np.asarray(vectors[i], np.float32) for i in keys]))
        self.vectors = dict(zip(keys, mat))
        self.dim = int(mat.shape[1])
        self.name = name
        self.fingerprint = stable_hash(name, self.dim)

    def embed_manifest(self, manifest: Any, features: Any = None) -> dict:
        return {i: self.vectors[i] for i in manifest["id"] if i in self.vectors}

    def embed_files(self, paths: Sequence[str | os.PathLike]) -> np.ndarray:
        raise ValueError(
            f"the image vectors of this index ({self.name}) were given as arrays: "
            "there is no model to embed an image file; query by id or text"
        )
