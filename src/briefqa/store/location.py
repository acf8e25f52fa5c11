"""Where an index is, and opening it: the one place that knows every backend.

A location string chooses the backend (see :mod:`briefqa.store.base`): ``milvus://`` and ``milvus-lite:`` are
Milvus, anything else a directory of the local backend. The interface itself knows no backend; this module
is what imports them, lazily, so that opening a local index never imports pymilvus.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from .base import MILVUS, MILVUS_LITE, Manifest, Store


def backend_of(location: str | Any) -> str:
    text = str(location)
    return "milvus" if text.startswith((MILVUS, MILVUS_LITE)) else "local"


def _backend(location):
    if backend_of(location) == "milvus":
        from . import milvus

        return milvus.MilvusStore
    from .local import IndexStore

    return IndexStore


def store_exists(location) -> bool:
    """Whether an index is at ``location`` (a missing Milvus server is an error, not "no")."""
    return _backend(location).exists(location)


def read_manifest(location) -> Manifest:
    """What the index at ``location`` was built with, without loading its data."""
    return _backend(location).read_manifest(location)


def open_store(location, embedder: str | None = None) -> Store:
    """Open the index at ``location`` for reading; refuse one built with another ``embedder``."""
    return _backend(location).open(location, embedder=embedder)


def create_store(location, embedder: str, dimension: int, chunk_size: int, chunk_overlap: int, tokenizer: str,
                 index_prefix: str = "none", lexical_stemmer: str = "") -> Store:
    """A new, empty index for ``location`` (nothing is visible before its first commit)."""
    return _backend(location).create(location, embedder, dimension, chunk_size, chunk_overlap, tokenizer,
                                     index_prefix, lexical_stemmer)


@contextlib.contextmanager
def writer(location):
    """Be the only writer of the index at ``location`` until the block ends, or raise ``IndexBusyError``."""
    with _backend(location).write_lock(location):
        yield


def copy_store(source, target, progress=None) -> Store:
    """Copy the index at ``source`` into a new index at ``target`` (another backend, say), without embedding
    anything again: chunks, vectors and sentence vectors move as they are. ``target`` must not exist yet.

    >>> copy_store("index/", "milvus://milvus.example:19530/news")  # doctest: +SKIP
    """
    src = open_store(source)
    if store_exists(target):
        from ..errors import IndexWriteError

        raise IndexWriteError(f"There is an index at {target} already; copy into a new location.")
    m = src.manifest
    with writer(target):
        dst = create_store(target, m.embedder, m.dimension, m.chunk_size, m.chunk_overlap, m.tokenizer,
                           m.index_prefix, m.lexical_stemmer)
        for doc_id, entry in src.documents.items():
            src.fetch(entry.chunk_ids)
            chunks = [src.chunk(c) for c in entry.chunk_ids]
            sentences = None
            if src.has_sentence_vectors:
                sentences = [([tuple(s) for s in c.sentences], src.sentence_vectors(c.id)) for c in chunks]
            meta = entry.model_dump(exclude={"chunk_ids", "origins"})
            vectors = src.chunk_vectors(entry.chunk_ids) if chunks else np.zeros((0, m.dimension), np.float32)
            dst.add_document(doc_id, meta, [(c.start, c.end, c.text) for c in chunks], vectors, entry.origins,
                             sentences)
            if progress is not None:
                progress.update(1)
        dst.commit()
    return dst
