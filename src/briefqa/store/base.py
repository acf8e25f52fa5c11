"""The store interface: all that retrieval, answering, evaluation, the chat and the CLI may ask of an index.

An index lives in a *backend*, chosen by its location string:

* ``milvus://HOST:PORT/NAME`` — collection ``NAME`` of a Milvus server or cluster (:mod:`briefqa.store.milvus`);
* ``milvus-lite:PATH.db`` — an embedded milvus-lite file, for tests and laptops (the same code);
* anything else — an index directory on this machine, the ``local`` backend (:mod:`briefqa.store.local`).

Every backend stores the same things (chunks with their spans and sentence spans, a vector per chunk and per
sentence, a BM25 index over the same terms, the documents' metadata) and answers the same questions (dense
search, lexical search, both under :class:`Filters` that each backend compiles to its own form). What makes
briefqa's answers briefqa's — question analysis, fusion, reranking, citation checking — stays above this
interface, so every backend ranks the same way. Writes go through one writer (:func:`writer`) and become
visible at :meth:`Store.commit`, never half-done.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from ..errors import FilterError
from ..records import DocumentInfo, IndexInfo, Passage

#: Format 2 added the sentence vectors, format 3 segments (a commit writes only what it adds, see
#: :mod:`briefqa.store.segment`); format 1 and 2 indexes are still read (format 1's answers embed sentences at
#: question time, which is slower) and become format 3 at their next commit.
FORMAT_VERSION = 3
READABLE_FORMATS = (1, 2, 3)


class DocEntry(BaseModel):
    title: str = ""
    author: str | None = None
    source: str = ""
    published_at: str | None = None
    url: str | None = None
    fetched_at: str | None = None  # a page fetched from the web: when
    chunk_ids: list[int] = Field(default_factory=list)
    origins: list[str] = Field(default_factory=list)
    minhash: str = ""  # MinHash signature of the text's shingles (base64), for finding copies (briefqa.news.copies)
    cluster: str | None = None  # the story cluster of its wire copies and updates, named after the earliest


class FileEntry(BaseModel):
    name: str
    size: int
    sha256: str


class SegmentEntry(BaseModel):
    """One segment of a local index: its files, how many chunks it was written with, and which of them were
    removed since (tombstones, until a merge drops them)."""

    generation: int
    files: dict[str, FileEntry]
    chunks: int
    deleted: list[int] = Field(default_factory=list)


class Manifest(BaseModel):
    format_version: int = FORMAT_VERSION
    embedder: str
    dimension: int
    chunk_size: int
    chunk_overlap: int
    tokenizer: str
    index_prefix: str = "none"  # which side indexes "title | source | date" before each chunk
    lexical_stemmer: str = ""  # Snowball stemmer of the BM25 index ("" for none)
    created_at: str
    updated_at: str
    generation: int = 0
    next_chunk_id: int = 0
    files: dict[str, FileEntry] = Field(default_factory=dict)  # formats 1 and 2: the one generation's files
    segments: list[SegmentEntry] = Field(default_factory=list)  # format 3 (local backend)
    documents: dict[str, DocEntry] = Field(default_factory=dict)

    @property
    def has_sentences(self) -> bool:
        """Whether the index stores sentence vectors (format 2 on)."""
        return self.format_version >= 2


def metadata_prefix(doc: DocEntry) -> str:
    """``title | source | YYYY-MM-DD`` and a newline: what a prefixed index puts before each chunk's text."""
    return f"{doc.title} | {doc.source} | {(doc.published_at or '')[:10]}\n"


@dataclass
class ChunkRecord:
    id: int
    doc_id: str
    start: int
    end: int
    text: str
    sentences: list[list[int]] = field(default_factory=list)  # [start, end) of each sentence in ``text``
    row: int = -1  # the first of its sentences' rows in its segment's sentences-<gen>.npy


MILVUS = "milvus://"
MILVUS_LITE = "milvus-lite:"


@dataclass(frozen=True)
class Hit:
    """One search result: a chunk and its score (cosine for dense search, BM25 for lexical)."""

    chunk_id: int
    score: float


@dataclass(frozen=True)
class Filters:
    """Restrict retrieval to some publications, a publication-date range (inclusive, by day) and/or some
    documents. Each backend compiles them to its own form (chunk ids, a Milvus boolean expression)."""

    sources: tuple[str, ...] = ()
    date_from: date | None = None
    date_to: date | None = None
    doc_ids: frozenset[str] | None = None  # None: every document

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
        return bool(self.sources or self.date_from or self.date_to or self.doc_ids is not None)

    def narrowed(self, *, doc_ids: Sequence[str] | None = None, date_from: date | None = None,
                 date_to: date | None = None) -> Filters:
        """These filters and the given ones (every condition must hold)."""
        ids = self.doc_ids
        if doc_ids is not None:
            ids = frozenset(doc_ids) if ids is None else ids & frozenset(doc_ids)
        lo = max(d for d in (self.date_from, date_from) if d) if self.date_from or date_from else None
        hi = min(d for d in (self.date_to, date_to) if d) if self.date_to or date_to else None
        return Filters(self.sources, lo, hi, ids)

    @cached_property
    def source_keys(self) -> frozenset[str]:
        """The publications, case-folded, as documents are matched against them."""
        return frozenset(s.casefold() for s in self.sources)

    def admits(self, doc_id: str, doc: DocEntry) -> bool:
        """Whether the document passes (an undated document fails any date bound)."""
        if self.doc_ids is not None and doc_id not in self.doc_ids:
            return False
        if self.sources and doc.source.casefold() not in self.source_keys:
            return False
        if self.date_from or self.date_to:
            if not doc.published_at:
                return False
            day = date.fromisoformat(doc.published_at[:10])
            if (self.date_from and day < self.date_from) or (self.date_to and day > self.date_to):
                return False
        return True


class Store(ABC):
    """An index in some backend. Readers search and fetch; the one writer adds, removes and commits.

    ``manifest`` holds what the index was built with (embedder, chunking, lexical settings) and its documents;
    every backend keeps it current at each commit.
    """

    location: str
    manifest: Manifest

    # -- what is there ------------------------------------------------------------------------------------
    @property
    def documents(self) -> Mapping[str, DocEntry]:
        return self.manifest.documents

    @property
    def has_sentence_vectors(self) -> bool:
        return self.manifest.has_sentences

    @property
    @abstractmethod
    def chunk_count(self) -> int: ...

    @abstractmethod
    def chunk(self, chunk_id: int) -> ChunkRecord:
        """A chunk by id (``KeyError`` when the index has none)."""

    @abstractmethod
    def iter_chunks(self) -> Iterator[ChunkRecord]:
        """Every chunk, in no promised order (a scan: for checks and benchmarks, not for questions)."""

    def fetch(self, chunk_ids: Sequence[int]) -> None:  # noqa: B027  (a hint; the local backend needs none)
        """Hint that these chunks are about to be read: a remote backend fetches them in one round trip."""

    @abstractmethod
    def chunk_vectors(self, chunk_ids: Sequence[int]) -> np.ndarray:
        """The unit vectors of these chunks, one row each (float32)."""

    @abstractmethod
    def sentence_vectors(self, chunk_id: int) -> np.ndarray | None:
        """The unit vectors of a chunk's sentences (float32, in order), or None for a format-1 index."""

    @abstractmethod
    def idf(self, term: str) -> float:
        """log(1 + N / (1 + df)) of a term under the index's BM25 analysis."""

    def prefetch_idf(self, terms: Sequence[str]) -> None:  # noqa: B027  (a hint; the local backend needs none)
        """Hint that :meth:`idf` is about to be asked for these terms: a remote backend reads them in one round
        trip."""

    # -- searching ----------------------------------------------------------------------------------------
    @abstractmethod
    def dense_search(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> list[Hit]:
        """The ``k`` chunks nearest to a unit ``vector`` (inner product), best first."""

    @abstractmethod
    def lexical_search(self, text: str, k: int, filters: Filters | None = None) -> list[Hit]:
        """The ``k`` best BM25 matches of ``text`` with a positive score, best first."""

    def matching_documents(self, filters: Filters) -> list[str]:
        """Ids of the documents that pass ``filters`` (only those it names, when it names some: a question's
        part names a few documents of a large index)."""
        docs = self.documents
        candidates = docs if filters.doc_ids is None else filters.doc_ids
        return [d for d in candidates if d in docs and filters.admits(d, docs[d])]

    # -- changing (the writer only) -----------------------------------------------------------------------
    @abstractmethod
    def add_document(self, doc_id: str, meta: dict[str, Any], spans: list[tuple[int, int, str]],
                     vectors: np.ndarray, origins: list[str],
                     sentences: list[tuple[list[tuple[int, int]], np.ndarray]] | None = None) -> None:
        """Add a document's chunks (``spans`` in the document, their ``vectors``) and, for a format-2 index,
        each chunk's ``sentences``: their spans in the chunk's text and their vectors."""

    @abstractmethod
    def remove_document(self, doc_id: str) -> None: ...

    def set_origins(self, doc_id: str, origins: list[str]) -> None:
        """Record the files a document was read from."""
        self.update_document(doc_id, origins=sorted(origins))

    def update_document(self, doc_id: str, **fields: Any) -> None:
        """Change a document's entry (its origins, signature, cluster), not its chunks; kept at commit."""
        entry = self.manifest.documents[doc_id]
        for name, value in fields.items():
            setattr(entry, name, value)
        self._edits = getattr(self, "_edits", 0) + 1

    def set_lexical(self, index_prefix: str, stemmer: str) -> None:
        """Change what BM25 indexes (takes effect at commit)."""
        self.manifest.index_prefix, self.manifest.lexical_stemmer = index_prefix, stemmer

    def verify(self) -> None:  # noqa: B027  (the engines behind other backends check their own data)
        """Check everything stored against its checksums, however large; raise IndexDamagedError if not."""

    @abstractmethod
    def commit(self) -> None:
        """Make every change visible at once; on failure the index stays as it was."""

    # -- reading helpers shared by all backends -------------------------------------------------------------
    def lexical_text(self, chunk: ChunkRecord) -> str:
        """What BM25 indexes for a chunk: its text, after ``title | source | date`` for a prefixed index."""
        if self.manifest.index_prefix in ("lexical", "both"):
            return metadata_prefix(self.documents[chunk.doc_id]) + chunk.text
        return chunk.text

    def passage(self, chunk_id: int, score: float = 0.0) -> Passage:
        c = self.chunk(chunk_id)
        d = self.documents[c.doc_id]
        meta = {"title": d.title, "source": d.source, "published_at": d.published_at, "url": d.url,
                "author": d.author, "doc_id": c.doc_id, "chunk_id": c.id, "start": c.start, "end": c.end}
        copies = self.copies_of(c.doc_id)
        if copies:
            docs = self.documents
            meta["cluster"] = d.cluster
            meta["also_published_by"] = [{"source": docs[o].source, "published_at": docs[o].published_at,
                                          "title": docs[o].title, "url": docs[o].url, "doc_id": o}
                                         for o in copies]
        return Passage(text=c.text, metadata=meta, score=float(score))

    def state_key(self) -> tuple:
        """Changes whenever the documents do (a commit, an added or removed document, an edit): what caches of
        the document list are keyed on."""
        return (len(self.documents), self.manifest.updated_at, getattr(self, "_edits", 0))

    def derived(self, name: str, build: Callable[[], Any]) -> Any:
        """``build()``, computed once per state of the documents (see :meth:`state_key`) and kept under
        ``name``: the views of the document list that every question would otherwise rebuild."""
        cache = self.__dict__.setdefault("_derived", {})
        key = self.state_key()
        if name not in cache or cache[name][0] != key:
            cache[name] = (key, build())
        return cache[name][1]

    def clusters(self) -> dict[str, list[str]]:
        """Each story cluster's documents (two or more copies), earliest first."""
        return self.derived("clusters", self._build_clusters)

    def _build_clusters(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for doc_id, entry in self.documents.items():
            if entry.cluster:
                groups.setdefault(entry.cluster, []).append(doc_id)
        docs = self.documents
        for members in groups.values():
            members.sort(key=lambda d: (docs[d].published_at or "9999", d))
        return {k: v for k, v in groups.items() if len(v) > 1}

    def copies_of(self, doc_id: str) -> list[str]:
        """The other documents of a document's story cluster, earliest first."""
        label = self.documents[doc_id].cluster
        return [d for d in self.clusters().get(label, []) if d != doc_id] if label else []

    def sources(self) -> list[str]:
        return self.derived("sources", lambda: sorted({d.source for d in self.documents.values() if d.source}))

    def info(self, with_documents: bool = False) -> IndexInfo:
        m = self.manifest
        docs = []
        if with_documents:
            docs = [DocumentInfo(doc_id=k, title=d.title, source=d.source, published_at=d.published_at,
                                 url=d.url, chunks=len(d.chunk_ids), origins=d.origins, fetched_at=d.fetched_at)
                    for k, d in sorted(self.documents.items(), key=lambda kv: (kv[1].published_at or "", kv[1].title))]
        return IndexInfo(path=self.location, format_version=m.format_version, embedder=m.embedder,
                         dimension=m.dimension, chunk_size=m.chunk_size, chunk_overlap=m.chunk_overlap,
                         documents=len(self.documents), chunks=self.chunk_count, sources=self.sources(),
                         created_at=m.created_at, updated_at=m.updated_at, documents_list=docs, backend=self.backend,
                         segments=len(getattr(self, "segments", [None])))

    backend: str = "local"
