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

    @property
    def doc_id(self) -> str:
        return content_id(self.text)

    def metadata(self) -> dict[str, Any]:
        return {"title": self.title, "author": self.author, "source": self.source,
                "published_at": self.published_at, "url": self.url}


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question, "text": self.text, "short_answer": self.short_answer,
            "abstained": self.abstained, "confidence": self.confidence, "mode": self.mode,
            "citations": [c.to_dict() for c in self.citations],
            "sentences": [asdict(s) for s in self.sentences],
            "passages": [p.to_dict() for p in self.passages],
            "timings": self.timings, "raw": self.raw, "dropped_markers": self.dropped_markers,
            "unsupported": self.unsupported,
        }


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
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"{self.index}: {self.documents} documents, {self.chunks} chunks "
                f"({self.added} added, {self.unchanged} unchanged, {self.removed} removed, "
                f"{self.duplicates} duplicate, {len(self.skipped)} skipped; "
                f"{self.chunks_embedded} chunks embedded in {self.seconds:.1f}s)")


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
