"""The Milvus backend: an index in a Milvus server or cluster, or in an embedded milvus-lite file.

One index is a collection of chunks, one of documents and one of term document frequencies, all of a
*generation* (``NAME_g3``, ``NAME_g3_docs``, ``NAME_g3_terms``); the alias ``NAME`` names the live chunk
collection. A rebuild fills a new generation and switches the alias last, so readers never see half an index;
the generation before stays until the next rebuild, so a reader opened before the switch keeps answering. An
incremental commit deletes the chunks of removed documents, inserts the new ones, updates the frequencies of
the terms they hold, then rewrites the changed document rows and the manifest row. The answerer's term weights
(idf) read those frequencies, one key lookup per term, instead of counting matches (a scan in milvus-lite).

Each chunk row holds its text and spans, its sentences' spans and (float16) vectors, its document's id,
publication (case-folded, for filters) and day, its dense vector, and the BM25 terms: briefqa's own analysis
(bm25s tokens, Snowball stems) joined by spaces, which Milvus' BM25 function turns into the sparse field. The
engine so scores the same terms bm25s would, with the same k1 and b, and retrieval, fusion, reranking and
citation checking stay in briefqa: both backends rank the same way.

pymilvus is imported only here, and only when a ``milvus://`` or ``milvus-lite:`` location is used.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import math
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import numpy as np

from ..errors import (
    IndexBusyError,
    IndexDamagedError,
    IndexMismatchError,
    IndexMissingError,
    IndexWriteError,
    StoreUnavailableError,
)
from .base import MILVUS_LITE, READABLE_FORMATS, ChunkRecord, DocEntry, Filters, Hit, Manifest, Store
from .lexical import LexicalIndex

MANIFEST_KEY = "__manifest__"
#: Milvus' longest VARCHAR; a chunk whose sentence vectors would not fit has them embedded at question time.
VARCHAR_MAX = 65535
INSERT_BATCH = 256
#: bm25s' defaults (method "lucene"), so that both backends weigh terms alike.
BM25_K1, BM25_B = 1.5, 0.75
#: What a search or a fetch brings back of a chunk: not its vectors, which are most of a row's bytes (the
#: sentence vectors alone 7 KB) and are read, in one round trip, only for the passages that get reranked.
RECORD_FIELDS = ["id", "doc_id", "start", "end", "text", "sentences"]
VECTOR_FIELDS = ["id", "dense", "svec"]
#: The dense index: an embedded milvus-lite file scans its rows whatever index it is given (an HNSW index there
#: searched 100,000 vectors in twice FLAT's time, recall 1.000; docs/scaling.md), so a file gets FLAT, exact.
#: A server gets HNSW, an approximate graph index that does not scan, searched with ef = max(HNSW_EF, k).
HNSW_BUILD = {"M": 16, "efConstruction": 200}
HNSW_EF = 128
TERM_MAX = 256  # longer "words" (URLs, hashes) get no stored frequency: they weigh as unseen terms
GRPC_OPTIONS = {"grpc.keepalive_time_ms": 300_000, "grpc.keepalive_permit_without_calls": False}


@dataclass(frozen=True)
class Location:
    """Where a Milvus index lives: the client URI and the collection name (the alias readers follow)."""

    text: str
    uri: str
    name: str

    @classmethod
    def parse(cls, text: str) -> Location:
        text = str(text)
        if text.startswith(MILVUS_LITE):
            path = text[len(MILVUS_LITE):]
            if not path.endswith(".db"):
                raise IndexMissingError(f"The milvus-lite index {text} must name a file ending in .db "
                                        f"(for example milvus-lite:{path or 'index'}.db).")
            return cls(text, path, "briefqa")
        m = re.fullmatch(r"milvus://([^/:]+)(?::(\d+))?/([A-Za-z_][A-Za-z0-9_]*)", text)
        if not m:
            raise IndexMissingError(f"The index location {text} is not of the form milvus://HOST:PORT/NAME "
                                    "(NAME: letters, digits and underscores).")
        return cls(text, f"http://{m[1]}:{m[2] or 19530}", m[3])

    @property
    def embedded(self) -> bool:
        """A milvus-lite file in this process, not a server."""
        return self.text.startswith(MILVUS_LITE)

    @property
    def where(self) -> str:
        return self.uri if self.embedded else self.uri.removeprefix("http://")


_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()
_writers: dict[str, threading.Lock] = {}


def _client(loc: Location):
    """One client per URI and process (milvus-lite allows one process per file, and clients are costly)."""
    with _clients_lock:
        if loc.uri not in _clients:
            from pymilvus import MilvusClient

            # pymilvus logs every failed call with its stack at ERROR; briefqa says what failed in one sentence.
            logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
            try:
                # pymilvus pings every 10 s even when idle; milvus-lite's server allows that so rarely that it
                # drops the connection ("too_many_pings") and gRPC logs it. Pinging only during calls, at most
                # every 5 minutes, is within every server's policy.
                # pymilvus shares one channel among all clients of an address in a process, whatever their
                # options; a dedicated one keeps these options even when the caller has its own client there.
                _clients[loc.uri] = MilvusClient(
                    loc.uri, timeout=10, grpc_options=GRPC_OPTIONS, dedicated=not loc.embedded
                )
            except Exception as exc:
                raise _unavailable(loc, exc) from None
        return _clients[loc.uri]


def _unavailable(loc: Location, exc: Exception) -> StoreUnavailableError:
    reason = str(getattr(exc, "message", "") or exc).splitlines()[0][:160]
    if loc.embedded:
        return StoreUnavailableError(f"The milvus-lite file {loc.uri} cannot be opened ({reason}); check that no "
                                     "other process holds it and that the directory is writable.")
    return StoreUnavailableError(f"The Milvus server at {loc.where} does not answer ({reason}); start it, or check "
                                 f"the address in --index {loc.text}.")


def _call(loc: Location, what, *args, **kwargs):
    """A client call, with any engine failure turned into one sentence naming the server."""
    try:
        return what(*args, **kwargs)
    except Exception as exc:  # pymilvus raises MilvusException and grpc errors alike
        raise _unavailable(loc, exc) from None


def _day(published_at: str | None) -> int:
    """YYYYMMDD as an integer (comparable in a filter), -1 for an undated document."""
    if not published_at:
        return -1
    try:
        return int(published_at[:10].replace("-", ""))
    except ValueError:
        return -1


def _pack(vectors: np.ndarray | None) -> str:
    if vectors is None:
        return ""
    return base64.b64encode(np.asarray(vectors, dtype="<f2").tobytes()).decode("ascii")


def _unpack(text: str, dimension: int) -> np.ndarray | None:
    if not text:
        return None
    return np.frombuffer(base64.b64decode(text), dtype="<f2").reshape(-1, dimension).astype(np.float32)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@lru_cache(maxsize=4)
def _analyzer(stemmer: str) -> LexicalIndex:
    """bm25s' analysis (tokens, stop words, stems) without an index: the terms both backends score."""
    return LexicalIndex.build([], [], stemmer)


class MilvusStore(Store):
    """An index in Milvus; see the module docstring for its layout."""

    backend = "milvus"

    def __init__(self, loc: Location, manifest: Manifest, collection: str | None) -> None:
        self.loc = loc
        self.location = loc.text
        self.manifest = manifest
        self.client = _client(loc)
        self.collection = collection  # the generation this store reads; None until a new index's first commit
        self._records: dict[int, ChunkRecord] = {}  # chunks read, bounded (see fetch)
        self._vectors: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}  # their dense and sentence vectors
        self._rows: dict[str, list[dict]] = {}  # new documents' rows, inserted at commit
        self._deleted: list[int] = []  # chunk ids to delete at commit
        self._dirty: set[str] = set()  # document rows to write at commit
        self._gone: set[str] = set()  # document rows to delete at commit
        self._df: dict[str, int] = {}
        self._dense_type: str | None = None  # the dense index's type, read at the first dense search
        # Chunks of the documents this store holds; kept, not summed, since every idf lookup divides by it.
        self._chunks = sum(len(d.chunk_ids) for d in manifest.documents.values())

    # -- opening ----------------------------------------------------------------------------------------
    @classmethod
    def _live(cls, loc: Location) -> str | None:
        """The chunk collection the alias names, or None when there is no index at ``loc``."""
        client = _client(loc)
        aliases = _call(loc, client.list_aliases).get("aliases", [])
        if loc.name not in aliases:
            return None
        return _call(loc, client.describe_alias, loc.name)["collection_name"]

    @classmethod
    def exists(cls, location) -> bool:
        return cls._live(Location.parse(location)) is not None

    @classmethod
    def _manifest(cls, loc: Location, collection: str) -> Manifest:
        rows = _call(loc, _client(loc).query, f"{collection}_docs", filter=f'key == "{MANIFEST_KEY}"',
                     output_fields=["entry"])
        damaged = (f"The Milvus index {loc.text} is half-created or damaged (its collection {collection} has no "
                   f"readable manifest); rebuild it with `briefqa ingest CORPUS --index {loc.text} --rebuild`.")
        if not rows:
            raise IndexDamagedError(damaged)
        try:
            manifest = Manifest.model_validate_json(rows[0]["entry"])
        except ValueError:
            raise IndexDamagedError(damaged) from None
        if manifest.format_version not in READABLE_FORMATS:
            raise IndexMismatchError(f"The index {loc.text} has format {manifest.format_version}; rebuild it with "
                                     "`briefqa ingest --rebuild`.")
        return manifest

    @classmethod
    def read_manifest(cls, location) -> Manifest:
        return cls._resolve(Location.parse(location))[1]

    @classmethod
    def _resolve(cls, loc: Location) -> tuple[str, Manifest]:
        """The live chunk collection and its manifest, or :class:`IndexMissingError`."""
        collection = cls._live(loc)
        if collection is None:
            raise IndexMissingError(f"No index at {loc.text}; build one with `briefqa ingest CORPUS --index "
                                    f"{loc.text}`.")
        cls._load(loc, collection)
        return collection, cls._manifest(loc, collection)

    @staticmethod
    def _load(loc: Location, collection: str) -> None:
        """Load the index's collections into the engine for searching. A Milvus server keeps what it loaded
        across clients; milvus-lite starts every process with its collections released, so an index ingested by
        one command could not be read by the next without this."""
        from pymilvus.client.types import LoadState

        client = _client(loc)
        for name in (collection, f"{collection}_docs", f"{collection}_terms"):
            if _call(loc, client.get_load_state, name).get("state") != LoadState.Loaded:
                _call(loc, client.load_collection, name)

    @classmethod
    def open(cls, location, embedder: str | None = None) -> MilvusStore:
        loc = Location.parse(location)
        collection, manifest = cls._resolve(loc)
        if embedder is not None and manifest.embedder != embedder:
            raise IndexMismatchError(f"The index {loc.text} was built with embedder {manifest.embedder}, not "
                                     f"{embedder}; rebuild it with `briefqa ingest CORPUS --index {loc.text} "
                                     "--rebuild`.")
        store = cls(loc, manifest, collection)
        store._load_documents()
        return store

    def _load_documents(self) -> None:
        docs: dict[str, DocEntry] = {}
        iterator = _call(self.loc, self.client.query_iterator, f"{self.collection}_docs", batch_size=1000,
                         filter=f'key != "{MANIFEST_KEY}"', output_fields=["key", "entry"])
        while batch := _call(self.loc, iterator.next):
            for row in batch:
                docs[row["key"]] = DocEntry.model_validate_json(row["entry"])
        iterator.close()
        expected = sum(len(d.chunk_ids) for d in docs.values())
        count = self._count("")
        if count != expected:
            raise IndexDamagedError(f"The Milvus index {self.loc.text} is damaged ({count} chunks, {expected} "
                                    f"expected); rebuild it with `briefqa ingest CORPUS --index {self.loc.text} "
                                    "--rebuild`.")
        self.manifest.documents = docs
        self._chunks = expected

    @classmethod
    def create(cls, location, embedder: str, dimension: int, chunk_size: int, chunk_overlap: int, tokenizer: str,
               index_prefix: str = "none", lexical_stemmer: str = "") -> MilvusStore:
        loc = Location.parse(location)
        live = cls._live(loc)
        # A rebuild numbers its generation above the live one; nothing is visible before the alias moves.
        generation = int(live.rsplit("_g", 1)[1]) if live else 0
        now = _now()
        manifest = Manifest(embedder=embedder, dimension=dimension, chunk_size=chunk_size, chunk_overlap=chunk_overlap,
                            tokenizer=tokenizer, index_prefix=index_prefix, lexical_stemmer=lexical_stemmer,
                            created_at=now, updated_at=now, generation=generation)
        return cls(loc, manifest, None)

    @staticmethod
    @contextlib.contextmanager
    def write_lock(location):
        """One writer per index in this process. Across processes, milvus-lite locks its file; a Milvus
        server has no such lock, so ingest into one index from one place at a time (docs/scaling.md)."""
        loc = Location.parse(location)
        lock = _writers.setdefault(loc.text, threading.Lock())
        if not lock.acquire(blocking=False):
            raise IndexBusyError(f"The index {loc.text} is being written by another ingest in this process; run "
                                 "this again when that one has finished.")
        try:
            yield
        finally:
            lock.release()

    # -- reading ----------------------------------------------------------------------------------------
    @property
    def chunk_count(self) -> int:
        return self._chunks

    def _count(self, expr: str) -> int:
        rows = _call(self.loc, self.client.query, self.collection, filter=expr, output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def _remember(self, row: dict) -> None:
        record = ChunkRecord(int(row["id"]), row["doc_id"], int(row["start"]), int(row["end"]), row["text"],
                             json.loads(row["sentences"] or "[]"))
        self._records[record.id] = record

    def _missing_rows(self, chunk_ids: Sequence[int], cached: dict, fields: list[str]) -> list[dict]:
        """The rows, with ``fields``, of those chunks not in ``cached``, in one round trip. Both caches are kept
        bounded first: a reader's working set is a few hundred chunks."""
        for cache in (self._records, self._vectors):
            if len(cache) > 50_000:
                for key in list(cache)[:25_000]:
                    cache.pop(key, None)
        missing = [int(c) for c in dict.fromkeys(chunk_ids) if int(c) not in cached]
        if not missing or not self.collection:
            return []
        return _call(self.loc, self.client.get, self.collection, ids=missing, output_fields=fields)

    def fetch(self, chunk_ids: Sequence[int]) -> None:
        for row in self._missing_rows(chunk_ids, self._records, RECORD_FIELDS):
            self._remember(row)

    def _fetch_vectors(self, chunk_ids: Sequence[int]) -> None:
        """Read the vectors of those chunks that lack them, in one round trip."""
        for row in self._missing_rows(chunk_ids, self._vectors, VECTOR_FIELDS):
            self._vectors[int(row["id"])] = (np.asarray(row["dense"], dtype=np.float32),
                                             _unpack(row["svec"], self.manifest.dimension))

    def chunk(self, chunk_id: int) -> ChunkRecord:
        self.fetch([chunk_id])
        return self._records[int(chunk_id)]

    def chunk_vectors(self, chunk_ids: Sequence[int]) -> np.ndarray:
        """The chunks' vectors, their sentence vectors read in the same round trip (asked for next)."""
        self._fetch_vectors(chunk_ids)
        return np.vstack([self._vectors[int(c)][0] for c in chunk_ids])

    def sentence_vectors(self, chunk_id: int) -> np.ndarray | None:
        if not self.has_sentence_vectors:
            return None
        self._fetch_vectors([chunk_id])
        return self._vectors[int(chunk_id)][1]

    def iter_chunks(self) -> Iterator[ChunkRecord]:
        iterator = _call(self.loc, self.client.query_iterator, self.collection, batch_size=1000, filter="",
                         output_fields=["id", "doc_id", "start", "end", "text", "sentences"])
        try:
            while batch := _call(self.loc, iterator.next):
                for row in batch:
                    yield ChunkRecord(int(row["id"]), row["doc_id"], int(row["start"]), int(row["end"]), row["text"],
                                      json.loads(row["sentences"] or "[]"))
        finally:
            iterator.close()

    def terms(self, text: str) -> list[str]:
        return _analyzer(self.manifest.lexical_stemmer).tokens(text)

    def idf(self, term: str) -> float:
        """log(1 + N / (1 + df)), df read from the term collection (cached)."""
        analysed = self.terms(term)
        if not analysed:
            return math.log(1 + self.chunk_count)
        t = analysed[0]
        self._read_df([t])
        return math.log(1 + self.chunk_count / (1 + self._df.get(t, 0)))

    def prefetch_idf(self, terms: Sequence[str]) -> None:
        self._read_df({a[0] for t in terms if (a := self.terms(t))})

    def _read_df(self, analysed) -> None:
        """Cache the document frequencies of those analysed terms not cached yet, in one round trip."""
        missing = [t for t in analysed if t not in self._df]
        if missing:
            self._df.update(self._frequencies(missing))

    def _frequencies(self, terms: Sequence[str]) -> dict[str, int]:
        """The stored document frequency of each of ``terms`` (0 for a term no chunk holds)."""
        found = dict.fromkeys(terms, 0)
        if self.collection and terms:
            for row in _call(self.loc, self.client.get, f"{self.collection}_terms", ids=list(terms),
                             output_fields=["key", "df"]):
                found[row["key"]] = int(row["df"])
        return found

    # -- searching --------------------------------------------------------------------------------------
    def compile(self, filters: Filters | None) -> str | None:
        """Filters as a Milvus boolean expression; None when they admit nothing."""
        if not filters:
            return ""
        clauses = []
        if filters.doc_ids is not None:
            if not filters.doc_ids:
                return None
            clauses.append(f"doc_id in {json.dumps(sorted(filters.doc_ids))}")
        if filters.sources:
            clauses.append(f"source_key in {json.dumps(sorted(filters.source_keys))}")
        if filters.date_from or filters.date_to:
            clauses.append(f"day >= {int(filters.date_from.strftime('%Y%m%d')) if filters.date_from else 0}")
        if filters.date_to:
            clauses.append(f"day <= {int(filters.date_to.strftime('%Y%m%d'))}")
        return " and ".join(clauses)

    def _search(self, data, field: str, k: int, filters: Filters | None, metric: str,
                params: dict | None = None) -> list[Hit]:
        expr = self.compile(filters)
        if expr is None or k <= 0 or not self.collection:
            return []
        search = {"metric_type": metric} | ({"params": params} if params else {})
        result = _call(self.loc, self.client.search, self.collection, data=[data], anns_field=field, limit=k,
                       filter=expr, output_fields=RECORD_FIELDS, search_params=search)
        hits = []
        for row in result[0]:
            entity = {**row["entity"], "id": row["id"]}
            if entity["doc_id"] not in self.documents:  # committed after this reader opened: not its snapshot
                continue
            self._remember(entity)
            hits.append(Hit(int(row["id"]), abs(float(row["distance"]))))
        return hits

    def dense_search(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> list[Hit]:
        return self._search(np.asarray(vector, dtype=np.float32).tolist(), "dense", k, filters, "IP",
                            {"ef": max(HNSW_EF, k)} if self.dense_index() == "HNSW" else None)

    def dense_index(self) -> str:
        """The type of the dense index this reader searches (an index written before HNSW came is FLAT)."""
        if self._dense_type is None and self.collection:
            described = _call(self.loc, self.client.describe_index, self.collection, "dense")
            self._dense_type = str(described.get("index_type", "FLAT"))
        return self._dense_type or "FLAT"

    def lexical_search(self, text: str, k: int, filters: Filters | None = None) -> list[Hit]:
        terms = self.terms(text)
        return self._search(" ".join(terms), "sparse", k, filters, "BM25") if terms else []

    # -- changing ---------------------------------------------------------------------------------------
    def add_document(self, doc_id: str, meta: dict[str, Any], spans: list[tuple[int, int, str]],
                     vectors: np.ndarray, origins: list[str],
                     sentences: list[tuple[list[tuple[int, int]], np.ndarray]] | None = None) -> None:
        if self.has_sentence_vectors and (sentences is None or len(sentences) != len(spans)):
            raise ValueError("a format-2 index needs the sentences of every chunk")
        first = self.manifest.next_chunk_id
        ids = list(range(first, first + len(spans)))
        self.manifest.next_chunk_id += len(spans)
        self._chunks += len(spans)
        entry = DocEntry(**meta, chunk_ids=ids, origins=sorted(set(origins)))
        self.manifest.documents[doc_id] = entry
        rows = []
        for j, (cid, (start, end, text)) in enumerate(zip(ids, spans, strict=True)):
            record = ChunkRecord(cid, doc_id, start, end, text)
            packed = ""
            if self.has_sentence_vectors:
                record.sentences = [[a, b] for a, b in sentences[j][0]]
                packed = _pack(sentences[j][1])
                packed = packed if len(packed) <= VARCHAR_MAX else ""
            rows.append({"id": cid, "doc_id": doc_id, "source_key": entry.source.casefold(),
                         "day": _day(entry.published_at), "start": start, "end": end, "text": text,
                         "sentences": json.dumps(record.sentences), "svec": packed,
                         "terms": " ".join(self.terms(self.lexical_text(record)))[:VARCHAR_MAX],
                         "dense": np.asarray(vectors[j], dtype=np.float32).tolist()})
        self._rows[doc_id] = rows
        self._dirty.add(doc_id)
        self._gone.discard(doc_id)

    def remove_document(self, doc_id: str) -> None:
        entry = self.manifest.documents.pop(doc_id)
        self._chunks -= len(entry.chunk_ids)
        if self._rows.pop(doc_id, None) is None:
            self._deleted.extend(entry.chunk_ids)
        self._dirty.discard(doc_id)
        self._gone.add(doc_id)
        for cid in entry.chunk_ids:
            self._records.pop(cid, None)
            self._vectors.pop(cid, None)

    def update_document(self, doc_id: str, **fields) -> None:
        super().update_document(doc_id, **fields)
        self._dirty.add(doc_id)

    def set_lexical(self, index_prefix: str, stemmer: str) -> None:
        raise IndexMismatchError(f"Changing what BM25 indexes (index_prefix, lexical_stemmer) in the Milvus index "
                                 f"{self.loc.text} rewrites every chunk; rebuild it with --rebuild instead.")

    def commit(self) -> None:
        """A new index fills a new generation and moves the alias last; an existing one is changed in place,
        document and manifest rows last. A failure leaves the alias where it was."""
        self.manifest.updated_at = _now()
        if self.collection is None:
            self._commit_generation()
        else:
            self._commit_changes()
        self._rows, self._deleted, self._dirty, self._gone = {}, [], set(), set()
        self._df.clear()

    def _commit_generation(self) -> None:
        gen = self.manifest.generation + 1
        name = f"{self.loc.name}_g{gen}"
        client, loc = self.client, self.loc
        try:
            for stale in (name, f"{name}_docs", f"{name}_terms"):  # a crashed rebuild's leftovers, never live
                if _call(loc, client.has_collection, stale):
                    _call(loc, client.drop_collection, stale)
            self._create_collections(name)
            self.collection, self._dense_type = name, None
            self._insert_rows()
            self._write_frequencies(self._term_delta())
            self.manifest.generation = gen
            self._write_documents(list(self.manifest.documents))
            for coll in (name, f"{name}_terms", f"{name}_docs"):
                _call(loc, client.flush, coll)
        except StoreUnavailableError as exc:
            self.collection = None
            with contextlib.suppress(StoreUnavailableError):
                for stale in (name, f"{name}_docs", f"{name}_terms"):
                    _call(loc, client.drop_collection, stale)
            raise IndexWriteError(f"Writing the Milvus index {loc.text} failed ({exc}); the index is as it was "
                                  "before.") from None
        aliases = _call(loc, client.list_aliases).get("aliases", [])
        if loc.name in aliases:
            old = _call(loc, client.describe_alias, loc.name)["collection_name"]
            _call(loc, client.alter_alias, name, loc.name)
        else:
            old = None
            _call(loc, client.create_alias, name, loc.name)
        self._drop_older_than(int(old.rsplit("_g", 1)[1]) if old else gen)

    def _drop_older_than(self, keep: int) -> None:
        """Drop generations before ``keep`` (the one just replaced stays for readers that opened it)."""
        pattern = re.compile(rf"{re.escape(self.loc.name)}_g(\d+)(_docs|_terms)?")
        for coll in _call(self.loc, self.client.list_collections):
            m = pattern.fullmatch(coll)
            if m and int(m[1]) < keep:
                with contextlib.suppress(StoreUnavailableError):
                    _call(self.loc, self.client.drop_collection, coll)

    def _commit_changes(self) -> None:
        loc, client = self.loc, self.client
        try:
            delta = self._term_delta()
            if self._deleted:
                _call(loc, client.delete, self.collection, ids=self._deleted)
            self._insert_rows()
            self._write_frequencies(delta)
            self._write_documents(sorted(self._dirty))
            if self._gone:
                _call(loc, client.delete, f"{self.collection}_docs", ids=sorted(self._gone))
            for coll in (self.collection, f"{self.collection}_terms", f"{self.collection}_docs"):
                _call(loc, client.flush, coll)
        except StoreUnavailableError as exc:
            raise IndexWriteError(f"Writing the Milvus index {loc.text} failed part-way ({exc}); run the same "
                                  "ingest again to finish it.") from None

    def _term_delta(self) -> dict[str, int]:
        """How each term's document frequency changes with the pending inserts and deletes."""
        from collections import Counter

        delta: Counter[str] = Counter()
        for rows in self._rows.values():
            for row in rows:
                delta.update(t for t in set(row["terms"].split()) if len(t) <= TERM_MAX)
        for i in range(0, len(self._deleted), 1000):
            for row in _call(self.loc, self.client.get, self.collection, ids=self._deleted[i:i + 1000],
                             output_fields=["terms"]):
                delta.subtract(t for t in set(row["terms"].split()) if len(t) <= TERM_MAX)
        return {t: d for t, d in delta.items() if d}

    def _write_frequencies(self, delta: dict[str, int]) -> None:
        terms = sorted(delta)
        for i in range(0, len(terms), 1000):
            batch = terms[i:i + 1000]
            now = self._frequencies(batch)
            rows = [{"key": t, "df": now[t] + delta[t], "v": [0.0, 0.0]} for t in batch]
            keep = [r for r in rows if r["df"] > 0]
            gone = [r["key"] for r in rows if r["df"] <= 0]
            if keep:
                _call(self.loc, self.client.upsert, f"{self.collection}_terms", keep)
            if gone:
                _call(self.loc, self.client.delete, f"{self.collection}_terms", ids=gone)

    def _insert_rows(self) -> None:
        rows = [r for doc_rows in self._rows.values() for r in doc_rows]
        for i in range(0, len(rows), INSERT_BATCH):
            _call(self.loc, self.client.insert, self.collection, rows[i:i + INSERT_BATCH])

    def _write_documents(self, doc_ids: list[str]) -> None:
        docs = self.manifest.documents
        manifest = self.manifest.model_copy(update={"documents": {}})
        rows = [{"key": d, "entry": docs[d].model_dump_json(), "v": [0.0, 0.0]} for d in doc_ids if d in docs]
        rows.append({"key": MANIFEST_KEY, "entry": manifest.model_dump_json(), "v": [0.0, 0.0]})
        for i in range(0, len(rows), INSERT_BATCH):
            _call(self.loc, self.client.upsert, f"{self.collection}_docs", rows[i:i + INSERT_BATCH])

    def _create_collections(self, name: str) -> None:
        from pymilvus import DataType, Function, FunctionType

        client, loc = self.client, self.loc
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("doc_id", DataType.VARCHAR, max_length=512)
        schema.add_field("source_key", DataType.VARCHAR, max_length=512)
        schema.add_field("day", DataType.INT64)
        schema.add_field("start", DataType.INT64)
        schema.add_field("end", DataType.INT64)
        schema.add_field("text", DataType.VARCHAR, max_length=VARCHAR_MAX)
        schema.add_field("sentences", DataType.VARCHAR, max_length=VARCHAR_MAX)
        schema.add_field("svec", DataType.VARCHAR, max_length=VARCHAR_MAX)
        schema.add_field("terms", DataType.VARCHAR, max_length=VARCHAR_MAX, enable_analyzer=True)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=self.manifest.dimension)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["terms"],
                                     output_field_names=["sparse"]))
        index = client.prepare_index_params()
        if loc.embedded:
            index.add_index("dense", index_type="FLAT", metric_type="IP")
        else:
            index.add_index("dense", index_type="HNSW", metric_type="IP", params=HNSW_BUILD)
        index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                        params={"bm25_k1": BM25_K1, "bm25_b": BM25_B})
        _call(loc, client.create_collection, name, schema=schema, index_params=index)

        docs = client.create_schema(auto_id=False, enable_dynamic_field=False)
        docs.add_field("key", DataType.VARCHAR, is_primary=True, max_length=512)
        docs.add_field("entry", DataType.VARCHAR, max_length=VARCHAR_MAX)
        docs.add_field("v", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants a vector field in every collection
        doc_index = client.prepare_index_params()
        doc_index.add_index("v", index_type="FLAT", metric_type="L2")
        _call(loc, client.create_collection, f"{name}_docs", schema=docs, index_params=doc_index)

        terms = client.create_schema(auto_id=False, enable_dynamic_field=False)
        terms.add_field("key", DataType.VARCHAR, is_primary=True, max_length=512)
        terms.add_field("df", DataType.INT64)
        terms.add_field("v", DataType.FLOAT_VECTOR, dim=2)
        term_index = client.prepare_index_params()
        term_index.add_index("v", index_type="FLAT", metric_type="L2")
        _call(loc, client.create_collection, f"{name}_terms", schema=terms, index_params=term_index)
