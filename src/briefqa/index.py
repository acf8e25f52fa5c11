"""The index on disk: FAISS vectors, chunks as JSON lines, and a manifest that ties them together.

Layout of an index directory::

    manifest.json            the commit point: format, embedder, chunking, documents, and the data files
    vectors-<gen>.faiss      FAISS IndexIDMap2(IndexFlatIP), ids = chunk ids
    chunks-<gen>.jsonl       one chunk a line: id, doc_id, start, end, text, its sentences' spans, their row
    sentences-<gen>.npy      a float16 vector per sentence of every chunk, pooled from the chunk's own pass
    lexical-<gen>/           the bm25s index over the same chunks, in chunk-id order (JSON and .npy)

A save writes new ``<gen>`` files beside the old ones, numbered above every generation on disk (so a rebuild
never writes over the live files), then replaces ``manifest.json`` atomically (write aside, fsync, rename).
A crash at any moment leaves a manifest that names complete files, so the previous index stays readable; a
full disk or a read-only directory is one :class:`~briefqa.errors.IndexWriteError` and the same. Writers
hold ``.write.lock`` (an advisory ``flock``) from reading the manifest to committing the new one, so two
processes (a CLI ingest and a chat upload) cannot overwrite each other's documents; readers never wait and
never write, so a read-only index answers questions. Files are checked against the sizes and SHA-256 the
manifest records, and a mismatch refuses the index instead of half-reading it. Nothing is pickled.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import json
import os
import secrets
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from .errors import IndexBusyError, IndexDamagedError, IndexMismatchError, IndexMissingError, IndexWriteError
from .lexical import LexicalIndex
from .store import (
    READABLE_FORMATS,
    ChunkRecord,
    DocEntry,
    FileEntry,
    Filters,
    Hit,
    Manifest,
    Store,
)

MANIFEST = "manifest.json"
LOCK = ".write.lock"

def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise IndexBusyError(f"The index at {path} is being written by another briefqa process; run this "
                                     "again when that one has finished.") from None
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


def _remove_generation(path: Path, gen: int) -> None:
    """Best effort: remove the files of a generation whose save failed (the manifest never named them)."""
    for name in (f"vectors-{gen}.faiss", f"chunks-{gen}.jsonl", f"sentences-{gen}.npy", f"lexical-{gen}"):
        target = path / name
        with contextlib.suppress(OSError):
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    for tmp in path.glob(".*.tmp") if path.is_dir() else []:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _load_sentences(path: Path, manifest: Manifest, chunks: dict[int, ChunkRecord], damaged: str) -> np.ndarray:
    """The sentence vectors, memory-mapped, checked against the chunks' sentence counts and rows."""
    try:
        matrix = np.load(path / manifest.files["sentences"].name, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        raise IndexDamagedError(damaged.format("the sentence vectors cannot be read")) from None
    total = sum(len(c.sentences) for c in chunks.values())
    rows_ok = all(c.row >= 0 and c.row + len(c.sentences) <= len(matrix) for c in chunks.values() if c.sentences)
    if matrix.ndim != 2 or matrix.shape != (total, manifest.dimension) or not rows_ok:
        raise IndexDamagedError(damaged.format(f"{matrix.shape[0]} sentence vectors for {total} sentences"))
    return matrix


def _new_faiss(dimension: int):
    import faiss

    return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))


class IndexStore(Store):
    """An index directory, loaded in memory (sentence vectors memory-mapped); :meth:`save` commits changes
    atomically."""

    backend = "local"
    write_lock = staticmethod(write_lock)

    def __init__(self, path: Path, manifest: Manifest, chunks: dict[int, ChunkRecord], vectors,
                 lexical: LexicalIndex | None = None, sentences: np.ndarray | None = None) -> None:
        self.path = Path(path)
        self.location = str(path)
        self.manifest = manifest
        self.chunks = chunks
        self.vectors = vectors  # faiss index
        self.lexical = lexical or LexicalIndex.build([], [])
        self._sentences = sentences  # the saved sentence vectors (memory-mapped), rows as ChunkRecord.row says
        self._added_sentences: dict[int, np.ndarray] = {}  # those of chunks added since
        self._compiled: dict[Filters, np.ndarray] = {}  # filters -> allowed chunk ids, until the next change

    # -- the Store interface ---------------------------------------------------------------------------------
    @property
    def chunk_count(self) -> int:
        return len(self.chunks)

    def chunk(self, chunk_id: int) -> ChunkRecord:
        return self.chunks[chunk_id]

    def iter_chunks(self):
        return iter(self.chunks.values())

    def chunk_vectors(self, chunk_ids) -> np.ndarray:
        return np.vstack([self.vectors.reconstruct(int(c)) for c in chunk_ids])

    def idf(self, term: str) -> float:
        return self.lexical.idf(term)

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
        allowed = self.allowed_ids(filters)
        if allowed is not None and len(allowed) == 0:
            return []
        return [Hit(c, s) for c, s in self.lexical.search(text, k, allowed)]

    def commit(self) -> None:
        self.save()

    def sentence_vectors(self, chunk_id: int) -> np.ndarray | None:
        """The unit vectors of a chunk's sentences (float32, in order), or None for a format-1 index."""
        if not self.has_sentence_vectors:
            return None
        added = self._added_sentences.get(chunk_id)
        if added is not None:
            return added.astype(np.float32)
        c = self.chunks[chunk_id]
        return np.asarray(self._sentences[c.row:c.row + len(c.sentences)], dtype=np.float32)

    # -- opening ------------------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, embedder: str, dimension: int, chunk_size: int, chunk_overlap: int,
               tokenizer: str, index_prefix: str = "none", lexical_stemmer: str = "") -> IndexStore:
        now = _now()
        manifest = Manifest(embedder=embedder, dimension=dimension, chunk_size=chunk_size,
                            chunk_overlap=chunk_overlap, tokenizer=tokenizer, index_prefix=index_prefix,
                            lexical_stemmer=lexical_stemmer,
                            created_at=now, updated_at=now)
        return cls(Path(path), manifest, {}, _new_faiss(dimension))

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
        """Load and verify an index; refuse it when damaged or built with another ``embedder``."""
        import faiss

        path = Path(path)
        manifest = cls.read_manifest(path)
        if embedder is not None and manifest.embedder != embedder:
            raise IndexMismatchError(f"The index at {path} was built with embedder {manifest.embedder}, not "
                                     f"{embedder}; rebuild it with `briefqa ingest CORPUS --index {path} "
                                     "--rebuild`.")
        damaged = (f"The index at {path} is damaged ({{}}); rebuild it with "
                   f"`briefqa ingest CORPUS --index {path} --rebuild`.")
        for role in ("vectors", "chunks", "lexical", *(["sentences"] if manifest.has_sentences else [])):
            if not any(r == role or r.startswith(role + "/") for r in manifest.files):
                raise IndexDamagedError(damaged.format(f"the manifest names no {role} file"))
        for entry in manifest.files.values():
            fpath = path / entry.name
            if not fpath.is_file():
                raise IndexDamagedError(damaged.format(f"{entry.name} is missing"))
            if fpath.stat().st_size != entry.size or _sha256(fpath) != entry.sha256:
                raise IndexDamagedError(damaged.format(f"{entry.name} does not match its checksum"))
        try:
            vectors = faiss.read_index(str(path / manifest.files["vectors"].name))
        except RuntimeError:
            raise IndexDamagedError(damaged.format("the FAISS file cannot be read")) from None
        chunks: dict[int, ChunkRecord] = {}
        try:
            with (path / manifest.files["chunks"].name).open(encoding="utf-8") as fh:
                for line in fh:
                    rec = ChunkRecord(**json.loads(line))
                    chunks[rec.id] = rec
        except (ValueError, TypeError):
            raise IndexDamagedError(damaged.format("the chunks file cannot be parsed")) from None
        try:
            lexical = LexicalIndex.load(path / manifest.lexical_dir, sorted(chunks), manifest.lexical_stemmer)
        except (OSError, ValueError, KeyError):
            raise IndexDamagedError(damaged.format("the lexical index cannot be read")) from None
        expected = sum(len(d.chunk_ids) for d in manifest.documents.values())
        if (vectors.ntotal != len(chunks) or len(chunks) != expected or vectors.d != manifest.dimension
                or lexical.size != len(chunks)):
            raise IndexDamagedError(damaged.format(
                f"{vectors.ntotal} vectors, {lexical.size} lexical entries, {len(chunks)} chunks, {expected} expected"))
        sentences = _load_sentences(path, manifest, chunks, damaged) if manifest.has_sentences else None
        return cls(path, manifest, chunks, vectors, lexical, sentences)

    # -- changing -----------------------------------------------------------------------------------------
    def add_document(self, doc_id: str, meta: dict[str, Any], spans: list[tuple[int, int, str]],
                     vectors: np.ndarray, origins: list[str],
                     sentences: list[tuple[list[tuple[int, int]], np.ndarray]] | None = None) -> None:
        """Add a document's chunks (``spans`` in the document, their ``vectors``) and, for a format-2 index,
        each chunk's ``sentences``: their spans in the chunk's text and their vectors."""
        if self.has_sentence_vectors and (sentences is None or len(sentences) != len(spans)):
            raise ValueError("a format-2 index needs the sentences of every chunk")
        ids = np.arange(self.manifest.next_chunk_id, self.manifest.next_chunk_id + len(spans), dtype=np.int64)
        self.manifest.next_chunk_id += len(spans)
        if len(spans):
            self.vectors.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
        for j, (cid, (start, end, text)) in enumerate(zip(ids.tolist(), spans, strict=True)):
            record = ChunkRecord(cid, doc_id, start, end, text)
            if self.has_sentence_vectors:
                record.sentences = [[a, b] for a, b in sentences[j][0]]
                self._added_sentences[cid] = np.asarray(sentences[j][1], dtype=np.float16)
            self.chunks[cid] = record
        self.manifest.documents[doc_id] = DocEntry(**meta, chunk_ids=ids.tolist(), origins=sorted(set(origins)))
        self._compiled.clear()

    def remove_document(self, doc_id: str) -> None:
        entry = self.manifest.documents.pop(doc_id)
        self._compiled.clear()
        if entry.chunk_ids:
            self.vectors.remove_ids(np.asarray(entry.chunk_ids, dtype=np.int64))
        for cid in entry.chunk_ids:
            self.chunks.pop(cid, None)
            self._added_sentences.pop(cid, None)

    def save(self) -> None:
        """Commit: write new data files, then atomically point the manifest at them, then drop old files.

        Raises :class:`IndexWriteError` when the disk is full or the directory read-only; the index on disk
        is then exactly as it was, and this store keeps its unsaved changes.
        """
        gen = max(self.manifest.generation, _live_generation(self.path)) + 1
        try:
            self._write_generation(gen)
        except OSError as exc:
            _remove_generation(self.path, gen)
            raise write_error(self.path, exc) from None
        self._drop_stale(gen)

    def _write_generation(self, gen: int) -> None:
        import faiss

        self.path.mkdir(parents=True, exist_ok=True)
        m = self.manifest
        ordered = sorted(self.chunks.values(), key=lambda c: c.id)
        sentences = self._sentence_matrix(ordered) if self.has_sentence_vectors else None  # sets each .row
        blobs = {
            "vectors": (f"vectors-{gen}.faiss", faiss.serialize_index(self.vectors).tobytes()),
            "chunks": (f"chunks-{gen}.jsonl", "".join(
                json.dumps(c.__dict__, ensure_ascii=False) + "\n" for c in ordered).encode("utf-8")),
        }
        if sentences is not None:
            buffer = io.BytesIO()
            np.save(buffer, sentences, allow_pickle=False)
            blobs["sentences"] = (f"sentences-{gen}.npy", buffer.getvalue())
        files = {}
        for role, (name, data) in blobs.items():
            atomic_write(self.path / name, data)
            _file_written(self.path / name)
            files[role] = FileEntry(name=name, size=len(data), sha256=hashlib.sha256(data).hexdigest())
        lexical = LexicalIndex.build([self.lexical_text(c) for c in ordered], [c.id for c in ordered],
                                     m.lexical_stemmer)
        lexical_dir = self.path / f"lexical-{gen}"
        shutil.rmtree(lexical_dir, ignore_errors=True)  # a crashed save's leftovers: never the live generation
        lexical.save(lexical_dir)
        _file_written(lexical_dir)
        for f in sorted(lexical_dir.glob("*.*")):
            files[f"lexical/{f.name}"] = FileEntry(name=f"{lexical_dir.name}/{f.name}", size=f.stat().st_size,
                                                   sha256=_sha256(f))
        new_manifest = m.model_copy(update={"generation": gen, "files": files, "updated_at": _now()})
        atomic_write(self.path / MANIFEST, new_manifest.model_dump_json(indent=1).encode("utf-8"))
        _file_written(self.path / MANIFEST)
        self.manifest, self.lexical = new_manifest, lexical
        if sentences is not None:
            self._sentences, self._added_sentences = sentences, {}

    def _sentence_matrix(self, ordered: list[ChunkRecord]) -> np.ndarray:
        """Every chunk's sentence vectors in chunk-id order, one float16 matrix; records each chunk's row."""
        parts, row = [], 0
        for c in ordered:
            vectors = self._added_sentences.get(c.id)
            if vectors is None:
                vectors = np.asarray(self._sentences[c.row:c.row + len(c.sentences)], dtype=np.float16)
            parts.append(vectors)
            c.row = row
            row += len(vectors)
        dim = self.manifest.dimension
        return np.concatenate(parts) if parts else np.zeros((0, dim), dtype=np.float16)

    def _drop_stale(self, gen: int) -> None:
        """Drop what the manifest no longer names: older generations and leftovers of crashed saves."""
        for stale in self.path.iterdir():
            old = (stale.name.startswith(("vectors-", "chunks-", "sentences-", "lexical-"))
                   and _generation_of(stale) != gen)
            if old or (stale.name.startswith(".") and stale.name.endswith(".tmp")):
                with contextlib.suppress(OSError):
                    if stale.is_dir():
                        shutil.rmtree(stale)
                    else:
                        stale.unlink()

    # -- reading ------------------------------------------------------------------------------------------
    def search(self, vector: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """(chunk id, cosine) of the ``k`` nearest chunks, optionally only among ``allowed`` chunk ids."""
        import faiss

        if self.vectors.ntotal == 0 or k <= 0:
            return []
        query = np.ascontiguousarray(vector.reshape(1, -1), dtype=np.float32)
        params = None
        if allowed is not None:
            if len(allowed) == 0:
                return []
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64)))
            k = min(k, len(allowed))
        scores, ids = self.vectors.search(query, min(k, self.vectors.ntotal), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
