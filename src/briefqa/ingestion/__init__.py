"""Ingest: files to documents, documents to sentence-bounded chunks, chunks to vectors, all into a store.

``load`` reads and cleans articles; ``chunk`` packs sentences into token-bounded passages; ``runtime``
chooses which runtime embeds a new index; ``pipeline`` is :func:`briefqa.ingest`, incremental and with one
writer at a time. A new file format is one loader in ``load``.

May import: ``errors``, ``records``, ``settings``, ``text``, ``store``, ``models``, ``scale`` (``--ray``) and
``news.copies`` (wire copies are grouped into story clusters as they arrive).
"""
