"""Typed records passed between the pipeline's stages and returned to users.

Every result briefqa hands out is one of these dataclasses, never a positional tuple, so that callers read
``answer.citations[0].passage.metadata["title"]`` rather than remembering an order.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any


def content_id(text: str) -> str:
    """A document's identity: the same text under two paths is one document."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Document:
    """A cleaned article: ``text`` is what is chunked, ``metadata`` what every chunk inherits."""

    text: str
    title: str = ""
    author: str | None = None
    source: str = ""
    published_at: str | None = None  # ISO 8601: a date, or a date and time with offset
    url: str | None = None
    origin: str = ""  # where it was read from: a path, or path#record for JSON records
    fetched_at: str | None = None  # for a page fetched from the web: when (ISO 8601, UTC)

    @property
    def doc_id(self) -> str:
        return content_id(self.text)

    def metadata(self) -> dict[str, Any]:
        fetched = {"fetched_at": self.fetched_at} if self.fetched_at else {}
        return {"title": self.title, "author": self.author, "source": self.source,
                "published_at": self.published_at, "url": self.url, **fetched}


@dataclass(frozen=True)
class Skipped:
    """A file or record that ingest could not use, and why."""

    origin: str
    reason: str


@dataclass
class Passage:
    """A retrieved chunk. ``text`` is the chunk exactly as stored; ``metadata`` holds at least ``title``,
    ``source``, ``published_at``, ``url``, ``doc_id``, ``chunk_id`` and the chunk's ``start``/``end``
    character span in the cleaned document."""

    text: str
    metadata: dict[str, Any]
    score: float = 0.0

    @property
    def chunk_id(self) -> int:
        return int(self.metadata["chunk_id"])

    def label(self) -> str:
        """``Title — Source, date`` for display."""
        m = self.metadata
        date = (m.get("published_at") or "")[:10]
        tail = ", ".join(x for x in (m.get("source"), date) if x)
        return f"{m.get('title') or 'Untitled'}" + (f" — {tail}" if tail else "")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Citation:
    """A checked citation: marker ``[n]`` in the answer names ``passage`` (the n-th passage given)."""

    marker: int
    passage: Passage
    sentence: str = ""  # the passage sentence that best supports the answer sentence citing it

    def to_dict(self) -> dict[str, Any]:
        return {"marker": self.marker, "passage": self.passage.to_dict(), "sentence": self.sentence}


@dataclass
class AnswerSentence:
    """One sentence of the answer and the markers of the passages that support it."""

    text: str
    markers: list[int] = field(default_factory=list)
    support: float = 0.0  # best cosine between this sentence and a passage sentence

    @property
    def supported(self) -> bool:
        return bool(self.markers)


@dataclass
class Answer:
    """What :meth:`briefqa.BriefQA.ask` returns."""

    question: str
    text: str
    citations: list[Citation]
    passages: list[Passage]
    abstained: bool
    sentences: list[AnswerSentence] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    mode: str = ""
    raw: str = ""  # the generator's text before citations were checked
    dropped_markers: list[int] = field(default_factory=list)  # markers that named no given passage
    unsupported: list[str] = field(default_factory=list)  # generated sentences no passage supports, removed
    #: The span that answers a question asking for a date, number, name, place or organisation; else None.
    short_answer: str | None = None
    #: How sure the extractive answerer is that its best sentence answers (the scorer's probability).
    confidence: float = 0.0
    #: The publication date (YYYY-MM-DD) of the newest article the answer cites; None when it cites none.
    as_of: str | None = None
    #: With ``by_source``: one line per publication that covers the question, newest first.
    by_source: list[SourceLine] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question, "text": self.text, "short_answer": self.short_answer,
            "abstained": self.abstained, "confidence": self.confidence, "mode": self.mode,
            "citations": [c.to_dict() for c in self.citations],
            "sentences": [asdict(s) for s in self.sentences],
            "passages": [p.to_dict() for p in self.passages],
            "timings": self.timings, "raw": self.raw, "dropped_markers": self.dropped_markers,
            "unsupported": self.unsupported, "as_of": self.as_of,
            **({"by_source": [asdict(line) for line in self.by_source]} if self.by_source else {}),
        }


@dataclass
class SourceReport:
    """What one feed or page URL gave in an ingest: one line of its summary."""

    url: str
    added: int = 0
    updated: int = 0  # pages that changed: a new version joins the old one's story
    unchanged: int = 0
    failed: list[str] = field(default_factory=list)  # one sentence per page or feed that could not be used

    def line(self) -> str:
        line = f"{self.url}: {self.added} added, {self.updated} updated, {self.unchanged} unchanged"
        return line + "".join(f"; failed: {reason}" for reason in self.failed)

    @property
    def ok(self) -> bool:
        return bool(self.added or self.updated or self.unchanged)


@dataclass
class IngestReport:
    """What :func:`briefqa.ingest` did."""

    index: str
    documents: int = 0  # documents in the index afterwards
    chunks: int = 0  # chunks in the index afterwards
    added: int = 0
    unchanged: int = 0
    removed: int = 0
    duplicates: int = 0  # documents read under another path too, stored once
    chunks_embedded: int = 0
    clustered: int = 0  # documents that joined or left a story cluster of wire copies
    runtime: str = ""  # for a new index: the embedding runtime chosen, and how
    skipped: list[Skipped] = field(default_factory=list)
    sources: list[SourceReport] = field(default_factory=list)  # one per feed or page URL
    seconds: float = 0.0

    def summary(self) -> str:
        """One line per feed or page URL, then one for the index."""
        lines = "".join(f"{s.line()}\n" for s in self.sources)
        return lines + (f"{self.index}: {self.documents} documents, {self.chunks} chunks "
                        f"({self.added} added, {self.unchanged} unchanged, {self.removed} removed, "
                        f"{self.duplicates} duplicate, {len(self.skipped)} skipped, {self.clustered} regrouped as "
                        f"copies; {self.chunks_embedded} chunks embedded in {self.seconds:.1f}s"
                        f"{'; ' + self.runtime if self.runtime else ''})")


@dataclass
class DocumentInfo:
    """One ingested document, as listed by ``briefqa info``."""

    doc_id: str
    title: str
    source: str
    published_at: str | None
    url: str | None
    chunks: int
    origins: list[str]
    fetched_at: str | None = None  # for a page fetched from the web: when


@dataclass
class IndexInfo:
    """What ``briefqa info`` prints."""

    path: str
    format_version: int
    embedder: str
    dimension: int
    chunk_size: int
    chunk_overlap: int
    documents: int
    chunks: int
    sources: list[str]
    created_at: str
    updated_at: str
    documents_list: list[DocumentInfo] = field(default_factory=list)
    backend: str = "local"  # "local" (an index directory) or "milvus" (a Milvus server or milvus-lite file)
    segments: int = 1  # the local backend's segments (one commit's chunks each, see briefqa.store.segment)


@dataclass
class CopyDocument:
    """One copy in a story cluster, as ``briefqa info --duplicates`` lists it."""

    doc_id: str
    title: str
    source: str
    published_at: str | None
    origin: str  # the first file (or file#record) it was read from


@dataclass
class CopyCluster:
    """Wire copies and updates of one story, earliest first (``label`` is the earliest copy's id)."""

    label: str
    documents: list[CopyDocument]

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "documents": [{"title": d.title, "source": d.source,
                                                    "published_at": d.published_at, "origin": d.origin,
                                                    "doc_id": d.doc_id} for d in self.documents]}


@dataclass
class Quote:
    """A further sentence a publication's line quotes, and the passage ``[n]`` it cites."""

    sentence: str
    marker: int


@dataclass
class SourceLine:
    """What one publication said in answer to a question: its best sentence, cited, and the other sentences the
    plain answer quotes from it."""

    source: str
    published_at: str | None
    sentence: str
    marker: int  # the passage [n] it cites; 0 for a named publication with no coverage
    title: str = ""
    short_answer: str | None = None  # the span the sentence gives, when the question asks for one
    more: list[Quote] = field(default_factory=list)  # the plain answer's other sentences from this publication

    @property
    def covered(self) -> bool:
        return self.marker > 0

    @property
    def quotes(self) -> list[Quote]:
        """Everything the line quotes, each with its marker: its best sentence, then the others."""
        return [Quote(self.sentence, self.marker), *self.more]


@dataclass
class TimelineEntry:
    """One article on a story's timeline and the sentence that says what it added."""

    published_at: str | None  # None: undated (such entries come last)
    source: str
    title: str
    sentence: str
    passage: Passage
    also_published_by: list[str] = field(default_factory=list)  # "Outlet (YYYY-MM-DD)" of its other copies

    def to_dict(self) -> dict[str, Any]:
        m = self.passage.metadata
        return {"published_at": self.published_at, "source": self.source, "title": self.title,
                "sentence": self.sentence, "also_published_by": self.also_published_by,
                "undated": self.published_at is None, "url": m.get("url"), "doc_id": m.get("doc_id"),
                "chunk_id": m.get("chunk_id")}


@dataclass
class Timeline:
    """The articles on a story, oldest first, copies collapsed (what ``BriefQA.timeline`` returns)."""

    query: str
    entries: list[TimelineEntry]
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query, "entries": [e.to_dict() for e in self.entries], "notes": self.notes,
                "timings": self.timings}
