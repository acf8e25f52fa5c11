"""Evaluate: run a dataset through the API under several configurations and score what comes out.

``dataset`` reads the benchmark formats into one record type; ``metrics`` are the scores as small pure
functions; ``runner`` is :func:`briefqa.evaluate` with its reports and ``briefqa eval compare``. Like the CLI,
it is a user of the API (evaluators are one of briefqa's users), so it sits above ``api``.

May import: everything below ``ui``.
"""
