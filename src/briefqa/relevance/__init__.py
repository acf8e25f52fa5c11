"""How well a sentence or a passage answers a question: what the stages that rank and quote text share.

``expect`` says what a question asks for (a date, a number, a name, a reason) and where a sentence states it;
``features`` turns each candidate sentence into the scorer's features; ``scorer`` weighs them with the learned
model (``scorer.json``) into a probability per sentence, a score per passage for reranking, and the
probability that no sentence answers.

May import: ``errors``, ``records``, ``settings``, ``text``, ``store`` and ``models``. Retrieval reranks with it
and answering quotes with it, so it imports neither.
"""
