"""Ray for the heavy fan-out: embedding chunks at ingest, answering questions at evaluation.

Only ``--ray`` (``ingest(..., ray=...)``, ``evaluate(..., ray=...)``) imports this module, and only it imports
Ray. ``ray=True`` starts a local cluster on 127.0.0.1; a string is the address of a running one.

Ingest stays single-writer: this process reads, chunks and commits, and only the embedding — the whole cost
of ingest — goes to a pool of actors. Each actor loads the model once and runs as many threads as the
cluster's smallest node has CPUs, each on its own batch as in one process (one actor per node on a cluster of
equal nodes). For an ONNX runtime the driver's export is shipped through the object store, so no node exports
the model again. The driver cuts the chunks into exactly the batches a single-process ingest would make
(longest first) and the pool returns them in order, so the vectors are those of a single-process ingest,
batch for batch.

Evaluation runs a pool of actors (one per CPU) through :func:`actor_map`: the evaluator defines the actor (it
opens the index once and answers questions as an in-process run does), this module only places and feeds it,
so that the fan-out knows nothing of what it runs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, StoreUnavailableError

log = logging.getLogger(__name__)


def connect(address: str | None) -> Any:
    """The ``ray`` module, connected to the cluster at ``address`` or to a new local one."""
    loopback = address is not None and address.split(":")[0] in ("127.0.0.1", "localhost")
    if loopback:
        # Ray rewrites a loopback cluster address to this machine's outward address before connecting, where a
        # cluster bound to 127.0.0.1 does not listen; this switch (read when Ray is imported) keeps it local.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs Ray; install briefqa with the scale extra: pip install 'briefqa[scale]'.") \
            from None
    if ray.is_initialized():
        if address is None or address == ray.get_runtime_context().gcs_address:
            return ray  # the cluster this process is connected to already
        _probe(address)
        ray.shutdown()
    elif address is not None:
        _probe(address)
    options = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    try:
        if address is None:
            ray.init(num_cpus=len(os.sched_getaffinity(0)), _node_ip_address="127.0.0.1", **options)
        elif loopback:
            ray.init(address=address, _node_ip_address="127.0.0.1", **options)
        else:
            ray.init(address=address, **options)
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError or its own exceptions
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        where = f"at {address}" if address else "on this machine"
        raise StoreUnavailableError(f"The Ray cluster {where} cannot be used ({reason}); start it with "
                                    "`ray start --head`, or check the address given to --ray.") from None
    return ray


def _probe(address: str) -> None:
    """Fail in seconds, not minutes, when nothing listens at ``address`` (``ray.init`` retries for long)."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=5):
            pass
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not HOST:PORT"
        raise StoreUnavailableError(f"No Ray cluster answers at {address} ({reason}); start one with "
                                    "`ray start --head`, or check the address given to --ray.") from None


def _cpus(ray) -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def layout(cpus: dict[str, int]) -> tuple[int, list[str]]:
    """Given each node's CPUs, the threads per embedding actor and the node of each actor: as many threads as
    the smallest node has CPUs, and as many actors on each node as that fits. An actor that runs its threads'
    batches side by side keeps one copy of the model's weights in the CPU's caches: one two-thread actor
    embedded the corpus 9% faster than two one-thread actors on the same two cores (docs/scaling.md)."""
    cpus = {node: c for node, c in cpus.items() if c >= 1}
    if not cpus:
        return 1, []
    threads = min(cpus.values())
    return threads, [node for node, c in cpus.items() for _ in range(c // threads)]


def _node_cpus(ray) -> dict[str, int]:
    return {n["NodeID"]: int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")}


class _Embedder:
    """One embedding actor: the packaged model, loaded once, on ``threads`` threads."""

    def __init__(self, runtime: str, threads: int, onnx_model: bytes | None) -> None:
        os.environ["BRIEFQA_THREADS"] = str(threads)
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from ..models.embed import Embedder

        self.embedder = Embedder(runtime)
        if onnx_model is not None:
            self.embedder.use_onnx(onnx_model)

    def embed(self, texts: list[str], spans: list | None,
              batch_size: int) -> tuple[np.ndarray, list[np.ndarray] | None]:
        if spans is None:
            return self.embedder.encode(texts, batch_size=batch_size), None
        return self.embedder.encode_passages(texts, spans, batch_size=batch_size)


class EmbeddingPool:
    """The embedding actors of one ingest: started for its first batch and kept for the later ones (an ingest
    that commits every ``commit_every`` documents embeds a batch per commit), then released by :meth:`close`.
    Constructing it connects to the cluster, so an unreachable one fails before any work."""

    def __init__(self, address: str | None) -> None:
        self.ray = connect(address)
        self.threads = 1  # per actor, set with the actors by _pool
        self._runtime: str | None = None
        self._actors: list = []

    def _pool(self, runtime: str):
        from ray.util import ActorPool
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from ..models.embed import TORCH_RUNTIMES, get_embedder

        if runtime != self._runtime:
            self.close()
            self.threads, nodes = layout(_node_cpus(self.ray))
            if not nodes:  # before reading and shipping the model, which would go nowhere
                raise StoreUnavailableError("The Ray cluster has no node with a CPU to embed on; add a node with "
                                            "`ray start --address ...`, or ingest without --ray.")
            model = get_embedder(runtime).onnx_bytes() if runtime not in TORCH_RUNTIMES else None
            model_ref = self.ray.put(model)
            actor = self.ray.remote(num_cpus=self.threads)(_Embedder)
            self._actors = [actor.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=True))
                            .remote(runtime, self.threads, model_ref) for node in nodes]
            self._runtime = runtime
        return ActorPool(self._actors)

    def embed(self, texts: Sequence[str], spans: Sequence | None, runtime: str, batch_size: int,
              progress=None) -> tuple[np.ndarray, list[np.ndarray] | None]:
        """What ``Embedder.encode_passages`` (or ``encode``, when ``spans`` is None) returns, computed by the
        pool's actors."""
        from ..models.embed import get_embedder

        dim = get_embedder(runtime).dimension
        vectors = np.zeros((len(texts), dim), dtype=np.float32)
        sentences: list[np.ndarray] = [np.zeros((0, dim), dtype=np.float32)] * len(texts)
        try:
            pool = self._pool(runtime)
            order = np.argsort([-len(t) for t in texts], kind="stable")  # the batches of a single-process ingest
            # Each job is a batch per actor thread, run side by side in the actor as one process runs them.
            step = batch_size * self.threads
            batches = [order[i:i + step] for i in range(0, len(texts), step)]
            jobs = [([texts[i] for i in b], [spans[i] for i in b] if spans is not None else None, batch_size)
                    for b in batches]
            done = pool.map(lambda a, job: a.embed.remote(*job), jobs)
            for idx, (vecs, sents) in zip(batches, done, strict=True):
                vectors[idx] = vecs
                for row, i in enumerate(idx):
                    if sents is not None:
                        sentences[i] = sents[row]
                if progress is not None:
                    progress.update(len(idx))
        except self.ray.exceptions.RayError as exc:
            self.close()  # a dead actor stays dead: the next ingest starts a new pool
            raise StoreUnavailableError(f"An embedding worker on the Ray cluster failed ({type(exc).__name__}); "
                                        "the index keeps what it held and what earlier batches committed; run "
                                        "the ingest again (committed documents are not embedded again).") from None
        return vectors, (sentences if spans is not None else None)

    def close(self) -> None:
        for actor in self._actors:
            self.ray.kill(actor)
        self._actors, self._runtime = [], None

    def __enter__(self) -> EmbeddingPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def actor_map(actor_class: type, init_args: tuple, jobs: Sequence[tuple], address: str | None,
              failure: str) -> Iterator[Any]:
    """Each job's result, in order, from a pool of ``actor_class`` actors, one per CPU of the cluster at
    ``address`` (a new local one for None). Each actor is built with ``init_args``, which go through the
    cluster's object store once (never printed or written by briefqa), and runs a job as ``actor.run(*job)``.
    A failing worker is ``failure`` (its ``{error}`` names the kind), one sentence."""
    ray = connect(address)
    from ray.util import ActorPool

    actor = ray.remote(num_cpus=1)(actor_class)
    refs = [ray.put(arg) for arg in init_args]
    pool = ActorPool([actor.remote(*refs) for _ in range(_cpus(ray))])
    try:
        yield from pool.map(lambda a, job: a.run.remote(*job), jobs)
    except ray.exceptions.RayError as exc:
        raise StoreUnavailableError(failure.format(error=type(exc).__name__)) from None
