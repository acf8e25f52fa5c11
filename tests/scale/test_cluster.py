"""Ray fan-out on a real two-node Ray cluster on this machine: the same chunks, vectors and results as one
process, and one sentence when the cluster is missing or a worker dies."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

# Ray rewrites a loopback cluster address to this machine's outward one unless this is set before it is
# imported (briefqa.scale.cluster sets it too, but this module imports Ray first, for the cluster).
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"

import briefqa
from briefqa import StoreUnavailableError
from briefqa.store.location import open_store
from conftest import DEMO_CORPUS, DISTRACTORS, free_port, one_clear_error, run


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A Ray cluster of two one-CPU nodes, both on 127.0.0.1, in a temp directory of its own (a crashed run's
    leftovers in Ray's default directory would otherwise be joined)."""
    from ray.cluster_utils import Cluster

    os.environ["RAY_TMPDIR"] = str(tmp_path_factory.mktemp("ray"))
    # Ray waits a fixed 30 s for a new node to register; on a loaded 2-core CI machine that once ran out
    # ("The current node timed out during startup"), so a failed start is retried once from scratch.
    for attempt in (1, 2):
        c = Cluster(initialize_head=False)
        try:
            c.add_node(num_cpus=1, node_ip_address="127.0.0.1", include_dashboard=False)
            c.add_node(num_cpus=1, node_ip_address="127.0.0.1")
            break
        except Exception as e:
            c.shutdown()
            if attempt == 2 or "timed out during startup" not in str(e):
                raise
    yield c.address
    import ray

    ray.shutdown()
    c.shutdown()
    os.environ.pop("RAY_TMPDIR", None)


def test_ray_ingest_stores_the_chunks_ids_and_vectors_of_a_single_process_ingest(corpus, cluster, tmp_path):
    import ray

    # Batches of 4 spread the demo corpus's chunks over both nodes' actors.
    one = briefqa.ingest(corpus, index=tmp_path / "one", batch_size=4, progress=False)
    fanned = briefqa.ingest(corpus, index=tmp_path / "ray", batch_size=4, progress=False, ray=cluster)
    assert len(ray.nodes()) == 2 and all(n["NodeManagerAddress"] == "127.0.0.1" for n in ray.nodes())
    assert (fanned.added, fanned.chunks_embedded) == (one.added, one.chunks_embedded)
    a, b = open_store(tmp_path / "one"), open_store(tmp_path / "ray")
    assert [(c.id, c.doc_id, c.text, c.sentences) for c in a.iter_chunks()] == [
        (c.id, c.doc_id, c.text, c.sentences) for c in b.iter_chunks()]
    ids = [c.id for c in a.iter_chunks()]
    assert np.array_equal(a.chunk_vectors(ids), b.chunk_vectors(ids))
    assert all(np.array_equal(a.sentence_vectors(i), b.sentence_vectors(i)) for i in ids)


def test_an_ingest_committing_in_batches_starts_its_actors_once_and_releases_them(corpus, cluster, tmp_path,
                                                                                  monkeypatch):
    from briefqa.scale.cluster import EmbeddingPool

    seen, pools = [], []
    embed = EmbeddingPool.embed

    def spy(self, *args, **kwargs):
        out = embed(self, *args, **kwargs)
        seen.append(tuple(self._actors))
        pools.append(self)
        return out

    monkeypatch.setattr(EmbeddingPool, "embed", spy)
    report = briefqa.ingest(corpus, index=tmp_path / "ray", commit_every=1, progress=False, ray=cluster)
    assert len(seen) == report.added >= 3  # a commit, so an embedding batch, per document
    assert len(set(seen)) == 1 and len(seen[0]) == 2  # the same two actors (one per CPU) for every batch
    assert pools[0]._actors == []  # killed when the ingest ended


def test_embedding_actors_take_as_many_threads_as_the_smallest_node_has_cpus():
    from briefqa.scale.cluster import layout

    assert layout({"a": 2}) == (2, ["a"])  # a local cluster on two cores: one actor, two threads
    assert layout({"a": 1, "b": 1}) == (1, ["a", "b"])  # the test cluster: an actor on each node
    assert layout({"a": 4, "b": 8, "head": 0}) == (4, ["a", "b", "b"])  # no actor where no CPU is
    assert layout({"head": 0}) == (1, [])


def test_an_actor_with_two_threads_embeds_the_batches_of_a_single_process(monkeypatch):
    # What a local cluster on two cores runs: one actor, a job of two batches embedded side by side.
    from briefqa.models.embed import get_embedder
    from briefqa.scale.cluster import _Embedder

    monkeypatch.setenv("BRIEFQA_THREADS", "2")  # the actor sets it; monkeypatch restores it afterwards
    texts = [f"Report {i}: the port reopened. Ships queued for {i} days." * (1 + i % 5) for i in range(10)]
    spans = [[(0, len(t))] for t in texts]
    vectors, sentences = _Embedder("onnx-int8", 2, None).embed(texts, spans, 4)
    one, one_sentences = get_embedder("onnx-int8").encode_passages(texts, spans, batch_size=4)
    assert np.array_equal(vectors, one)
    assert all(np.array_equal(a, b) for a, b in zip(sentences, one_sentences, strict=True))


def test_ray_evaluation_gives_the_results_of_an_in_process_run(corpus, cluster, tmp_path):
    briefqa.ingest(corpus, index=tmp_path / "ix", progress=False)
    data = tmp_path / "questions.jsonl"
    questions = ["Why did Baku open an embassy in Tel Aviv now?", "What did the ECB decide?",
                 "Which chips do the export controls cover?", "Who won the Women's World Cup?"]
    data.write_text("".join(json.dumps({"id": f"q{i}", "question": q}) + "\n" for i, q in enumerate(questions)),
                    encoding="utf-8")
    here = briefqa.evaluate(data, index=tmp_path / "ix", out=tmp_path / "here", progress=False)
    there = briefqa.evaluate(data, index=tmp_path / "ix", out=tmp_path / "there", progress=False, ray=cluster)

    def results(out):
        rows = [json.loads(line) for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]
        return sorted((r["id"], r["answer"], [p["metadata"]["chunk_id"] for p in r["passages"]]) for r in rows)

    assert results(tmp_path / "there") == results(tmp_path / "here")
    assert there.configs[0].metrics.keys() == here.configs[0].metrics.keys()


def test_an_unreachable_cluster_is_one_sentence_and_nothing_is_written(corpus, tmp_path):
    address = f"127.0.0.1:{free_port()}"
    with pytest.raises(StoreUnavailableError, match=f"No Ray cluster answers at {address}"):
        briefqa.ingest(corpus, index=tmp_path / "ix", ray=address)
    assert not (tmp_path / "ix").exists()
    one_clear_error(run("ingest", corpus, "--index", tmp_path / "ix", "--ray", address), "No Ray cluster")


def test_a_worker_killed_mid_ingest_is_one_sentence_and_the_index_keeps_its_state(cluster, tmp_path):
    root = tmp_path / "corpus"
    root.mkdir()
    shutil.copy(DISTRACTORS, root)
    briefqa.ingest(DEMO_CORPUS, index=tmp_path / "ix", progress=False)
    before = (tmp_path / "ix" / "manifest.json").read_bytes()

    def kill_an_actor():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            found = subprocess.run(["pgrep", "-f", "ray::_Embedder"], capture_output=True, text=True).stdout.split()
            if found:
                time.sleep(1.0)  # let it start embedding
                os.kill(int(found[0]), signal.SIGKILL)
                return
            time.sleep(0.1)

    killer = threading.Thread(target=kill_an_actor)
    killer.start()
    with pytest.raises(StoreUnavailableError, match="worker on the Ray cluster failed"):
        briefqa.ingest(root, index=tmp_path / "ix", batch_size=2, progress=False, ray=cluster)
    killer.join()
    assert (tmp_path / "ix" / "manifest.json").read_bytes() == before
    assert briefqa.BriefQA.open(tmp_path / "ix").ask("Why did Baku open an embassy in Tel Aviv now?").citations


def test_without_ray_nothing_imports_it(corpus, tmp_path):
    code = ("import sys, briefqa; briefqa.ingest(sys.argv[1], index=sys.argv[2], progress=False); "
            "briefqa.BriefQA.open(sys.argv[2]).ask('Why did it happen?'); "
            "assert not [m for m in sys.modules if m == 'ray' or m.startswith(('ray.', 'pymilvus'))], 'imported'")
    result = subprocess.run([sys.executable, "-c", code, str(corpus), str(tmp_path / "ix")], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
