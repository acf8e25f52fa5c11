"""Find the passages that answer a question: dense, lexical or hybrid search, news-aware, with filters.

Everything here goes through the :class:`~briefqa.store.base.Store` interface, so every backend ranks the same
way. Filters are applied inside the backend's searches (a FAISS id selector and a bm25s weight mask locally,
a boolean expression in Milvus), not after them, so a filtered query still gets its ``k`` best passages among
the allowed ones. The same search is a LangChain
``BaseRetriever`` in :mod:`briefqa.retrieval.langchain`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import ConfigError
from ..records import Passage
from ..settings import Settings
from ..store.base import Filters, Store
from .query import Catalog, Part, QueryAnalysis, analyze

#: Half-life, in days, of a report's recency when a question asks for the latest and no time_decay_days is set.
RECENT_HALF_LIFE = 30.0

__all__ = ["CrossEncoderReranker", "Filters", "Reranker", "Retrieval", "Retriever", "rrf"]


class Reranker(Protocol):
    """Scores (question, passage) pairs; higher is more relevant. A cross-encoder is the usual one."""

    def score(self, question: str, texts: Sequence[str]) -> Sequence[float]: ...


class CrossEncoderReranker:
    """A sentence-transformers ``CrossEncoder`` loaded from a local directory (none ships in a wheel today)."""

    def __init__(self, path: str) -> None:
        from sentence_transformers import CrossEncoder

        if not Path(path).is_dir():
            raise ConfigError(f"Reranker model directory {path} does not exist; point reranker_model at a "
                              "local cross-encoder or leave it empty.")
        self.model = CrossEncoder(path, device="cpu", local_files_only=True)

    def score(self, question: str, texts: Sequence[str]) -> Sequence[float]:
        return [float(x) for x in self.model.predict([(question, t) for t in texts], show_progress_bar=False)]


@lru_cache(maxsize=2)
def cross_encoder(path: str) -> CrossEncoderReranker:
    return CrossEncoderReranker(path)


@dataclass
class Retrieval:
    """Retrieved passages with how they were found: the question analysis and each passage's ranks."""

    passages: list[Passage]
    analysis: QueryAnalysis | None
    mode: str
    timings: dict[str, float] = field(default_factory=dict)


def _day(published_at: str | None) -> date | None:
    try:
        return date.fromisoformat((published_at or "")[:10])
    except ValueError:
        return None


def rrf(rankings: Sequence[tuple[Sequence[int], float]], k: int) -> dict[int, float]:
    """Weighted reciprocal rank fusion: each ranking adds ``weight / (k + rank)`` to its items."""
    fused: dict[int, float] = {}
    for ranking, weight in rankings:
        for r, cid in enumerate(ranking, 1):
            fused[cid] = fused.get(cid, 0.0) + weight / (k + r)
    return fused


class Retriever:
    """Dense (MiniLM + FAISS), lexical (bm25s) or hybrid retrieval over one index, news-aware by default.

    Hybrid fuses the two rankings by weighted reciprocal rank (``w / (rrf_k + rank)``): it needs no score
    calibration between cosines and BM25 scores, which live on unrelated scales. With ``news_aware``, each
    report the question names (see :mod:`briefqa.retrieval.query`) is searched on its own too and fused in, and with
    two or more such reports the best passages of each are kept in the results. MMR and a reranker are
    optional last steps. Each passage's ``metadata["ranks"]`` records its ranks in every list it was in.
    """

    def __init__(self, store: Store, embedder, reranker: Reranker | None = None) -> None:
        self.store = store
        self.embedder = embedder
        self.reranker = reranker

    def retrieve(self, question: str, settings: Settings, filters: Filters | None = None,
                 k: int | None = None) -> list[Passage]:
        return self.explain(question, settings, filters, k).passages

    def _rank(self, question: str, vec, settings: Settings, n: int,
              filters: Filters | None) -> tuple[list[int], list[int]]:
        dense = [h.chunk_id for h in self.store.dense_search(vec, n, filters)] if vec is not None else []
        lexical = ([h.chunk_id for h in self.store.lexical_search(question, n, filters)]
                   if settings.retrieval_mode != "dense" else [])
        return dense, lexical

    def _weights(self, settings: Settings) -> tuple[float, float]:
        mode = settings.retrieval_mode
        return (0.0 if mode == "lexical" else settings.dense_weight,
                0.0 if mode == "dense" else settings.lexical_weight)

    def explain(self, question: str, settings: Settings, filters: Filters | None = None,
                k: int | None = None) -> Retrieval:
        """Retrieve, keeping the record of what fired: filters, parts, fallbacks, and every rank."""
        t0 = time.perf_counter()
        k = k or settings.k
        filters = filters or None
        base = filters or Filters()  # what the question's own ranges and parts narrow
        n = max(settings.candidates, k)
        needs_vec = settings.retrieval_mode != "lexical" or settings.mmr
        vec = self.embedder.encode_query(question) if needs_vec else None
        timings = {"embed": time.perf_counter() - t0}
        dvec = vec if settings.retrieval_mode != "lexical" else None
        wd, wl = self._weights(settings)

        analysis = None
        if settings.news_aware:
            analysis = self._analyze(question, filters)
            ranged = self._question_range(analysis, base)
            if ranged is not None:
                filters = base = ranged

        dense, lexical = self._rank(question, dvec, settings, n, filters)
        ranks: dict[int, dict[str, int]] = {}
        for name, ranking in (("dense", dense), ("lexical", lexical)):
            for r, cid in enumerate(ranking, 1):
                ranks.setdefault(cid, {})[name] = r
        fused = rrf([(dense, wd), (lexical, wl)], settings.rrf_k)
        part_orders = [self._part_order(question, part, base, dvec, settings, n)
                       for part in (analysis.parts if analysis else [])]
        for i, part_order in enumerate(part_orders):
            for r, cid in enumerate(part_order, 1):
                ranks.setdefault(cid, {})[f"part{i + 1}"] = r
            for cid, score in rrf([(part_order, settings.part_weight)], settings.rrf_k).items():
                fused[cid] = fused.get(cid, 0.0) + score
        order = self._distinct(sorted(fused, key=lambda c: (-fused[c], c)))
        timings["search"] = time.perf_counter() - t0 - timings["embed"]
        t1 = time.perf_counter()
        order = self._reranked(question, order, ranks, fused, settings, k)
        timings["rerank"] = time.perf_counter() - t1
        if settings.collapse_copies:
            order = self._collapse(order)
        half_life = settings.time_decay_days or (RECENT_HALF_LIFE if analysis and analysis.latest else 0.0)
        if half_life and settings.recency_weight:
            order = self._prefer_recent(order, half_life, settings)
            if analysis is not None:
                analysis.notes.append(f"newer reports preferred (half-life {half_life:g} days)")
        # Reserving each named report's passages and diversifying come after reranking, so that neither is undone.
        if len(part_orders) >= 2 and settings.part_reserve:
            order = self._reserve(order, part_orders, settings.part_reserve)
        if settings.mmr and vec is not None:
            order = self._mmr(order[:max(4 * k, 20)], vec, k, settings.mmr_lambda) + order[max(4 * k, 20):]
        self.store.fetch(order[:k])
        passages = []
        for cid in order[:k]:
            p = self.store.passage(cid, fused.get(cid, 0.0))
            p.metadata["ranks"] = ranks.get(cid, {})
            passages.append(p)
        timings["total"] = time.perf_counter() - t0
        return Retrieval(passages, analysis, settings.retrieval_mode, timings)

    def _analyze(self, question: str, filters: Filters | None) -> QueryAnalysis:
        """The question's named reports and dates, within the documents the caller's filters admit."""
        admitted = set(self.store.matching_documents(filters)) if filters else None
        catalog = self.store.derived("catalog", lambda: Catalog(self.store.documents))
        return analyze(question, self.store.documents, admitted, catalog)

    def _question_range(self, analysis: QueryAnalysis, base: Filters) -> Filters | None:
        """``base`` narrowed to the question's own date range; None when it has none, or when the range holds no
        article, which the analysis's notes then say."""
        if not (analysis.date_from or analysis.date_to):
            return None
        ranged = base.narrowed(date_from=analysis.date_from, date_to=analysis.date_to)
        if self.store.matching_documents(ranged):
            return ranged
        analysis.notes.append("the question's date range holds no article; it was not applied")
        return None

    def _part_order(self, question: str, part: Part, base: Filters, dvec: np.ndarray | None, settings: Settings,
                    n: int) -> list[int]:
        """The chunks of one named report, ranked for its own clause of the question (or the whole question)."""
        part_filters = base.narrowed(doc_ids=part.doc_ids)
        if settings.part_query == "clause" and part.text != question:
            pvec = self.embedder.encode_query(part.text) if dvec is not None else None
            pd, pl = self._rank(part.text, pvec, settings, n, part_filters)
        else:
            pd, pl = self._rank(question, dvec, settings, n, part_filters)
        wd, wl = self._weights(settings)
        part_fused = rrf([(pd, wd), (pl, wl)], settings.rrf_k)
        return self._distinct(sorted(part_fused, key=lambda c: (-part_fused[c], c)))

    def _reranked(self, question: str, order: list[int], ranks: dict, fused: dict, settings: Settings,
                  k: int) -> list[int]:
        """``order`` with its top re-ordered by the cross-encoder when one is given, else by the learned
        passage scorer when the index has sentence vectors, else unchanged."""
        reranker = self.reranker or (cross_encoder(settings.reranker_model) if settings.reranker_model else None)
        if reranker is not None:
            top = order[:max(settings.rerank_top, k)]
            self.store.fetch(top)
            scores = reranker.score(question, [self.store.chunk(c).text for c in top])
            for cid, s in zip(top, scores, strict=True):
                ranks.setdefault(cid, {})["rerank_score"] = s
            return [c for _, c in sorted(zip(scores, top, strict=True), key=lambda p: -p[0])] + order[len(top):]
        if settings.rerank and self.store.has_sentence_vectors:
            return self._rerank(question, order, ranks, fused, settings.rerank_top)
        return order

    def _rerank(self, question: str, order: list[int], ranks: dict, fused: dict, n: int) -> list[int]:
        """Re-order the top ``n`` by the learned passage scorer: how well each passage's best sentences answer
        the question, with how retrieval ranked it (see :mod:`briefqa.relevance.scorer`)."""
        from ..relevance.features import sentence_features
        from ..relevance.scorer import SentenceScorer

        top = order[:n]
        self.store.fetch(top)
        passages = []
        for cid in top:
            p = self.store.passage(cid, fused.get(cid, 0.0))
            p.metadata["ranks"] = ranks.get(cid, {})
            passages.append(p)
        cands, x = sentence_features(question, passages, self.store, self.embedder)
        scores = SentenceScorer.packaged().passage_scores(question, cands, x, passages)
        if scores is None:
            return order
        for cid, score in zip(top, scores, strict=True):
            ranks.setdefault(cid, {})["rerank_score"] = round(float(score), 3)
        return [top[i] for i in np.argsort(-scores, kind="stable")] + order[n:]

    def _distinct(self, order: list[int]) -> list[int]:
        """Drop each chunk that overlaps a better-ranked chunk of the same document.

        With ``chunk_overlap`` the index holds overlapping windows, so the best window around a passage is
        found wherever its sentences fall; showing its neighbour too would spend a result on the same sentences.
        """
        if not self.store.manifest.chunk_overlap:
            return order
        self.store.fetch(order)
        kept: list[int] = []
        spans: dict[str, list[tuple[int, int]]] = {}
        for cid in order:
            c = self.store.chunk(cid)
            taken = spans.setdefault(c.doc_id, [])
            if any(c.start < end and start < c.end for start, end in taken):
                continue
            taken.append((c.start, c.end))
            kept.append(cid)
        return kept

    def _collapse(self, order: list[int]) -> list[int]:
        """One copy per story cluster: the copy whose passage ranks best stands for the cluster (copies share
        their text, so it is the one that matched the question best), and the other copies' passages are
        dropped. Its passage's ``also_published_by`` names every other outlet and date that carried it."""
        clusters = self.store.clusters()
        if not clusters:
            return order
        self.store.fetch(order)
        docs = self.store.documents
        shown: dict[str, str] = {}
        kept: list[int] = []
        for cid in order:
            doc = self.store.chunk(cid).doc_id
            label = docs[doc].cluster
            if label in clusters and shown.setdefault(label, doc) != doc:
                continue
            kept.append(cid)
        return kept

    def _prefer_recent(self, order: list[int], half_life: float, settings: Settings) -> list[int]:
        """Re-order the top ``rerank_top`` by rank and recency: a report ``half_life`` days older than the
        newest among them counts half as recent, and a passage of full recency counts ``1 + recency_weight`` times
        the score of its rank."""
        top = order[:settings.rerank_top]
        self.store.fetch(top)
        docs = self.store.documents
        days = {c: _day(docs[self.store.chunk(c).doc_id].published_at) for c in top}
        dated = [d for d in days.values() if d is not None]
        if not dated:
            return order
        newest = max(dated)

        def score(item: tuple[int, int]) -> float:
            rank, c = item
            fresh = 0.5 ** ((newest - days[c]).days / half_life) if days[c] else 0.0
            return (1 + settings.recency_weight * fresh) / (settings.rrf_k + rank)

        ranked = sorted(enumerate(top, 1), key=lambda item: -score(item))
        return [c for _, c in ranked] + order[len(top):]

    @staticmethod
    def _reserve(order: list[int], parts: list[list[int]], per_part: int) -> list[int]:
        """Put each part's best ``per_part`` passages first, then the rest, all in ``order``'s order."""
        position = {c: i for i, c in enumerate(order)}
        chosen: list[int] = []
        ranked = [sorted((c for c in part if c in position), key=position.__getitem__) for part in parts]
        for _ in range(per_part):
            for part in ranked:
                pick = next((c for c in part if c not in chosen), None)
                if pick is not None:
                    chosen.append(pick)
        chosen.sort(key=position.__getitem__)
        taken = set(chosen)
        return chosen + [c for c in order if c not in taken]

    def _mmr(self, candidates: list[int], vec: np.ndarray, k: int, lam: float) -> list[int]:
        """Maximal marginal relevance: relevant to the question, unlike the passages already chosen."""
        if len(candidates) <= 1:
            return candidates
        vecs = self.store.chunk_vectors(candidates)
        rel = vecs @ vec
        sim = vecs @ vecs.T
        chosen: list[int] = []
        rest = list(range(len(candidates)))
        while rest and len(chosen) < k:
            div = sim[np.ix_(rest, chosen)].max(axis=1) if chosen else np.zeros(len(rest))
            best = rest[int(np.argmax(lam * rel[rest] - (1 - lam) * div))]
            chosen.append(best)
            rest.remove(best)
        return [candidates[i] for i in chosen + rest]
