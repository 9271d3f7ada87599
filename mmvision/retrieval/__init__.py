"""mmvision.retrieval: similar and divergent images by caption and image similarity.

- ``Retriever`` (``retriever.py``): build from a Manifest and a captioner run,
  ``query(Query(image=...|text=...|id=...), mode="similar"|"divergent")``,
  save/load (``store.py``);
- ``encoders.py``: caption encoders (``tfidf``, ``minilm``, ``hub:<dir>``);
  ``bleu_scorer.py``: sentence BLEU against every caption, vectorised;
- ``index.py`` + ``backends/``: the vector index (exact, FAISS, hnswlib);
- ``diversity.py``: MMR re-ranking with a user history;
- ``evaluation.py`` / ``world_report.py``: figures on a world's ground truth;
- ``nearest_caption.py``: the nearest-neighbour captioning baseline.
"""

from mmvision.retrieval.query import Query, Result, SearchResult
from mmvision.retrieval.retriever import Retriever
from mmvision.retrieval.settings import METHODS, MethodSettings, RetrievalSettings

__all__ = [
    "METHODS",
    "MethodSettings",
    "Query",
    "Result",
    "RetrievalSettings",
    "Retriever",
    "SearchResult",
]
