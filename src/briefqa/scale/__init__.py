"""Ray, for the heavy fan-out: embedding at ingest and answering at evaluation on a cluster.

``cluster`` connects to (or starts) a Ray cluster, keeps a pool of embedding actors for an ingest, and maps
jobs over a pool of actors that the caller defines. Only this package imports Ray, and only when ``--ray``
(``ray=...``) is asked for.

May import: ``errors``, ``settings``, ``store`` and ``models``. It knows nothing of what it runs: the
evaluator hands it its own actor.
"""
