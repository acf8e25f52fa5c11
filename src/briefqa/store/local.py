"""The index on disk: segments of chunks, vectors and BM25 postings, and a manifest that ties them together.

Layout of an index directory::

    manifest.json            the commit point: format, embedder, chunking, documents, and the segments
    vectors-<gen>.faiss      one segment's files (see :mod:`briefqa.store.segment`): FAISS vectors, chunks as JSON
    chunks-<gen>.jsonl       lines with a table of where each starts, sentence vectors, and a bm25s index
    table-<gen>.npy
    sentences-<gen>.npy
    lexical-<gen>/

A commit writes one new segment with the chunks added since the last (removed chunks become tombstones in
their segments), numbered above every generation on disk so that nothing live is written over, then replaces
``manifest.json`` atomically (write aside, fsync, rename). Segments are merged when there are too many small
ones or too many removed chunks in one. A crash at any moment leaves a manifest that names complete files, so
the previous index stays readable; a full disk or a read-only directory is one
:class:`~briefqa.errors.IndexWriteError` and the same. Writers hold ``.write.lock`` (an advisory ``flock``)
from reading the manifest to committing the new one, so two processes (a CLI ingest and a chat upload)
cannot overwrite each other's documents; readers never wait and never write, so a read-only index answers
questions, and they map the segments' files instead of loading them. Files are checked against the sizes
and SHA-256 the manifest records (large ones by size at open, see :data:`briefqa.store.segment.VERIFY_LIMIT`), and
a mismatch refuses the index instead of half-reading it. Nothing is pickled.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import math
import os
import secrets
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from ..errors import IndexBusyError, IndexDamagedError, IndexMismatchError, IndexMissingError, IndexWriteError
from .base import FORMAT_VERSION, READABLE_FORMATS, ChunkRecord, DocEntry, Filters, Hit, Manifest, SegmentEntry, Store
from .segment import Segment, file_names, write_segment

MANIFEST = "manifest.json"
LOCK = ".write.lock"

def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _file_written(path: Path) -> None:
    """Called after each file or directory a save has written, before the manifest names it.

    Does nothing; the crash-safety tests replace it to stop a save at each of these points in turn.
    """


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old content or the new, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    # Mode 0o666 through os.open lets the process's umask decide the permissions, as for any other file.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # persist the rename itself; not possible on every filesystem
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def lock_or_refuse(fh, busy: str) -> None:
    """Take the exclusive lock of the open file ``fh``, held until it is closed (by a crash too, so it never goes
    stale), or raise :class:`IndexBusyError` with the sentence ``busy`` when another process holds it."""
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise IndexBusyError(busy) from None


@contextlib.contextmanager
def write_lock(path: str | Path):
    """Be the only writer of the index at ``path`` until the block ends, or raise :class:`IndexBusyError`.

    The lock is released when the holder exits, even by a crash, so it never goes stale. A directory the
    block created is removed again if nothing was committed to it.
    """
    path = Path(path)
    created = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
        fh = open(path / LOCK, "a")  # noqa: SIM115  (held for the whole block)
    except OSError as exc:
        raise write_error(path, exc) from None
    try:
        with fh:
            lock_or_refuse(fh, f"The index at {path} is being written by another briefqa process; run this again "
                               "when that one has finished.")
            yield
    finally:
        if created and not (path / MANIFEST).exists():
            shutil.rmtree(path, ignore_errors=True)


def write_error(path: Path, exc: OSError) -> IndexWriteError:
    """One sentence for an index that cannot be written, saying that nothing was lost."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return IndexWriteError(f"There is no room to write the index at {path} ({exc.strerror}); free some disk "
                               "space and run this again — the index is as it was before.")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return IndexWriteError(f"The index at {path} cannot be written ({exc.strerror}); questions still work, "
                               "but to add articles make the directory writable or choose another --index.")
    return IndexWriteError(f"Writing the index at {path} failed ({exc.strerror or exc}); the index is as it "
                           "was before; check the disk and run this again.")


def _generation_of(path: Path) -> int | None:
    stem = path.name.split(".")[0]
    tail = stem.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _live_generation(path: Path) -> int:
    """The highest generation any file in the directory carries, committed or left by a crashed save."""
    if not path.is_dir():
        return 0
    return max((g for f in path.iterdir() if (g := _generation_of(f)) is not None), default=0)


def _damaged(path: Path) -> str:
    """The sentence a damaged index raises, with ``{}`` for what is wrong."""
    return f"The index at {path} is damaged ({{}}); rebuild it with `briefqa ingest CORPUS --index {path} --rebuild`."


def _remove_generation(path: Path, gen: int) -> None:
    """Best effort: remove the files of a generation whose save failed (the manifest never named them)."""
    for name in file_names(gen):
        target = path / name
        with contextlib.suppress(OSError):
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    for tmp in path.glob(".*.tmp") if path.is_dir() else []:
        with contextlib.suppress(OSError):
            tmp.unlink()


#: A merge is due when a commit leaves more segments than this: the smallest are merged.
MAX_SEGMENTS = 12
#: How many of the smallest segments one merge takes at most.
MERGE_FACTOR = 4
#: A segment joins a merge only if it is at most this many times the size of what the merge holds already.
TIER_RATIO = 10
#: A segment whose share of removed chunks reaches this is rewritten without them.
MAX_DEAD_SHARE = 0.3
#: Parsed chunk records kept in memory per reader (the chunks of recent questions).
RECORD_CACHE = 8192


#: Below this many chunks in all, segments are searched one after another: threads would cost more than they save.
PARALLEL_MIN = 50_000


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return ThreadPoolExecutor(max(1, cores), thread_name_prefix="briefqa-segments")


def _each(work, segments: list[Segment]) -> list:
    """``work(segment)`` for every segment, side by side on the cores for a large index: BM25's postings
    arithmetic runs in numpy, which releases the GIL, so ten segments of 100,000 chunks share two cores."""
    if len(segments) < 2 or sum(len(s.ids) for s in segments) < PARALLEL_MIN:
        return [work(s) for s in segments]
    return list(_pool().map(work, segments))


class IndexStore(Store):
    """An index directory of immutable segments (see :mod:`briefqa.store.segment`), memory-mapped by readers;
    changes are held in memory until :meth:`save` commits them atomically as a new segment."""

    backend = "local"
    write_lock = staticmethod(write_lock)

    def __init__(self, path: Path, manifest: Manifest, segments: list[Segment] | None = None) -> None:
        self.path = Path(path)
        self.location = str(path)
        self.manifest = manifest
        self.segments = segments or []
        self._added: dict[int, tuple[ChunkRecord, np.ndarray, np.ndarray | None]] = {}  # since the last commit
        self._removed: set[int] = set()  # committed chunks removed since the last commit
        self._relexed = False  # what BM25 indexes changed since the last commit: every segment is rewritten
        self._cache: dict[int, tuple[Segment, ChunkRecord]] = {}
        self._last_bm25: tuple | None = None  # (question and segments, their BM25 scores): see _bm25
        self._compiled: dict[Filters, np.ndarray] = {}  # filters -> allowed chunk ids, until the next change

    # -- the Store interface ---------------------------------------------------------------------------------
    @property
    def chunk_count(self) -> int:
        return sum(len(d.chunk_ids) for d in self.manifest.documents.values())

    def _locate(self, chunk_id: int) -> tuple[Segment, int]:
        for seg in reversed(self.segments):
            i = seg.position(chunk_id)
            if i >= 0:
                return seg, i
        raise KeyError(chunk_id)

    def fetch(self, chunk_ids) -> None:
        """Start reading these committed chunks' records and sentence vectors from disk, all at once."""
        by_segment: dict[int, tuple[Segment, list[int]]] = {}
        for c in chunk_ids:
            if int(c) in self._added or int(c) in self._cache:
                continue
            with contextlib.suppress(KeyError):
                seg, i = self._locate(int(c))
                by_segment.setdefault(id(seg), (seg, []))[1].append(i)
        for seg, positions in by_segment.values():
            seg.prefetch(positions)

    def chunk(self, chunk_id: int) -> ChunkRecord:
        added = self._added.get(chunk_id)
        if added is not None:
            return added[0]
        return self._committed(chunk_id)[1]

    def _committed(self, chunk_id: int) -> tuple[Segment, ChunkRecord]:
        """A committed chunk's segment and record (parsed records are cached)."""
        hit = self._cache.get(chunk_id)
        if hit is None:
            seg, i = self._locate(chunk_id)
            if len(self._cache) >= RECORD_CACHE:
                self._cache.clear()
            self._cache[chunk_id] = hit = (seg, seg.record(i))
        return hit

    def iter_chunks(self):
        return (self.chunk(c) for c in sorted(c for d in self.manifest.documents.values() for c in d.chunk_ids))

    def chunk_vectors(self, chunk_ids) -> np.ndarray:
        rows = []
        for c in chunk_ids:
            added = self._added.get(int(c))
            rows.append(added[1] if added is not None else self._locate(int(c))[0].vectors.reconstruct(int(c)))
        return np.vstack(rows)

    def _term_stats(self, tokens) -> tuple[int, dict[str, int]]:
        """The whole index's chunk count and each token's document frequency, summed over the segments."""
        n = sum(seg.lexical.size for seg in self.segments)
        return n, {t: sum(seg.lexical.df(t) for seg in self.segments) for t in set(tokens)}

    def idf(self, term: str) -> float:
        """log(1 + N / (1 + df)) over the whole index: high for rare terms, highest for unseen ones."""
        if not self.segments:
            return 0.0
        token = self.segments[0].lexical.normal(term)
        n, df = self._term_stats([token])
        return math.log(1 + n / (1 + df[token]))

    def allowed_ids(self, filters: Filters | None) -> np.ndarray | None:
        """The chunk ids that pass ``filters`` (None for no filter): the local form of a filter."""
        if not filters:
            return None
        if filters not in self._compiled:
            if len(self._compiled) >= 256:  # each question's parts make new filters; a long-lived chat must not grow
                self._compiled.clear()
            docs = self.documents
            ids = [c for d in self.matching_documents(filters) for c in docs[d].chunk_ids]
            self._compiled[filters] = np.asarray(sorted(ids), dtype=np.int64)
        return self._compiled[filters]

    def dense_search(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> list[Hit]:
        return [Hit(c, s) for c, s in self.search(vector, k, self.allowed_ids(filters))]

    def lexical_search(self, text: str, k: int, filters: Filters | None = None) -> list[Hit]:
        """BM25 over every segment with the whole index's term statistics, best ``k`` with a positive score."""
        allowed = self.allowed_ids(filters)
        if not self.segments or k <= 0 or (allowed is not None and len(allowed) == 0):
            return []
        scored = self._bm25(text)
        if scored is None:
            return []

        def best(seg: Segment, scores: np.ndarray) -> list[tuple[float, int]]:
            keep = seg.mask(allowed)
            if keep is not None:
                scores = np.where(keep, scores, 0.0)
            top = np.flatnonzero(scores > 0)
            if len(top) > k:
                top = top[np.argpartition(-scores[top], k)[:k]]
            return [(float(scores[i]), int(seg.ids[i])) for i in top]

        hits = [h for seg, scores in zip(self.segments, scored, strict=True) for h in best(seg, scores)]
        hits.sort(key=lambda h: (-h[0], h[1]))
        return [Hit(c, s) for s, c in hits[:k]]

    def _bm25(self, text: str) -> list[np.ndarray] | None:
        """Every segment's BM25 scores for ``text`` (None when it has no indexed term). The last question's are
        kept: news-aware retrieval searches the same question again within each named report's documents,
        which only masks the same scores."""
        key = (text, tuple(seg.entry.generation for seg in self.segments))  # a commit writes new generations
        last = self._last_bm25
        if last is not None and last[0] == key:
            return last[1]
        terms = self.segments[0].lexical.tokens(text)
        if not terms:
            return None
        n, df = self._term_stats(terms)
        scored = _each(lambda seg: seg.lexical_scores(terms, df, n), self.segments)
        self._last_bm25 = (key, scored)
        return scored

    def commit(self) -> None:
        self.save()

    def sentence_vectors(self, chunk_id: int) -> np.ndarray | None:
        """The unit vectors of a chunk's sentences (float32, in order), or None for a format-1 index."""
        if not self.has_sentence_vectors:
            return None
        added = self._added.get(chunk_id)
        if added is not None:
            return added[2].astype(np.float32)
        seg, record = self._committed(chunk_id)
        return seg.sentence_rows(record)

    # -- opening ------------------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, embedder: str, dimension: int, chunk_size: int, chunk_overlap: int,
               tokenizer: str, index_prefix: str = "none", lexical_stemmer: str = "") -> IndexStore:
        now = _now()
        manifest = Manifest(embedder=embedder, dimension=dimension, chunk_size=chunk_size,
                            chunk_overlap=chunk_overlap, tokenizer=tokenizer, index_prefix=index_prefix,
                            lexical_stemmer=lexical_stemmer,
                            created_at=now, updated_at=now)
        return cls(Path(path), manifest)

    @staticmethod
    def exists(path: str | Path) -> bool:
        return (Path(path) / MANIFEST).is_file()

    @classmethod
    def read_manifest(cls, path: str | Path) -> Manifest:
        path = Path(path)
        mpath = path / MANIFEST
        if not mpath.is_file():
            raise IndexMissingError(f"No index at {path}; build one with `briefqa ingest CORPUS --index {path}`.")
        try:
            manifest = Manifest.model_validate_json(mpath.read_bytes())
        except (ValidationError, ValueError):
            raise IndexDamagedError(f"The index manifest {mpath} is damaged; rebuild the index with "
                                    f"`briefqa ingest CORPUS --index {path} --rebuild`.") from None
        if manifest.format_version not in READABLE_FORMATS:
            raise IndexMismatchError(f"The index at {path} has format {manifest.format_version}, this briefqa "
                                     f"reads formats {', '.join(map(str, READABLE_FORMATS))}; rebuild it with "
                                     "`briefqa ingest --rebuild`.")
        return manifest

    @classmethod
    def open(cls, path: str | Path, embedder: str | None = None) -> IndexStore:
        """Open and check an index; refuse it when damaged or built with another ``embedder``."""
        path = Path(path)
        manifest = cls.read_manifest(path)
        if embedder is not None and manifest.embedder != embedder:
            raise IndexMismatchError(f"The index at {path} was built with embedder {manifest.embedder}, not "
                                     f"{embedder}; rebuild it with `briefqa ingest CORPUS --index {path} "
                                     "--rebuild`.")
        damaged = _damaged(path)
        live = sum(len(d.chunk_ids) for d in manifest.documents.values())
        args = (manifest.dimension, manifest.has_sentences, manifest.lexical_stemmer, damaged)
        entries = manifest.segments
        if not entries and manifest.files:  # written before segments: one generation of exactly the live chunks
            entries = [SegmentEntry(generation=manifest.generation, files=manifest.files, chunks=live)]
        segments = [Segment.open(path, e, *args) for e in entries]
        alive = sum(len(s.ids) - len(s.dead) for s in segments)
        if alive != live:
            raise IndexDamagedError(damaged.format(f"{alive} chunks in the segments, {live} expected"))
        return cls(path, manifest, segments)

    def verify(self) -> None:
        """Check every file against its checksum, however large (opening checks the large ones by size)."""
        for seg in self.segments:
            seg.verify(_damaged(self.path))

    # -- changing -----------------------------------------------------------------------------------------
    def add_document(self, doc_id: str, meta: dict[str, Any], spans: list[tuple[int, int, str]],
                     vectors: np.ndarray, origins: list[str],
                     sentences: list[tuple[list[tuple[int, int]], np.ndarray]] | None = None) -> None:
        """Add a document's chunks (``spans`` in the document, their ``vectors``) and, for a format-2 index,
        each chunk's ``sentences``: their spans in the chunk's text and their vectors. A document already in
        the index is replaced."""
        if self.has_sentence_vectors and (sentences is None or len(sentences) != len(spans)):
            raise ValueError("a format-2 index needs the sentences of every chunk")
        if doc_id in self.manifest.documents:  # a replacement: the old chunks must not linger
            self.remove_document(doc_id)
        ids = list(range(self.manifest.next_chunk_id, self.manifest.next_chunk_id + len(spans)))
        self.manifest.next_chunk_id += len(spans)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(spans), -1) if len(spans) else vectors
        for j, (cid, (start, end, text)) in enumerate(zip(ids, spans, strict=True)):
            record = ChunkRecord(cid, doc_id, start, end, text)
            sv = None
            if self.has_sentence_vectors:
                record.sentences = [[a, b] for a, b in sentences[j][0]]
                sv = np.asarray(sentences[j][1], dtype=np.float16)
            self._added[cid] = (record, vectors[j], sv)
        self.manifest.documents[doc_id] = DocEntry(**meta, chunk_ids=ids, origins=sorted(set(origins)))
        self._changed()

    def remove_document(self, doc_id: str) -> None:
        entry = self.manifest.documents.pop(doc_id)
        self._changed()
        for cid in entry.chunk_ids:
            if self._added.pop(cid, None) is None:
                self._removed.add(cid)
            self._cache.pop(cid, None)

    def set_lexical(self, index_prefix: str, stemmer: str) -> None:
        """Change what BM25 indexes; the next commit rewrites every segment's postings with it."""
        m = self.manifest
        self._relexed |= (index_prefix, stemmer) != (m.index_prefix, m.lexical_stemmer)
        super().set_lexical(index_prefix, stemmer)

    def _changed(self) -> None:
        # Caches of the document list (compiled filters here; clusters, sources, the question catalog above)
        # are keyed on state_key(), which the edit count keeps honest between commits.
        self._compiled.clear()
        self._edits = getattr(self, "_edits", 0) + 1

    def save(self) -> None:
        """Commit: write a segment of the added chunks (and merge segments when due), then atomically point
        the manifest at the new set, then drop the files it no longer names.

        Raises :class:`IndexWriteError` when the disk is full or the directory read-only; the index on disk
        is then exactly as it was, and this store keeps its unsaved changes.
        """
        gen = max(self.manifest.generation, _live_generation(self.path)) + 1
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            last = self._write_segments(gen)
        except OSError as exc:
            for g in range(gen, _live_generation(self.path) + 1):
                _remove_generation(self.path, g)
            raise write_error(self.path, exc) from None
        self._drop_stale({s.entry.generation for s in self.segments} | {last})

    def _write_segments(self, gen: int) -> int:
        """Write the new segment and any merge, then the manifest; return the last generation used."""
        entries = [e.model_copy(update={"deleted": sorted(set(e.deleted) | (self._removed & set(s.ids.tolist())))})
                   if self._removed else e for s, e in ((s, s.entry) for s in self.segments)]
        plan = [Written(e, s) for e, s in zip(entries, self.segments, strict=True)]
        if self._added:
            records = [self._added[c][0] for c in sorted(self._added)]
            plan.append(Written(self._write(gen, records, [self._added[c.id][1] for c in records],
                                            [self._added[c.id][2] for c in records]), None))
            gen += 1
        merge = list(range(len(plan))) if self._relexed else _merge_plan([p.entry for p in plan])
        if merge:
            merged = self._merge([plan[i] for i in merge], gen)
            plan = [p for i, p in enumerate(plan) if i not in merge] + ([Written(merged, None)] if merged else [])
            gen += 1
        m = self.manifest
        new_manifest = m.model_copy(update={
            "generation": gen - 1 if gen - 1 > m.generation else m.generation, "files": {},
            "segments": [p.entry for p in plan], "updated_at": _now(),
            "format_version": FORMAT_VERSION if m.has_sentences else m.format_version})
        atomic_write(self.path / MANIFEST, new_manifest.model_dump_json(indent=1).encode("utf-8"))
        _file_written(self.path / MANIFEST)
        self._reopen(new_manifest, plan)
        return new_manifest.generation

    def _write(self, gen: int, records: list[ChunkRecord], vectors: list[np.ndarray],
               sentences: list[np.ndarray | None]) -> SegmentEntry:
        matrix = np.vstack(vectors) if vectors else np.zeros((0, self.manifest.dimension), dtype=np.float32)
        return write_segment(self.path, gen, records, matrix, sentences if self.has_sentence_vectors else None,
                             [self.lexical_text(c) for c in records], self.manifest.lexical_stemmer,
                             atomic_write, _file_written)

    def _merge(self, parts: list[Written], gen: int) -> SegmentEntry | None:
        """One segment of the live chunks of ``parts`` (each already written, or opened); None when none lives."""
        records, vectors, sentences = [], [], []
        for p in parts:
            seg = p.segment or Segment.open(self.path, p.entry, self.manifest.dimension, self.has_sentence_vectors,
                                            self.manifest.lexical_stemmer, _damaged(self.path))
            dead = set(p.entry.deleted)
            matrix = seg.all_vectors()
            for i, c in enumerate(seg.records()):
                if c.id in dead:
                    continue
                records.append(replace(c))  # writing sets .row: a failed merge must not touch the open segment
                vectors.append(matrix[i])
                sentences.append(np.asarray(seg.sentences[c.row:c.row + len(c.sentences)], dtype=np.float16)
                                 if self.has_sentence_vectors else None)
        if not records:
            return None
        order = np.argsort([c.id for c in records], kind="stable")
        return self._write(gen, [records[i] for i in order], [vectors[i] for i in order],
                           [sentences[i] for i in order])

    def _reopen(self, manifest: Manifest, plan: list[Written]) -> None:
        """Read the committed state back: new segments mapped from disk, the others with their tombstones."""
        args = (manifest.dimension, manifest.has_sentences, manifest.lexical_stemmer, _damaged(self.path))
        segments = []
        for p in plan:
            if p.segment is not None:
                p.segment.set_entry(p.entry)  # its tombstones may have grown
                segments.append(p.segment)
            else:
                segments.append(Segment.open(self.path, p.entry, *args))
        self.manifest, self.segments = manifest, segments
        self._added, self._removed, self._cache, self._relexed = {}, set(), {}, False

    def _drop_stale(self, live: set[int]) -> None:
        """Drop what the manifest no longer names: merged segments and leftovers of crashed saves."""
        for stale in self.path.iterdir():
            old = (stale.name.startswith(("vectors-", "chunks-", "table-", "sentences-", "lexical-"))
                   and _generation_of(stale) not in live)
            if old or (stale.name.startswith(".") and stale.name.endswith(".tmp")):
                with contextlib.suppress(OSError):
                    if stale.is_dir():
                        shutil.rmtree(stale)
                    else:
                        stale.unlink()

    # -- reading ------------------------------------------------------------------------------------------
    def search(self, vector: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """(chunk id, cosine) of the ``k`` nearest committed chunks, optionally only among ``allowed`` ids."""
        if k <= 0 or (allowed is not None and len(allowed) == 0):
            return []
        query = np.ascontiguousarray(vector.reshape(1, -1), dtype=np.float32)
        allowed = None if allowed is None else np.asarray(allowed, dtype=np.int64)
        hits = [h for seg in self.segments for h in seg.dense(query, k, allowed)]
        hits.sort(key=lambda h: (-h[1], h[0]))
        return hits[:k]


@dataclass
class Written:
    """A segment of the commit being written: its entry, and the opened segment when it was already there."""

    entry: SegmentEntry
    segment: Segment | None


def _merge_plan(entries: list[SegmentEntry]) -> list[int]:
    """Which segments to merge: those with too many removed chunks, and the smallest when there are too many.

    Merging costs a rewrite of what it merges, so a merge takes the smallest segments and stops before one
    more than :data:`TIER_RATIO` times all it has taken so far (Lucene's tiered policy, simplified): small
    commits merge with each other, a large segment is rewritten only when a third of it is dead.
    """
    def live(i: int) -> int:
        return entries[i].chunks - len(entries[i].deleted)

    chosen = {i for i, e in enumerate(entries) if e.chunks and len(e.deleted) / e.chunks >= MAX_DEAD_SHARE}
    if len(entries) - max(0, len(chosen) - 1) > MAX_SEGMENTS:
        order = sorted((i for i in range(len(entries)) if i not in chosen), key=live)
        taken = order[:2]
        for i in order[2:MERGE_FACTOR]:
            if live(i) > TIER_RATIO * max(1, sum(live(j) for j in taken)):
                break
            taken.append(i)
        chosen |= set(taken)
    return sorted(chosen)
