"""The Retriever: similar and divergent images by caption and image similarity.

Built from a Manifest plus a captioner run (generated captions, the product
path) or given captions, optionally plus an image-embedding source (the
captioner's own tower, a classifier or embedder run, any image tower)::

    r = Retriever.build(manifest, captioner="runs/cap", image_source="captioner")
    r.query(Query(image="q.jpg"), mode="similar", k=5)
    r.query(Query(id="s0000042"), mode="divergent", method="combined")
    r.query("a red circle on stripes", history=["s0000007"], diversity=0.3)
    r.save("indexes/gallery");  Retriever.load("indexes/gallery")

Methods (``settings.METHODS``): ``caption`` (cosine of caption embeddings),
``bleu`` (sentence BLEU of the query caption against each caption),
``image`` (cosine of image embeddings) and ``combined`` (a weighted mix,
optionally requiring image agreement for caption matches). Persistence is in
``retrieval.store``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mmvision.retrieval import diversity as div
from mmvision.retrieval import selection as sel
from mmvision.retrieval.query import Query, ResolvedQuery, Result, SearchResult
from mmvision.retrieval.settings import MODES, RetrievalSettings


class Retriever:
    """Caption and image vectors of a gallery, with one ``query`` for all modes.

    Use ``Retriever.build`` or ``Retriever.load``; the constructor takes the
    parts as they are.
    """

    def __init__(
        self,
        captions: Mapping[str, str],
        paths: Mapping[str, str],
        encoder: Any,
        caption_index: Any,
        image_index: Any = None,
        captioner: Any = None,
        image_source: Any = None,
        settings: RetrievalSettings | None = None,
    ):
        self.captions = dict(captions)
        self.paths = dict(paths)
        self.encoder = encoder
        self.caption_index = caption_index
        self.image_index = image_index
        self.captioner = captioner
        self.image_source = image_source
        self.settings = settings or RetrievalSettings()
        self._bleu = None
        if image_index is not None and list(image_index.ids) != list(caption_index.ids):
            raise ValueError("caption and image indexes hold different ids")

    # ----------------------------------------------------------- building
    @classmethod
    def build(
        cls,
        manifest: Any,
        captioner: Any = None,
        captions: Mapping[str, str] | None = None,
        encoder: str | Any = "minilm",
        image_source: str | Any | None = None,
        backend: str = "exact",
        backend_options: Mapping[str, Any] | None = None,
        settings: RetrievalSettings | None = None,
        beam: int = 3,
    ) -> Retriever:
        """Captions (or takes the given captions of) ``manifest``'s images,
        embeds them and indexes them.

        Args:
            manifest: the gallery (``id``, ``image_path``).
            captioner: a captioner run directory / ``CaptionSource``.
            captions: ``{id: caption}`` instead of generating them.
            encoder: a caption encoder spec (``"minilm"``, ``"tfidf"``,
                ``"hub:<dir>"``) or an encoder; ``tfidf`` is fitted here.
            settings: the selection rules (default: ``RetrievalSettings.
                for_sources(encoder, image_source.kind)``).
            image_source: ``"captioner"``, a run directory, a tower name or an
                ``ImageSource``; ``None`` for captions only.
            backend: the vector index backend (``index.BACKENDS``).
        """
        from mmvision.retrieval import encoders, sources
        from mmvision.retrieval.index import VectorIndex

        if captioner is None and captions is None:
            raise ValueError("give a captioner run or the captions to index")
        cap_src = captioner
        if captioner is not None and not isinstance(captioner, sources.CaptionSource):
            cap_src = sources.CaptionSource(captioner, beam=beam)
        img_src = image_source
        if isinstance(image_source, str | os.PathLike):
            img_src = sources.ImageSource(os.fspath(image_source), cap_src)
        feats = None
        if captions is None:
            feats = cap_src.manifest_features(manifest)
            captions = cap_src.caption_manifest(manifest, feats)
        enc = encoders.get_encoder(encoder) if isinstance(encoder, str) else encoder
        texts = [captions[i] for i in manifest["id"] if i in captions]
        if getattr(enc, "spec", "") == "tfidf":
            enc.fit(texts)
        opts = dict(backend_options or {})
        dim = int(enc.dim)
        cap_index = VectorIndex(dim, backend, fingerprint=enc.fingerprint(), **opts)
        img_index = None
        if img_src is not None:
            img_index = VectorIndex(
                img_src.dim, backend, fingerprint=img_src.fingerprint, **opts
            )
        kind = getattr(img_src, "kind", None)
        settings = settings or RetrievalSettings.for_sources(enc.spec, kind)
        r = cls({}, {}, enc, cap_index, img_index, cap_src, img_src, settings)
        r.add(manifest, captions=captions, _features=feats)
        return r

    def add(
        self,
        manifest: Any,
        captions: Mapping[str, str] | None = None,
        image_vectors: Mapping[str, np.ndarray] | None = None,
        _features: dict[str, np.ndarray] | None = None,
    ) -> dict[str, int]:
        """Adds ``manifest``'s images without re-embedding the rest.

        ``captions`` / ``image_vectors`` (``{id: ...}``) replace the
        captioner run / image source (an index built from arrays needs them).

        Returns:
            ``{"added": n, "skipped": m}``; skipped = images that could not be
            captioned or embedded (undecodable), or ids already present.
        """
        new = manifest[~manifest["id"].isin(self.captions)]
        skipped = len(manifest) - len(new)
        if captions is None:
            if self.captioner is None:
                raise ValueError("this index has no captioner run: give captions")
            _features = self.captioner.manifest_features(new)
            captions = self.captioner.caption_manifest(new, _features)
        image_vecs = None
        if self.image_index is not None:
            if image_vectors is not None:
                from mmvision.retrieval.nearest_caption import unit_rows

                keys = [i for i in new["id"] if i in image_vectors]
                image_vecs = (
                    dict(
                        zip(keys, unit_rows(np.stack([image_vectors[i] for i in keys])))
                    )
                    if keys
                    else {}
                )
            elif self.image_source is not None:
                image_vecs = self.image_source.embed_manifest(new, _features)
            else:
                raise ValueError(
                    "this index stores image vectors but has no image source loaded: "
                    "give image_vectors"
                )
        ids = [
            i
            for i in new["id"]
            if i in captions and (image_vecs is None or i in image_vecs)
        ]
        skipped += len(new) - len(ids)
        if not ids:
            return {"added": 0, "skipped": skipped}
        paths = dict(zip(new["id"], new["image_path"]))
        self.caption_index.add(ids, self.encoder.encode([captions[i] for i in ids]))
        if self.image_index is not None:
            self.image_index.add(ids, np.stack([image_vecs[i] for i in ids]))
        for i in ids:
            self.captions[i] = str(captions[i])
            self.paths[i] = str(paths[i])
        self._bleu = None
        return {"added": len(ids), "skipped": skipped}

    def remove(self, ids: Sequence[str]) -> None:
        """Removes items by id (an unknown id is a ``KeyError`` naming it)."""
        self.caption_index.remove(ids)
        if self.image_index is not None:
            self.image_index.remove(ids)
        for i in ids:
            self.captions.pop(i)
            self.paths.pop(i)
        self._bleu = None

    def __len__(self) -> int:
        return len(self.caption_index)

    @property
    def ids(self) -> list[str]:
        return list(self.caption_index.ids)

    # ----------------------------------------------------------- scoring
    def resolve(self, query: Query | ResolvedQuery | str) -> ResolvedQuery:
        """The caption and vectors of a query (captioning an image query)."""
        if isinstance(query, ResolvedQuery):
            return query
        q = Query.of(query)
        if q.id is not None:
            if q.id not in self.captions:
                raise KeyError(f"id {q.id!r} is not in the index")
            img = None
            if self.image_index is not None:
                img = self.image_index.vectors([q.id])[0]
            cap = self.caption_index.vectors([q.id])[0]
            return ResolvedQuery(self.captions[q.id], cap, img, exclude=q.id)
        if q.text is not None:
            caption = q.text.strip()
            img = None
        else:
            if not os.path.isfile(q.image):
                raise ValueError(f"query image {q.image} does not exist")
            if self.captioner is None and self.image_source is None:
                raise ValueError(
                    "this index has no captioner run to caption a query image "
                    "and no image vectors; query by text or id"
                )
            img = None
            if self.image_source is not None:
                img = self.image_source.embed_files([q.image])[0]
            if self.captioner is None:  # an embedder-only index: image method
                return ResolvedQuery(None, None, img)
            caption = self.captioner.caption_file(q.image)
        return ResolvedQuery(caption, self.encoder.encode([caption])[0], img)

    def bleu_scorer(self) -> Any:
        from mmvision.retrieval.bleu_scorer import BleuScorer

        if self._bleu is None:
            self._bleu = BleuScorer([self.captions[i] for i in self.ids])
        return self._bleu

    def scores(
        self, rq: ResolvedQuery, method: str
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """``(score, caption_cosine, image_cosine)`` of every item, in ``ids``
        order, under ``method`` (the query's own id gets ``-inf``)."""
        st = self.settings
        st.method(method)
        cap = img = None
        if method != "image" and rq.caption is None:
            raise ValueError(
                f"method {method!r} needs a caption: this index has no captioner "
                "run to caption a query image; use method='image'"
            )
        if method in ("caption", "combined"):
            cap = self.caption_index.scores(rq.caption_vector)
        if method in ("image", "combined") or (
            method == "caption" and st.image_agreement is not None
        ):
            if self.image_index is None:
                raise ValueError(f"method {method!r} needs an index with image vectors")
            if rq.image_vector is None:
                raise ValueError(
                    f"method {method!r} needs an image or id query (a text query "
                    "has no image vector)"
                )
            img = self.image_index.scores(rq.image_vector)
        if method == "caption":
            score = cap.astype(np.float64)
        elif method == "bleu":
            score = self.bleu_scorer().score(rq.caption)
        elif method == "image":
            score = img.astype(np.float64)
        else:
            score = st.caption_weight * cap + st.image_weight * img
        score = np.asarray(score, np.float64).copy()
        if rq.exclude is not None:
            score[self.ids.index(rq.exclude)] = -np.inf
        return score, cap, img

    def default_method(self, rq: ResolvedQuery) -> str:
        if self.image_index is not None and rq.image_vector is not None:
            return "combined" if rq.caption is not None else "image"
        return "caption"

    # ----------------------------------------------------------- querying
    def query(
        self,
        query: Query | str,
        mode: str = "similar",
        k: int = 5,
        method: str | None = None,
        history: Sequence[str] | None = None,
        diversity: float | None = None,
        scores: tuple | None = None,
    ) -> SearchResult:
        """The ``k`` most similar (or divergent) items for ``query``.

        Args:
            query: a ``Query`` (image, text or id) or a caption string.
            mode: ``"similar"`` or ``"divergent"``.
            k: results wanted; more than the index holds returns all (noted).
            method: a scoring method (default: ``combined`` when the index and
                query have image vectors, else ``caption``).
            history: ids the user has seen: left out of the results and, with
                ``diversity > 0``, results close to them are pushed down
                (MMR). Unknown ids are counted and named in the notes.
            diversity: MMR weight ``1 - lambda`` (default 0.3 with a history,
                else 0).
            scores: ``self.scores(query, method)`` if already computed (an
                evaluation asks for both modes of one query), not recomputed.
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if int(k) < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        rq = self.resolve(query)
        method = method or self.default_method(rq)
        ms = self.settings.method(method)
        notes: list[str] = []
        ids = self.ids
        n_avail = len(ids) - (rq.exclude is not None)
        if k > n_avail:
            notes.append(f"k={k} is more than the {n_avail} items: returning all")
        hist_ids: list[str] = []
        if history:
            hist_ids, unknown = div.split_known(history, ids)
            if unknown:
                notes.append(
                    f"history: {len(unknown)} unknown id(s) ignored: "
                    + ", ".join(unknown[:10])
                )
        diversity = (0.3 if hist_ids else 0.0) if diversity is None else diversity
        if (
            mode == "similar"
            and method == "caption"
            and not hist_ids
            and not diversity
            and self.settings.image_agreement is None
        ):
            return sel.index_similar(self, rq, ms, int(k), n_avail, notes)
        score, cap, img = scores or self.scores(rq, method)
        score = score.copy()  # the history is masked in place below
        if hist_ids:
            score[np.isin(ids, hist_ids)] = -np.inf
        want = min(int(k), n_avail)
        pool = max(want, min(n_avail, 10 * want, 500)) if diversity else want
        cand, key, n_pass = sel.candidates(
            score, mode, ms, pool, img, self.settings.image_agreement
        )
        if n_pass < want:
            rule = sel.rule_text(mode, ms)
            notes.append(f"only {n_pass} item(s) with {rule} ({method})")
        want = min(want, n_pass)
        if diversity and len(cand):
            index = self.image_index if method == "image" else self.caption_index
            vecs = index.vectors([ids[c] for c in cand])
            hist = index.vectors(hist_ids) if hist_ids else None
            order = div.mmr(-key[cand], vecs, want, diversity, hist)
            cand = cand[order]
        cand = cand[:want]
        results = [
            Result(
                ids[c],
                float(score[c]),
                self.captions[ids[c]],
                self.paths[ids[c]],
                None if cap is None else float(cap[c]),
                None if img is None else float(img[c]),
            )  # fmt: skip
            for c in cand
        ]
        return SearchResult(results, mode, method, rq.caption, notes)

    # ----------------------------------------------------------- persistence
    def save(self, directory: str | os.PathLike) -> None:
        """Writes the index directory atomically (see ``retrieval.store``)."""
        from mmvision.retrieval import store

        store.save(self, directory)

    @classmethod
    def load(cls, directory: str | os.PathLike, **kwargs: Any) -> Retriever:
        """Reads an index directory (see ``retrieval.store.load``)."""
        from mmvision.retrieval import store

        return store.load(directory, cls, **kwargs)
