"""The store: where an index lives, and all that the stages above may ask of it.

``base`` is the interface (:class:`~briefqa.store.base.Store`, :class:`~briefqa.store.base.Filters`, the manifest
and chunk records); ``location`` opens a location string with the backend it names; ``local`` (with ``segment``
and ``lexical``) is the index directory on this machine, ``milvus`` a Milvus server or a milvus-lite file.

May import: ``errors``, ``records``, ``settings``, ``text``. Nothing of the stages: retrieval, answering and
the rest sit above this interface, so every backend ranks and answers the same way. A new backend is one
module here, a subclass of ``Store``, plus its prefix in ``location``.
"""

from .base import ChunkRecord, DocEntry, Filters, Hit, Manifest, Store
from .location import copy_store, create_store, open_store, read_manifest, store_exists, writer

__all__ = ["ChunkRecord", "DocEntry", "Filters", "Hit", "Manifest", "Store", "copy_store", "create_store",
           "open_store", "read_manifest", "store_exists", "writer"]
