"""Incremental ingest: load, clean, chunk and embed what changed, and commit it to the index atomically.

Embedding is the whole cost of ingest, so ingest embeds only documents the index does not hold yet. A
document is identified by the hash of its cleaned text: re-ingesting an unchanged corpus embeds nothing, the
same text read from two paths is stored once, and a file whose text changed gets a new document while the
old one, left without any origin, is removed with its chunks. ``prune`` also forgets files that are gone.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from tqdm import tqdm

from ..errors import CorpusError, FetchError, IndexMismatchError
from ..news.copies import CopyFinder, document_text, signature, update_clusters
from ..records import Document, IngestReport, Skipped
from ..settings import INDEX, Settings, describe_origin, load_settings, pin_to_index
from ..store.base import DocEntry, Store, metadata_prefix
from ..store.location import create_store, open_store, store_exists, writer
from ..text import split_sentences
from .chunk import ENCODING, Chunker
from .load import collect_files, load_file, origin_file
from .runtime import AUTO, DEFAULT, choose_runtime
from .web import Archive, FeedSource, fetch_sources, is_url, read_feeds_file

log = logging.getLogger(__name__)

#: Above this many chunks to embed, ingest shows a progress bar; below it, only the summary line.
PROGRESS_MIN_CHUNKS = 64


def _pinned(settings: Settings, store: Store, runtime: str) -> tuple[Settings, bool]:
    """Settings for adding to an existing index: its chunking and embedding are fixed (asking for others is an
    error, see :func:`~briefqa.settings.pin_to_index`); its lexical prefix and stemmer may change in place,
    since BM25 is rebuilt from the chunks at every save. Returns the settings and whether the lexical side
    changes."""
    m = store.manifest
    where = store.location
    settings = pin_to_index(settings, {"chunk_size": m.chunk_size, "chunk_overlap": m.chunk_overlap,
                                       "embed_runtime": runtime}, where)
    lexical = {"index_prefix": m.index_prefix, "lexical_stemmer": m.lexical_stemmer}
    settings = settings.replace(origin=INDEX, **{k: v for k, v in lexical.items() if not settings.is_set(k)})

    def dense(prefix: str) -> bool:
        return prefix in ("dense", "both")

    if dense(settings.index_prefix) != dense(m.index_prefix):
        raise IndexMismatchError(
            f"index_prefix = {settings.index_prefix!r} ({describe_origin(settings.origin('index_prefix'))}) changes "
            f"what the vectors of the index at {where} embed (built with {m.index_prefix!r}); drop it, or rebuild "
            "the index with --rebuild.")
    relexed = (settings.index_prefix, settings.lexical_stemmer) != (m.index_prefix, m.lexical_stemmer)
    if relexed:
        store.set_lexical(settings.index_prefix, settings.lexical_stemmer)
    return settings, relexed


def ingest(paths: Iterable[str | Path] | str | Path = (), index: str | Path | None = None, *,
           settings: Settings | None = None, prune: bool = False, rebuild: bool = False,
           progress: bool | None = None, ray: bool | str | None = None, feeds: str | Path | None = None,
           **overrides) -> IngestReport:
    """Ingest files or directories of articles, feeds and article URLs into the index at ``index``; return
    what was done.

    A path that is an http(s) URL is a feed (RSS or Atom: every item's page) or an article page; ``feeds``
    names a TOML file of them (see :mod:`briefqa.ingestion.web`). Their pages are fetched politely into the
    web archive (``web_dir``) and ingested from there; the report has a line per URL, and a URL that fails
    costs nothing already indexed. :class:`FetchError` when URLs were all that was given and none gave a page.

    ``index`` is any store location (a directory, ``milvus-lite:PATH.db``, ``milvus://HOST:PORT/NAME``).
    ``overrides`` are settings (``chunk_size=…``). An existing index keeps the chunking and embedding
    runtime it was built with; asking for others, from any source, is an error unless ``rebuild`` is set. Unreadable
    files are skipped, logged and counted in the report. ``ray`` embeds on a Ray cluster (``True`` starts a
    local one, a string is its address; see :mod:`briefqa.scale.cluster`); this process stays the one writer.
    Raises :class:`CorpusError` when no document at all
    can be read and the index would stay empty, and :class:`IndexBusyError` when another process is writing
    the same index, and :class:`IndexWriteError` when the disk is full or the directory read-only (the
    index is then as it was).
    """
    started = time.perf_counter()
    settings = (settings or load_settings()).replace(**overrides)
    location = str(index if index is not None else settings.index)
    if isinstance(paths, str | Path):
        paths = [paths]
    paths = list(paths)
    sources = [FeedSource(url=str(p)) for p in paths if is_url(str(p))] + (read_feeds_file(feeds) if feeds else [])
    paths = [p for p in paths if not is_url(str(p))]
    files = collect_files(paths) if paths or not sources else []
    report = IngestReport(index=location)
    pool = None
    if ray is not None and ray is not False:
        from ..scale.cluster import EmbeddingPool

        pool = EmbeddingPool(None if ray is True else str(ray))  # an unreachable cluster fails before any work
    # Held from reading the manifest to committing the new one: a concurrent writer would otherwise start from
    # the same manifest, and the later commit would silently drop the earlier one's documents.
    with writer(location), pool or contextlib.nullcontext():
        store, embedder, settings, relexed = _writable(location, settings, rebuild)
        poll = _fetch(sources, settings, report, files)
        incoming, origins = _read(files, settings, report)
        lost: set[str] = set()  # clusters that lost a member
        origins_changed = _reconcile(store, incoming, origins, {str(f) for f in files}, prune, report, lost)
        texts = {d: doc.text for d, doc in incoming.items()}
        if incoming:
            planned = _plan(incoming, embedder, settings)
            if rebuild or not store_exists(location):
                embedder = _choose_runtime(store, embedder, planned, settings, report)
            every = 0 if rebuild else settings.commit_every
            _add_planned(store, planned, origins, embedder, settings, report, progress, pool, every)
        signed: list[str] = []
        if settings.detect_copies and store.documents:
            signed = _sign_unsigned(store, texts)
            report.clustered = _group_copies(store, texts, signed, lost, settings)
        if not store.documents:
            named = paths or [s.url for s in sources]
            raise CorpusError(f"No readable article in {', '.join(map(str, named))}"
                              f" ({len(report.skipped)} skipped); the index at {location} was left as it was.")
        if (report.added or report.removed or origins_changed or relexed or rebuild or report.clustered or signed
                or not store_exists(location)):
            store.commit()
        if poll is not None:
            Archive.commit(poll.commit)  # only now: pages an ingest failed to commit are fetched again
        report.documents = len(store.documents)
        report.chunks = store.chunk_count
    report.seconds = time.perf_counter() - started
    return report


def _fetch(sources: list, settings: Settings, report: IngestReport, files: list):
    """Fetch the feeds and pages into the web archive; their new files join ``files``."""
    if not sources:
        return None
    poll = fetch_sources(sources, settings)
    report.sources = poll.reports
    files.extend(poll.files)
    if not files and not any(r.ok for r in poll.reports):
        first = next((reason for r in poll.reports for reason in r.failed), "the feeds list no article.")
        more = sum(len(r.failed) for r in poll.reports) - 1
        if more > 0:  # one line per source, then the error
            for r in poll.reports:
                log.warning("%s", r.line())
        raise FetchError(f"Nothing was ingested: {first}" + (f" ({more} more failures above)" if more > 0 else ""))
    return poll


def _writable(location: str, settings: Settings, rebuild: bool):
    """The store to write to (the existing index, or a new one), its embedder, and the settings pinned to it."""
    from ..models.embed import embedder_for_index, get_embedder

    if store_exists(location) and not rebuild:
        embedder = embedder_for_index(location)  # an existing index keeps its runtime
        store = open_store(location, embedder=embedder.id)
        settings, relexed = _pinned(settings, store, embedder.runtime)
        return store, embedder, settings, relexed
    # Chunking needs only the word pieces, the same for every runtime; "auto" picks the runtime after planning.
    embedder = get_embedder(DEFAULT if settings.embed_runtime == AUTO else settings.embed_runtime)
    store = create_store(location, embedder.id, embedder.dimension, settings.chunk_size, settings.chunk_overlap,
                         ENCODING, settings.index_prefix, settings.lexical_stemmer)
    return store, embedder, settings, False


def _choose_runtime(store: Store, embedder, planned: list, settings: Settings, report: IngestReport):
    """The embedder of a new index: the runtime asked for, or the one measured fastest on this machine."""
    from ..models.embed import get_embedder

    texts = [prefix + s.text for _, _, spans, prefix in planned for s in spans]
    choice = choose_runtime(settings.embed_runtime, texts, settings.batch_size)
    report.runtime = choice.summary()
    if choice.runtime == embedder.runtime:
        return embedder
    chosen = get_embedder(choice.runtime)
    store.manifest.embedder = chosen.id  # nothing is committed yet: the index is born with the chosen runtime
    return chosen


def _read(files, settings: Settings, report: IngestReport) -> tuple[dict[str, Document], dict[str, set[str]]]:
    """Every readable document of ``files`` by id, and the origins each was read from."""
    max_bytes = int(settings.max_file_mb * 1e6)
    incoming: dict[str, Document] = {}
    origins: dict[str, set[str]] = {}
    for f in files:
        for item in load_file(f, max_bytes=max_bytes):
            if isinstance(item, Skipped):
                log.warning("skipped %s", item.reason)
                report.skipped.append(item)
                continue
            if item.doc_id in incoming:
                report.duplicates += 1
            else:
                incoming[item.doc_id] = item
            origins.setdefault(item.doc_id, set()).add(item.origin)
    return incoming, origins


def _reconcile(store: Store, incoming: dict[str, Document], origins: dict[str, set[str]], read_files: set[str],
               prune: bool, report: IngestReport, lost: set[str]) -> bool:
    """Files read now are authoritative for their documents; with ``prune``, vanished files drop out. A
    document left without origins is removed (its story cluster, if any, joins ``lost``); one the index holds
    already leaves ``incoming``. Returns whether any origin changed."""
    changed = False
    for doc_id, entry in list(store.documents.items()):
        kept = [o for o in entry.origins
                if origin_file(o) not in read_files and not (prune and not Path(origin_file(o)).exists())]
        kept.extend(origins.pop(doc_id, set()) - set(kept))
        if doc_id in incoming:
            report.unchanged += 1
            incoming.pop(doc_id)
        if kept:
            if sorted(kept) != entry.origins:
                changed = True
                store.set_origins(doc_id, kept)
        else:
            if entry.cluster:
                lost.add(entry.cluster)
            store.remove_document(doc_id)
            report.removed += 1
    return changed


def _sign_unsigned(store: Store, texts: dict[str, str]) -> list[str]:
    """Sign the documents that have no MinHash signature yet (an index built before copies were found, or
    with detect_copies off); returns their ids."""
    unsigned = [d for d, e in store.documents.items() if not e.minhash]
    for doc_id in unsigned:
        store.update_document(doc_id, minhash=signature(texts.get(doc_id) or document_text(store, doc_id)))
    return unsigned


def _group_copies(store: Store, texts: dict[str, str], signed: list[str], lost: set[str],
                  settings: Settings) -> int:
    """Find the copies of the documents added or just signed and re-check the clusters that lost a member;
    returns how many documents were regrouped."""
    new = sorted(set(signed) | {d for d in texts if d in store.documents})
    lost &= {e.cluster for e in store.documents.values() if e.cluster}
    if not new and not lost:
        return 0

    def text_of(doc_id: str) -> str:
        return texts.get(doc_id) or document_text(store, doc_id)

    finder = CopyFinder(text_of, settings.copy_containment, settings.copy_window_days)
    return update_clusters(store, new, lost, finder)


def _plan(incoming: dict[str, Document], embedder, settings: Settings) -> list:
    """(doc id, document, chunks, embedded prefix) of each new document."""
    dense_prefix = settings.index_prefix in ("dense", "both")
    planned = []
    for doc_id, doc in incoming.items():
        prefix = metadata_prefix(DocEntry(**doc.metadata())) if dense_prefix else ""
        # The prefix is embedded with every chunk, so it takes its share of the embedder's input limit.
        room = embedder.content_limit - (embedder.count_tokens([prefix])[0] if prefix else 0)
        chunker = Chunker(settings.chunk_size, settings.chunk_overlap, embed_tokens=embedder.count_tokens, limit=room)
        planned.append((doc_id, doc, chunker.split(doc.text), prefix))
    return planned


def _add_planned(store: Store, planned: list, origins: dict[str, set[str]], embedder, settings: Settings,
                 report: IngestReport, progress: bool | None, pool, every: int) -> None:
    """Embed and add the planned documents, committing after every ``every`` of them (0: the caller commits
    once at the end); the last batch is left for the caller's commit. ``pool``: Ray's embedding actors, or
    None to embed in this process."""
    batches = [planned[i:i + every] for i in range(0, len(planned), every)] if every else [planned]
    total = sum(len(spans) for _, _, spans, _ in planned)
    show = progress if progress is not None else (total >= PROGRESS_MIN_CHUNKS and sys.stderr.isatty())
    with tqdm(total=total, unit="chunk", desc="embedding", disable=not show, file=sys.stderr) as bar:
        for n, batch in enumerate(batches, 1):
            vectors, sentences = _embed(batch, embedder, store.has_sentence_vectors, settings, bar, pool)
            offset = 0
            for doc_id, doc, spans, _prefix in batch:
                k = len(spans)
                meta = doc.metadata() | ({"minhash": signature(doc.text)} if settings.detect_copies else {})
                store.add_document(doc_id, meta, [(s.start, s.end, s.text) for s in spans],
                                   vectors[offset:offset + k], sorted(origins.get(doc_id, {doc.origin})),
                                   sentences[offset:offset + k] if sentences is not None else None)
                offset += k
                report.added += 1
            report.chunks_embedded += offset
            if n < len(batches):
                store.commit()  # a crash from here on keeps this batch; the memory it held is released


def _embed(planned: list, embedder, with_sentences: bool, settings: Settings, bar, pool):
    """The chunks' vectors and, for a format-2 index, each chunk's (sentence spans, sentence vectors); ``bar``
    (a tqdm bar) advances per chunk."""
    texts = [prefix + s.text for _, _, spans, prefix in planned for s in spans]
    spans_in = embedded = None
    if with_sentences:
        # Each chunk's sentences, as spans of its text (and of the embedded text, prefix included).
        spans_in = [[(x.start, x.end) for x in split_sentences(s.text)] or [(0, len(s.text))]
                    for _, _, spans, _ in planned for s in spans]
        shifts = [len(prefix) for _, _, spans, prefix in planned for _ in spans]
        embedded = [[(a + d, b + d) for a, b in sp] for sp, d in zip(spans_in, shifts, strict=True)]
    if pool is not None:
        vectors, sentence_vectors = pool.embed(texts, embedded, embedder.runtime, settings.batch_size, bar)
    elif with_sentences:
        vectors, sentence_vectors = embedder.encode_passages(texts, embedded, batch_size=settings.batch_size,
                                                             progress=bar)
    else:  # a format-1 index: chunk vectors only
        vectors = embedder.encode(texts, batch_size=settings.batch_size, progress=bar)
    if not with_sentences:
        return vectors, None
    return vectors, list(zip(spans_in, sentence_vectors, strict=True))
