"""Answer: from the retrieved passages to a short answer whose every claim is cited and checked.

``extractive`` (the default) quotes the passages' best sentences, with ``short`` for the bold span it opens
with; ``generate`` is the LLM chain, run by ``llm`` (the embedded model in a ``llm_worker`` process, or an
OpenAI-compatible server); ``cite`` checks every citation; ``followup`` rewrites a follow-up question to stand
alone. A new answerer is one module here that returns cited sentences.

May import: ``errors``, ``records``, ``settings``, ``text``, ``store``, ``models`` and ``relevance``.
"""
