"""Find the passages that answer a question: dense, lexical or hybrid search, with source and date filters.

Filters are applied inside the FAISS search (an id selector), not after it, so a filtered query still gets
its ``k`` best passages among the allowed ones. :class:`IndexRetriever` exposes the same search as a
LangChain ``BaseRetriever`` for developers who build their own chains on briefqa's index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from .errors import FilterError
from .index import IndexStore
from .records import Passage
from .settings import Settings


@dataclass(frozen=True)
class Filters:
    """Restrict retrieval to some publications and/or a publication-date range (inclusive, by day)."""

    sources: tuple[str, ...] = ()
    date_from: date | None = None
    date_to: date | None = None

    @classmethod
    def of(cls, sources=None, date_from=None, date_to=None) -> Filters:
        def as_date(value, name):
            if value is None or value == "" or isinstance(value, date):
                return value or None
            try:
                return date.fromisoformat(str(value)[:10])
            except ValueError:
                raise FilterError(f"{name} '{value}' is not a date; write it as YYYY-MM-DD.") from None

        if isinstance(sources, str):
            sources = [s.strip() for s in sources.split(",") if s.strip()]
        f = cls(tuple(sources or ()), as_date(date_from, "date_from"), as_date(date_to, "date_to"))
        if f.date_from and f.date_to and f.date_from > f.date_to:
            raise FilterError(f"The date range {f.date_from} to {f.date_to} ends before it starts; "
                              "swap the dates.")
        return f

    def __bool__(self) -> bool:
        return bool(self.sources or self.date_from or self.date_to)

    def allowed_ids(self, store: IndexStore) -> np.ndarray:
        """Chunk ids of the documents that pass the filters."""
        wanted = {s.casefold() for s in self.sources}
        ids: list[int] = []
        for entry in store.manifest.documents.values():
            if wanted and entry.source.casefold() not in wanted:
                continue
            if self.date_from or self.date_to:
                if not entry.published_at:
                    continue
                day = date.fromisoformat(entry.published_at[:10])
                if (self.date_from and day < self.date_from) or (self.date_to and day > self.date_to):
                    continue
            ids.extend(entry.chunk_ids)
        return np.asarray(ids, dtype=np.int64)


class Retriever:
    """Dense (MiniLM + FAISS), lexical (bm25s) or hybrid retrieval over one index.

    Hybrid fuses the two rankings by weighted reciprocal rank (``w / (rrf_k + rank)``): it needs no score
    calibration between cosines and BM25 scores, which live on unrelated scales. Each passage's
    ``metadata["ranks"]`` records its dense and lexical ranks (1-based, absent when not in that list).
    """

    def __init__(self, store: IndexStore, embedder) -> None:
        self.store = store
        self.embedder = embedder

    def dense(self, question: str, k: int, allowed: np.ndarray | None) -> list[tuple[int, float]]:
        return self.store.search(self.embedder.encode_query(question), k, allowed)

    def lexical(self, question: str, k: int, allowed: np.ndarray | None) -> list[tuple[int, float]]:
        return self.store.lexical.search(question, k, allowed)

    def retrieve(self, question: str, settings: Settings, filters: Filters | None = None,
                 k: int | None = None) -> list[Passage]:
        k = k or settings.k
        allowed = filters.allowed_ids(self.store) if filters else None
        mode = settings.retrieval_mode
        if mode == "dense":
            hits = self.dense(question, k, allowed)
            return [self._passage(cid, score, dense=r) for r, (cid, score) in enumerate(hits, 1)]
        if mode == "lexical":
            hits = self.lexical(question, k, allowed)
            return [self._passage(cid, score, lexical=r) for r, (cid, score) in enumerate(hits, 1)]
        n = max(settings.candidates, k)
        dense_ranks = {cid: r for r, (cid, _) in enumerate(self.dense(question, n, allowed), 1)}
        lexical_ranks = {cid: r for r, (cid, _) in enumerate(self.lexical(question, n, allowed), 1)}
        fused: dict[int, float] = {}
        for ranks, weight in ((dense_ranks, settings.dense_weight), (lexical_ranks, settings.lexical_weight)):
            for cid, r in ranks.items():
                fused[cid] = fused.get(cid, 0.0) + weight / (settings.rrf_k + r)
        best = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        return [self._passage(cid, score, dense=dense_ranks.get(cid), lexical=lexical_ranks.get(cid))
                for cid, score in best]

    def _passage(self, cid: int, score: float, dense: int | None = None, lexical: int | None = None) -> Passage:
        p = self.store.passage(cid, score)
        p.metadata["ranks"] = {k: v for k, v in (("dense", dense), ("lexical", lexical)) if v is not None}
        return p


class IndexRetriever(BaseRetriever):
    """briefqa's retrieval as a LangChain retriever: ``IndexRetriever(qa=qa, k=5).invoke("question")``.

    Returns LangChain ``Document`` objects whose ``metadata`` is the passage metadata plus its ``score``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    qa: object
    k: int = 5
    sources: list[str] | None = None
    date_from: str | None = None
    date_to: str | None = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun
                                ) -> list[LCDocument]:
        passages = self.qa.retrieve(query, k=self.k, sources=self.sources, date_from=self.date_from,
                                    date_to=self.date_to)
        return [LCDocument(page_content=p.text, metadata={**p.metadata, "score": p.score}) for p in passages]
