"""What news needs beyond one answer: wire copies, what each outlet said, a story's timeline.

``copies`` groups wire copies and updates into story clusters at ingest (MinHash); ``outlets`` gives one
cited line per publication; ``timeline`` lays a story out by publication date.

May import: ``errors``, ``records``, ``settings``, ``text``, ``store``, ``models``, ``relevance``,
``retrieval`` and ``answering``.
"""
