"""A retrieval index on disk: one directory, written atomically.

Layout::

    INDEX/
      retriever.json   format, version, count, encoder spec and fingerprint,
                       captioner run, image source, settings
      items.jsonl      one {"id", "caption", "image_path"} per line
      encoder/         the caption encoder's state (encoder.json)
      captions/        the caption vectors (a VectorIndex directory)
      images/          the image vectors (when built with an image source)

Loading checks every part against ``retriever.json``: a missing or damaged
file, a different caption encoder or image tower, is an error naming it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mmvision.utils import atomic_path, write_json_atomic

FORMAT = "mmvision-retrieval-index"
VERSION = 1
HEADER = "retriever.json"
ITEMS = "items.jsonl"


def save(r: Any, directory: str | os.PathLike) -> None:
    """Writes retriever ``r`` to ``directory`` (replacing it atomically)."""
    directory = Path(directory)
    header = {
        "format": FORMAT,
        "version": VERSION,
        "count": len(r),
        "encoder": r.encoder.spec,
        "encoder_fingerprint": r.encoder.fingerprint(),
        "captioner": None if r.captioner is None else r.captioner.path,
        "beam": None if r.captioner is None else r.captioner.beam,
        "image_source": None
        if r.image_source is None
        else {
            "spec": r.image_source.spec,
            "name": r.image_source.name,
            "image_size": r.image_source.image_size,
            "fingerprint": r.image_source.fingerprint,
        },
        "settings": r.settings.to_dict(),
    }
    with atomic_path(directory) as tmp:
        tmp.mkdir(parents=True)
        (tmp / "encoder").mkdir()
        r.encoder.save(tmp / "encoder")
        r.caption_index.save(tmp / "captions")
        if r.image_index is not None:
            r.image_index.save(tmp / "images")
        with open(tmp / ITEMS, "w", encoding="utf-8") as f:
            for i in r.ids:
                row = {"id": i, "caption": r.captions[i], "image_path": r.paths[i]}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        write_json_atomic(tmp / HEADER, header)


def read_header(directory: str | os.PathLike) -> dict[str, Any]:
    """``retriever.json`` of an index directory (errors name the file)."""
    path = Path(directory) / HEADER
    if not path.is_file():
        raise ValueError(f"not a retrieval index: {path} is missing")
    try:
        header = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON: {e}") from None
    if header.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} header")
    if int(header.get("version", 0)) > VERSION:
        raise ValueError(
            f"{path}: format version {header['version']} is newer than this "
            f"mmvision reads ({VERSION})"
        )
    return header


def _read_items(path: Path, count: int) -> tuple[dict[str, str], dict[str, str]]:
    if not path.is_file():
        raise ValueError(f"retrieval index file {path} is missing")
    captions, paths = {}, {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                row = json.loads(line)
                captions[row["id"]] = row["caption"]
                paths[row["id"]] = row["image_path"]
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{n}: bad item line: {e}") from None
    if len(captions) != count:
        raise ValueError(
            f"{path}: {len(captions)} items but the header says {count} "
            "(truncated or edited file)"
        )
    return captions, paths


def load(
    directory: str | os.PathLike,
    factory: Any,
    captioner: Any = None,
    load_models: bool = True,
) -> Any:
    """Reads an index written by ``save``.

    Args:
        directory: the index directory.
        factory: called with the parts (``Retriever``).
        captioner: a captioner run to use instead of the stored path (it
            must have the same fingerprint).
        load_models: load the captioner run and image tower (needed for
            image queries); ``False`` for text and id queries only.

    Raises:
        ValueError: a missing or damaged file (named), a caption encoder or
            image tower whose fingerprint differs from the stored one.
    """
    from mmvision.retrieval import encoders, sources
    from mmvision.retrieval.index import VectorIndex
    from mmvision.retrieval.settings import RetrievalSettings

    directory = Path(directory)
    header = read_header(directory)
    enc = encoders.load_encoder(directory / "encoder")
    if enc.fingerprint() != header["encoder_fingerprint"]:
        raise ValueError(
            f"{directory / 'encoder'}: encoder fingerprint {enc.fingerprint()} but "
            f"{directory / HEADER} was built with {header['encoder_fingerprint']}"
        )
    cap_index = VectorIndex.load(
        directory / "captions", fingerprint=header["encoder_fingerprint"]
    )
    img_meta = header.get("image_source")
    img_index = None
    if img_meta is not None:
        img_index = VectorIndex.load(
            directory / "images", fingerprint=img_meta["fingerprint"]
        )
    captions, paths = _read_items(directory / ITEMS, int(header["count"]))
    if len(cap_index) != len(captions):
        raise ValueError(
            f"{directory / 'captions'}: {len(cap_index)} vectors for "
            f"{len(captions)} items in {directory / ITEMS}"
        )
    cap_src = img_src = None
    run = captioner or header.get("captioner")
    if load_models and run is not None:
        if isinstance(run, sources.CaptionSource):
            cap_src = run
        elif os.path.isdir(run):
            cap_src = sources.CaptionSource(run, beam=header.get("beam") or 3)
    if load_models and img_meta is not None:
        spec = img_meta["spec"]
        if spec != "array" and (spec != "captioner" or cap_src is not None):
            img_src = sources.ImageSource(spec, cap_src, img_meta.get("image_size"))
            if img_src.fingerprint != img_meta["fingerprint"]:
                raise ValueError(
                    f"{directory / HEADER}: image source {img_meta['name']} now has "
                    f"weights fingerprint {img_src.fingerprint}, the index was "
                    f"built with {img_meta['fingerprint']}"
                )
    settings = RetrievalSettings.from_dict(header.get("settings") or {})
    return factory(
        captions, paths, enc, cap_index, img_index, cap_src, img_src, settings
    )
