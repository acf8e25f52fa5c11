"""Retrieve: the passages that answer a question, news-aware.

``query`` reads what a question names (publications, days, ranges, titles); ``retriever`` searches the store
(dense, lexical or hybrid), fuses each named report's own search, reranks with the learned passage scorer
and collapses wire copies; ``langchain`` is the same as a LangChain ``BaseRetriever``.

May import: ``errors``, ``records``, ``settings``, ``text``, ``store``, ``models`` and ``relevance``; nothing
of answering.
"""
