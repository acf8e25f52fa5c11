"""One immutable part of a local index: the chunks one commit added, with their vectors and BM25 postings.

A local index used to be one set of files that every commit rewrote whole, and that every reader parsed
whole: adding 100 articles to 250,000 chunks took 55 s, and a reader of a million chunks did not fit in
memory. Now each commit writes only a new *segment* holding the chunks it added, and a removal only marks
the removed chunks' ids in their segment (a tombstone), the way Lucene does; :mod:`briefqa.store.local` merges
segments when that pays. A segment's files never change once the manifest names them, so readers map them:

    vectors-<gen>.faiss      FAISS IndexIDMap2(IndexFlatIP), ids = chunk ids, memory-mapped
    ivf-<gen>.faiss          for a segment of IVF_MIN chunks or more: the same vectors as IndexIVFFlat, the
                             index its dense searches use (memory-mapped)
    chunks-<gen>.jsonl       one chunk a line, in chunk-id order, read a line at a time
    table-<gen>.npy          per line: chunk id, byte offset, first sentence row, sentence count
    sentences-<gen>.npy      a float16 vector per sentence, memory-mapped
    lexical-<gen>/           bm25s over the segment's chunks, memory-mapped

A dense search scans each segment. An exact scan of a 100,000-chunk segment takes about 20 ms on 2 cores, so a
million chunks in ten segments took 245 ms (p95); a large segment therefore also has an inverted file (IVF: the
vectors grouped around 4·√n k-means centroids, a search scanning the ``ivf_probes(n)`` groups nearest the
question), which keeps recall@10 against the exact scan at the level in ``docs/scaling.md``
(``benchmarks/bench_ivf.py``, real MiniLM vectors). A filtered search on an IVF segment probes every group,
so a narrow filter still finds its few chunks: exact among the admitted, and cheap, since FAISS computes
distances only for them. The flat index stays the segment's record of its vectors: the reranker reads a
chunk's vector by id from it (an IVF index would need a map of every id, built by reading every list at open).

BM25 scores across segments use index-wide statistics (each segment's postings are re-weighted by the global
IDF of each query term), so a term rare in the whole index is not scored as common because a small segment
happens to hold it twice. An index written before segments (format 1 and 2: the same files without the
table) opens as one segment whose chunks are parsed at open, as before.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from ..errors import IndexDamagedError
from .base import ChunkRecord, FileEntry, SegmentEntry
from .lexical import LexicalIndex

#: Files up to this size are checked against their SHA-256 at every open; larger ones by size (reading
#: gigabytes to open an index would make opening as slow as rebuilding it). :meth:`Segment.verify` checks all.
VERIFY_LIMIT = 64 << 20
#: A segment of at least this many chunks is searched through an IVF index, a smaller one exactly: below it an
#: exact scan takes under 10 ms, and small segments (every test index, a day's commit) stay exact.
IVF_MIN = 50_000


def ivf_lists(n: int) -> int:
    """k-means groups of an IVF segment of ``n`` chunks (FAISS's guideline: 4·√n to 16·√n)."""
    return max(1, int(4 * math.sqrt(n)))


def ivf_probes(lists: int) -> int:
    """Groups a search visits: a sixteenth of them (recall@10 0.99 against the exact scan on real vectors,
    docs/scaling.md)."""
    return max(8, lists // 16)


def ivf_index(vectors: np.ndarray):
    """An IVF index trained on ``vectors`` (not yet holding them)."""
    import faiss

    d = vectors.shape[1]
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, ivf_lists(len(vectors)), faiss.METRIC_INNER_PRODUCT)
    ivf.cp.seed = 1234  # a fixed k-means seed: a rebuild groups the same vectors alike
    ivf.train(np.ascontiguousarray(vectors, dtype=np.float32))
    return ivf


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_names(gen: int) -> tuple[str, ...]:
    """Every file and directory a segment of generation ``gen`` may have."""
    return (f"vectors-{gen}.faiss", f"ivf-{gen}.faiss", f"chunks-{gen}.jsonl", f"table-{gen}.npy",
            f"sentences-{gen}.npy", f"lexical-{gen}")


def _lucene_idf(df: int, n: int) -> float:
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


class Segment:
    """A segment opened for reading (``damaged``, where methods take it, formats the one sentence a damaged
    file raises)."""

    def __init__(self, path: Path, entry: SegmentEntry, ids: np.ndarray, vectors, lexical: LexicalIndex,
                 sentences: np.ndarray | None, table: np.ndarray | None = None, buffer=None,
                 records: dict[int, ChunkRecord] | None = None) -> None:
        self.path = path
        self.ids = ids  # sorted chunk ids, one per line of the chunks file (dead ones included)
        self.vectors, self.lexical, self.sentences = vectors, lexical, sentences
        self.ivf = None  # the IVF index dense searches use, for a segment of IVF_MIN chunks or more
        self._table, self._buffer, self._records = table, buffer, records
        self.set_entry(entry)

    def set_entry(self, entry: SegmentEntry) -> None:
        """Take the manifest's current entry for this segment (a commit may have added tombstones)."""
        self.entry = entry
        self.dead = np.asarray(sorted(entry.deleted), dtype=np.int64)  # sorted: masks search it

    # -- opening ----------------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: Path, entry: SegmentEntry, dimension: int, has_sentences: bool, stemmer: str,
             damaged: str) -> Segment:
        """Open the segment ``entry`` names in ``path``. A segment without a table was written before segments
        (formats 1 and 2): its chunks are parsed now, as they always were."""
        legacy = "table" not in entry.files
        roles = ("vectors", "chunks", "lexical", *(["sentences"] if has_sentences else []),
                 *([] if legacy else ["table"]))
        for role in roles:
            if not any(r == role or r.startswith(role + "/") for r in entry.files):
                raise IndexDamagedError(damaged.format(f"the manifest names no {role} file"))
        for f in entry.files.values():
            _check_file(path / f.name, f, damaged, full=f.size <= VERIFY_LIMIT)
        vectors = _read_faiss(path / entry.files["vectors"].name, damaged)
        ivf = _read_faiss(path / entry.files["ivf"].name, damaged) if "ivf" in entry.files else None
        opener = cls._open_legacy if legacy else cls._open_tabled
        seg = opener(path, entry, vectors, stemmer, damaged)
        if has_sentences:
            seg.sentences = _read_sentences(path / entry.files["sentences"].name, seg.sentence_total(), dimension,
                                            damaged)
        seg.ivf = ivf
        n = len(seg.ids)
        if (vectors.ntotal != n or seg.lexical.size != n or entry.chunks != n or vectors.d != dimension
                or (ivf is not None and ivf.ntotal != n)):
            raise IndexDamagedError(damaged.format(
                f"{vectors.ntotal} vectors, {seg.lexical.size} lexical entries, {n} chunks, {entry.chunks} expected"))
        return seg

    @classmethod
    def _open_tabled(cls, path, entry, vectors, stemmer, damaged) -> Segment:
        try:
            table = np.load(path / entry.files["table"].name, mmap_mode="r", allow_pickle=False)
            buffer = np.memmap(path / entry.files["chunks"].name, dtype=np.uint8, mode="r") \
                if entry.files["chunks"].size else np.zeros(0, dtype=np.uint8)
        except (OSError, ValueError):
            raise IndexDamagedError(damaged.format("the chunks table cannot be read")) from None
        if table.ndim != 2 or table.shape[1] != 4:
            raise IndexDamagedError(damaged.format("the chunks table has the wrong shape"))
        ids = np.asarray(table[:, 0], dtype=np.int64)
        lexical = _read_lexical(path, entry, ids, stemmer, damaged)
        return cls(path, entry, ids, vectors, lexical, None, table=table, buffer=buffer)

    @classmethod
    def _open_legacy(cls, path, entry, vectors, stemmer, damaged) -> Segment:
        records: dict[int, ChunkRecord] = {}
        try:
            with (path / entry.files["chunks"].name).open(encoding="utf-8") as fh:
                for line in fh:
                    rec = ChunkRecord(**json.loads(line))
                    records[rec.id] = rec
        except (ValueError, TypeError):
            raise IndexDamagedError(damaged.format("the chunks file cannot be parsed")) from None
        ids = np.asarray(sorted(records), dtype=np.int64)
        lexical = _read_lexical(path, entry, ids, stemmer, damaged)
        return cls(path, entry, ids, vectors, lexical, None, records=records)

    def sentence_total(self) -> int:
        if self._records is not None:
            return sum(len(c.sentences) for c in self._records.values())
        return int(self._table[:, 3].sum()) if len(self._table) else 0

    def verify(self, damaged: str) -> None:
        """Check every file against its SHA-256, however large."""
        for f in self.entry.files.values():
            _check_file(self.path / f.name, f, damaged, full=True)

    # -- reading -----------------------------------------------------------------------------------------
    def position(self, chunk_id: int) -> int:
        """The line of ``chunk_id`` in this segment, or -1."""
        if not len(self.ids) or chunk_id < self.ids[0] or chunk_id > self.ids[-1]:
            return -1
        i = int(np.searchsorted(self.ids, chunk_id))
        return i if i < len(self.ids) and self.ids[i] == chunk_id else -1

    def record(self, position: int) -> ChunkRecord:
        if self._records is not None:
            return self._records[int(self.ids[position])]
        start = int(self._table[position, 1])
        end = int(self._table[position + 1, 1]) if position + 1 < len(self._table) else len(self._buffer)
        return ChunkRecord(**json.loads(bytes(self._buffer[start:end])))

    def prefetch(self, positions: Sequence[int]) -> None:
        """Have the kernel read these lines' records and sentence vectors now, together (``MADV_WILLNEED``):
        the reranker reads 20 chunks scattered over gigabytes, otherwise one page fault after another."""
        if self._table is None:
            return
        width = self.sentences.shape[1] * self.sentences.itemsize if self.sentences is not None else 0
        for i in positions:
            start = int(self._table[i, 1])
            end = int(self._table[i + 1, 1]) if i + 1 < len(self._table) else len(self._buffer)
            _will_need(self._buffer, start, end - start)
            if width:
                _will_need(self.sentences, int(self._table[i, 2]) * width, int(self._table[i, 3]) * width)

    def records(self) -> Iterator[ChunkRecord]:
        for i in range(len(self.ids)):
            yield self.record(i)

    def sentence_rows(self, record: ChunkRecord) -> np.ndarray:
        return np.asarray(self.sentences[record.row:record.row + len(record.sentences)], dtype=np.float32)

    def all_vectors(self) -> np.ndarray:
        """Every chunk vector, in line order (for merging segments)."""
        import faiss

        flat = faiss.downcast_index(self.vectors.index)
        return flat.reconstruct_n(0, self.vectors.ntotal) if self.vectors.ntotal else np.zeros((0, self.vectors.d))

    def dense(self, query: np.ndarray, k: int, allowed: np.ndarray | None) -> list[tuple[int, float]]:
        """(chunk id, cosine) of the ``k`` nearest live chunks, only among ``allowed`` ids when given."""
        import faiss

        n = self.vectors.ntotal - len(self.dead)
        if n <= 0 or k <= 0:
            return []
        select = None
        if allowed is not None:
            mine = self.ids[self._positions(allowed)]
            if not len(mine):
                return []  # a filter that admits nothing here: no scan at all
            n = min(n, len(mine))
            select = faiss.IDSelectorBatch(mine)
        elif len(self.dead):
            select = faiss.IDSelectorNot(faiss.IDSelectorBatch(self.dead))
        if self.ivf is not None:
            lists = faiss.downcast_index(self.ivf.index).nlist
            probes = lists if allowed is not None else ivf_probes(lists)
            params = faiss.SearchParametersIVF(sel=select, nprobe=probes) if select else \
                faiss.SearchParametersIVF(nprobe=probes)
        else:
            params = faiss.SearchParameters(sel=select) if select else None
        index = self.ivf if self.ivf is not None else self.vectors
        scores, ids = index.search(query, min(k, n), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def lexical_scores(self, terms: Sequence[str], df: dict[str, int], n: int) -> np.ndarray:
        """BM25 of each line for ``terms``, with the IDF of ``df`` over ``n`` chunks (the whole index's)."""
        local_n = self.lexical.size
        weights = {t: _lucene_idf(df[t], n) / _lucene_idf(d, local_n)
                   for t in set(terms) if (d := self.lexical.df(t))}
        return self.lexical.weighted_scores([t for t in terms if t in weights], weights)

    def _positions(self, ids: np.ndarray) -> np.ndarray:
        """The lines of those of the sorted ``ids`` this segment holds."""
        pos = np.searchsorted(self.ids, ids)
        inside = pos < len(self.ids)
        pos, ids = pos[inside], ids[inside]
        return pos[self.ids[pos] == ids]

    def mask(self, allowed: np.ndarray | None) -> np.ndarray | None:
        """Lines that may be returned (None: all): the ``allowed`` ids here, less the dead."""
        if allowed is None and not len(self.dead):
            return None
        keep = np.ones(len(self.ids), dtype=bool)
        if allowed is not None:
            keep[:] = False
            keep[self._positions(allowed)] = True
        if len(self.dead):
            keep[self._positions(self.dead)] = False
        return keep


# -- writing ----------------------------------------------------------------------------------------------
def write_segment(path: Path, gen: int, records: list[ChunkRecord], vectors: np.ndarray,
                  sentences: list[np.ndarray] | None, lexical_texts: list[str], stemmer: str,
                  write: Callable[[Path, bytes], None], written: Callable[[Path], None]) -> SegmentEntry:
    """Write the files of a new segment (``records`` in chunk-id order, their ``vectors`` and, for an index
    with sentence vectors, each chunk's ``sentences``) with ``write`` (atomic) and return its entry. Sets each
    record's ``row`` to its first sentence row in this segment."""
    import faiss

    ids = np.asarray([c.id for c in records], dtype=np.int64)
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))
    if len(records):
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
    table = np.zeros((len(records), 4), dtype=np.int64)
    lines, offset, row = [], 0, 0
    for i, c in enumerate(records):
        count = len(sentences[i]) if sentences is not None else 0
        c.row = row if sentences is not None else -1
        line = (json.dumps(c.__dict__, ensure_ascii=False) + "\n").encode("utf-8")
        table[i] = (c.id, offset, row, count)
        lines.append(line)
        offset += len(line)
        row += count
    blobs = {"vectors": (f"vectors-{gen}.faiss", faiss.serialize_index(index).tobytes()),
             "chunks": (f"chunks-{gen}.jsonl", b"".join(lines)),
             "table": (f"table-{gen}.npy", _npy(table))}
    if len(records) >= IVF_MIN:
        ivf = faiss.IndexIDMap2(ivf_index(vectors))
        ivf.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
        blobs["ivf"] = (f"ivf-{gen}.faiss", faiss.serialize_index(ivf).tobytes())
    if sentences is not None:
        matrix = np.concatenate(sentences).astype(np.float16) if sentences else \
            np.zeros((0, vectors.shape[1]), dtype=np.float16)
        blobs["sentences"] = (f"sentences-{gen}.npy", _npy(matrix))
    files = {}
    for role, (name, data) in blobs.items():
        write(path / name, data)
        written(path / name)
        files[role] = FileEntry(name=name, size=len(data), sha256=hashlib.sha256(data).hexdigest())
    lexical = LexicalIndex.build(lexical_texts, [c.id for c in records], stemmer)
    lexical_dir = path / f"lexical-{gen}"
    shutil.rmtree(lexical_dir, ignore_errors=True)  # a crashed save's leftovers: never a live generation
    lexical.save(lexical_dir)
    written(lexical_dir)
    for f in sorted(lexical_dir.glob("*.*")):
        files[f"lexical/{f.name}"] = FileEntry(name=f"{lexical_dir.name}/{f.name}", size=f.stat().st_size,
                                               sha256=sha256_of(f))
    return SegmentEntry(generation=gen, files=files, chunks=len(records))


def _will_need(array, start: int, length: int) -> None:
    """``madvise(MADV_WILLNEED)`` for bytes ``start:start+length`` of a memory-mapped array; nothing for an
    array in memory or where the platform has no madvise."""
    import mmap

    mapped = getattr(array, "_mmap", None)
    if mapped is None or length <= 0 or not hasattr(mmap, "MADV_WILLNEED"):
        return
    # numpy maps from the allocation boundary below the array's offset in the file (the .npy header).
    at = array.offset % mmap.ALLOCATIONGRANULARITY + start
    page = at - at % mmap.PAGESIZE
    mapped.madvise(mmap.MADV_WILLNEED, page, min(at + length, len(mapped)) - page)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _check_file(fpath: Path, entry: FileEntry, damaged: str, full: bool) -> None:
    if not fpath.is_file():
        raise IndexDamagedError(damaged.format(f"{entry.name} is missing"))
    if fpath.stat().st_size != entry.size or (full and sha256_of(fpath) != entry.sha256):
        raise IndexDamagedError(damaged.format(f"{entry.name} does not match its checksum"))


def _read_faiss(fpath: Path, damaged: str):
    import faiss

    # IO_FLAG_MMAP_IFC maps a flat index's vectors instead of reading them (1 MB resident for 100,000 chunks,
    # against 150 MB read); an empty index cannot be mapped.
    for flags in (faiss.IO_FLAG_MMAP_IFC, faiss.IO_FLAG_MMAP, 0):
        try:
            index = faiss.read_index(str(fpath), flags)
        except RuntimeError:
            continue
        return index
    raise IndexDamagedError(damaged.format("the FAISS file cannot be read"))


def _read_lexical(path: Path, entry: SegmentEntry, ids: np.ndarray, stemmer: str, damaged: str) -> LexicalIndex:
    name = next(f.name for r, f in entry.files.items() if r.startswith("lexical")).split("/")[0]
    try:
        return LexicalIndex.load(path / name, ids.tolist(), stemmer, mmap=True)
    except (OSError, ValueError, KeyError):
        raise IndexDamagedError(damaged.format("the lexical index cannot be read")) from None


def _read_sentences(fpath: Path, total: int, dimension: int, damaged: str) -> np.ndarray:
    try:
        matrix = np.load(fpath, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        raise IndexDamagedError(damaged.format("the sentence vectors cannot be read")) from None
    if matrix.ndim != 2 or matrix.shape != (total, dimension):
        raise IndexDamagedError(damaged.format(f"{matrix.shape[0]} sentence vectors for {total} sentences"))
    return matrix
