"""Incremental ingest: load, clean, chunk and embed what changed, and commit it to the index atomically.

Embedding is the whole cost of ingest, so ingest embeds only documents the index does not hold yet. A
document is identified by the hash of its cleaned text: re-ingesting an unchanged corpus embeds nothing, the
same text read from two paths is stored once, and a file whose text changed gets a new document while the
old one, left without any origin, is removed with its chunks. ``prune`` also forgets files that are gone.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from tqdm import tqdm

from .chunk import ENCODING, Chunker, split_sentences
from .errors import CorpusError, IndexMismatchError
from .index import DocEntry, IndexStore, metadata_prefix, write_lock
from .load import collect_files, load_file, origin_file
from .records import Document, IngestReport, Skipped
from .settings import INDEX, Settings, describe_origin, load_settings, pin_to_index

log = logging.getLogger(__name__)

#: Above this many chunks to embed, ingest shows a progress bar; below it, only the summary line.
PROGRESS_MIN_CHUNKS = 64


def _pinned(settings: Settings, store: IndexStore, runtime: str) -> tuple[Settings, bool]:
    """Settings for adding to an existing index: its chunking and embedding are fixed (asking for others is an
    error, see :func:`~briefqa.settings.pin_to_index`); its lexical prefix and stemmer may change in place,
    since BM25 is rebuilt from the chunks at every save. Returns the settings and whether the lexical side
    changes."""
    m = store.manifest
    where = str(store.path)
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
    m.index_prefix, m.lexical_stemmer = settings.index_prefix, settings.lexical_stemmer
    return settings, relexed


def ingest(paths: Iterable[str | Path] | str | Path, index: str | Path | None = None, *,
           settings: Settings | None = None, prune: bool = False, rebuild: bool = False,
           progress: bool | None = None, **overrides) -> IngestReport:
    """Ingest files or directories of articles into the index at ``index``; return what was done.

    ``overrides`` are settings (``chunk_size=…``). An existing index keeps the chunking and embedding
    runtime it was built with; asking for others, from any source, is an error unless ``rebuild`` is set. Unreadable
    files are skipped, logged and counted in the report. Raises :class:`CorpusError` when no document at all
    can be read and the index would stay empty, and :class:`IndexBusyError` when another process is writing
    the same index, and :class:`IndexWriteError` when the disk is full or the directory read-only (the
    index is then as it was).
    """
    from .embed import embedder_for_index, get_embedder

    started = time.perf_counter()
    settings = (settings or load_settings()).replace(**overrides)
    index_path = Path(index if index is not None else settings.index)
    if isinstance(paths, str | Path):
        paths = [paths]
    files = collect_files(paths)
    report = IngestReport(index=str(index_path))
    # Held from reading the manifest to committing the new one: a concurrent writer would otherwise start from
    # the same manifest, and the later commit would silently drop the earlier one's documents.
    with write_lock(index_path):
        relexed = False

        if IndexStore.exists(index_path) and not rebuild:
            embedder = embedder_for_index(index_path)  # an existing index keeps its runtime
            store = IndexStore.open(index_path, embedder=embedder.id)
            settings, relexed = _pinned(settings, store, embedder.runtime)
        else:
            embedder = get_embedder(settings.embed_runtime)
            store = IndexStore.create(index_path, embedder.id, embedder.dimension, settings.chunk_size,
                                      settings.chunk_overlap, ENCODING, settings.index_prefix, settings.lexical_stemmer)

        # 1. Read every file; each document keeps the origins it was read from.
        max_bytes = int(settings.max_file_mb * 1e6)
        incoming: dict[str, Document] = {}
        origins: dict[str, set[str]] = {}
        read_files = {str(f) for f in files}
        for f in files:
            for item in load_file(f, max_bytes=max_bytes):
                if isinstance(item, Skipped):
                    log.warning("skipped %s", item.reason)
                    report.skipped.append(item)
                    continue
                doc_id = item.doc_id
                if doc_id in incoming:
                    report.duplicates += 1
                else:
                    incoming[doc_id] = item
                origins.setdefault(doc_id, set()).add(item.origin)

        # 2. Origins: files read now are authoritative for their documents; with prune, vanished files drop out.
        origins_changed = False
        for doc_id, entry in list(store.manifest.documents.items()):
            kept = [o for o in entry.origins
                    if origin_file(o) not in read_files and not (prune and not Path(origin_file(o)).exists())]
            kept.extend(origins.pop(doc_id, set()) - set(kept))
            if doc_id in incoming:
                report.unchanged += 1
                incoming.pop(doc_id)
            if kept:
                origins_changed |= sorted(kept) != entry.origins
                entry.origins = sorted(kept)
            else:
                store.remove_document(doc_id)
                report.removed += 1

        # 3. Chunk and embed the new documents in one batched pass (the model loads only if there are any).
        texts: list[str] = []
        if incoming:
            dense_prefix = settings.index_prefix in ("dense", "both")
            planned = []
            for doc_id, doc in incoming.items():
                prefix = metadata_prefix(DocEntry(**doc.metadata())) if dense_prefix else ""
                # The prefix is embedded with every chunk, so it takes its share of the embedder's input limit.
                room = embedder.content_limit - (embedder.count_tokens([prefix])[0] if prefix else 0)
                chunker = Chunker(settings.chunk_size, settings.chunk_overlap, embed_tokens=embedder.count_tokens,
                                  limit=room)
                planned.append((doc_id, doc, chunker.split(doc.text), prefix))
            texts = [prefix + s.text for _, _, spans, prefix in planned for s in spans]
            show = progress if progress is not None else (len(texts) >= PROGRESS_MIN_CHUNKS and sys.stderr.isatty())
            with tqdm(total=len(texts), unit="chunk", desc="embedding", disable=not show, file=sys.stderr) as bar:
                if store.has_sentence_vectors:
                    # Each chunk's sentences, as spans of its text (and of the embedded text, prefix included).
                    spans_in = [[(x.start, x.end) for x in split_sentences(s.text)] or [(0, len(s.text))]
                                for _, _, spans, _ in planned for s in spans]
                    shifts = [len(prefix) for _, _, spans, prefix in planned for _ in spans]
                    vectors, sentence_vectors = embedder.encode_passages(
                        texts, [[(a + d, b + d) for a, b in sp] for sp, d in zip(spans_in, shifts, strict=True)],
                        batch_size=settings.batch_size, progress=bar)
                    sentences = list(zip(spans_in, sentence_vectors, strict=True))
                else:  # a format-1 index: chunk vectors only
                    vectors = embedder.encode(texts, batch_size=settings.batch_size, progress=bar)
                    sentences = None
            offset = 0
            for doc_id, doc, spans, _prefix in planned:
                n = len(spans)
                store.add_document(doc_id, doc.metadata(), [(s.start, s.end, s.text) for s in spans],
                                   vectors[offset:offset + n], sorted(origins.get(doc_id, {doc.origin})),
                                   sentences[offset:offset + n] if sentences is not None else None)
                offset += n
                report.added += 1
        report.chunks_embedded = len(texts)

        if not store.manifest.documents:
            raise CorpusError(f"No readable article in {', '.join(map(str, paths))}"
                              f" ({len(report.skipped)} skipped); the index at {index_path} was left as it was.")
        if (report.added or report.removed or origins_changed or relexed or rebuild
                or not IndexStore.exists(index_path)):
            store.save()
        report.documents = len(store.manifest.documents)
        report.chunks = len(store.chunks)
    report.seconds = time.perf_counter() - started
    return report
