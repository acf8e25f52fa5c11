"""The Milvus backend: the same index, the same rankings and the same answers as the local one, in real
milvus-lite (embedded, and as a server on 127.0.0.1 reached through ``milvus://``)."""

import shutil
import subprocess
import sys
import time

import pytest

import briefqa
from briefqa import IndexDamagedError, IndexMismatchError, StoreUnavailableError
from briefqa.store.base import Filters
from briefqa.store.location import open_store
from briefqa.store.milvus import Location, MilvusStore, _client
from conftest import free_port, one_clear_error, run

QUESTIONS = [
    "Why did Baku open an embassy in Tel Aviv now?",
    "How did Tehran react?",
    "What did the European Central Bank decide on rates?",
    "Which chips are covered by the export controls?",
]


@pytest.fixture(scope="module")
def both(corpus, tmp_path_factory):
    """The demo corpus ingested into a local index and into a milvus-lite file."""
    root = tmp_path_factory.mktemp("indexes")
    local, lite = root / "local", f"milvus-lite:{root / 'news.db'}"
    briefqa.ingest(corpus, index=local, progress=False)
    briefqa.ingest(corpus, index=lite, progress=False)
    return briefqa.BriefQA.open(local), briefqa.BriefQA.open(lite)


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_both_backends_rank_the_same_chunks_in_the_same_order(both, mode):
    local, lite = both
    for q in QUESTIONS:
        expected = [p.chunk_id for p in local.retrieve(q, k=8, retrieval_mode=mode, rerank=False)]
        assert [p.chunk_id for p in lite.retrieve(q, k=8, retrieval_mode=mode, rerank=False)] == expected, q


def test_filters_compile_to_milvus_expressions_with_the_same_results(both):
    local, lite = both
    cases = [{"sources": "Caspian Brief"}, {"date_from": "2023-09-01", "date_to": "2023-12-31"},
             {"date_to": "2023-06-30"}]
    for filters in cases:
        expected = [p.chunk_id for p in local.retrieve(QUESTIONS[0], k=6, **filters)]
        assert [p.chunk_id for p in lite.retrieve(QUESTIONS[0], k=6, **filters)] == expected, filters
    nobody = Filters.of(["Nobody Times"])  # the API refuses it (FilterError); the store answers nothing
    assert lite.retriever.retrieve(QUESTIONS[0], lite.settings, nobody) == []
    assert local.retriever.retrieve(QUESTIONS[0], local.settings, nobody) == []


def test_answers_and_their_citations_are_the_same(both):
    local, lite = both
    for q in QUESTIONS:
        a, b = local.ask(q), lite.ask(q)
        assert (b.text, b.short_answer, b.abstained) == (a.text, a.short_answer, a.abstained), q
        assert [(c.marker, c.passage.chunk_id, c.sentence) for c in b.citations] == [
            (c.marker, c.passage.chunk_id, c.sentence) for c in a.citations]


def test_a_questions_word_rarities_come_in_one_round_trip_and_equal_the_local_ones(both, monkeypatch):
    local, lite = both
    words = ["embassy", "Baku", "rates", "zyxwvut"]  # the last in no chunk
    store = lite.store
    store._df.clear()
    store.prefetch_idf(words)
    monkeypatch.setattr(store, "_frequencies", lambda terms: pytest.fail(f"read again: {terms}"))
    assert [round(store.idf(w), 9) for w in words] == [round(local.store.idf(w), 9) for w in words]


def test_the_index_describes_itself_like_a_local_one(both):
    local, lite = both
    a, b = local.info(documents=True), lite.info(documents=True)
    assert b.backend == "milvus" and a.backend == "local"
    assert lite.store.dense_index() == "FLAT"
    assert (b.documents, b.chunks, b.sources, b.embedder) == (a.documents, a.chunks, a.sources, a.embedder)
    assert [d.title for d in b.documents_list] == [d.title for d in a.documents_list]


def test_incremental_ingest_embeds_only_what_changed_and_prune_forgets(corpus, tmp_path):
    work = tmp_path / "corpus"
    shutil.copytree(corpus, work)
    lite = f"milvus-lite:{tmp_path / 'inc.db'}"
    first = briefqa.ingest(work, index=lite, progress=False)
    again = briefqa.ingest(work, index=lite, progress=False)
    assert (again.added, again.unchanged, again.chunks_embedded) == (0, first.documents, 0)

    page = work / "08-ecb-rates.md"
    page.write_text(page.read_text(encoding="utf-8").replace("The European Central Bank", "The ECB's council"),
                    encoding="utf-8")
    changed = briefqa.ingest(work, index=lite, progress=False)
    assert (changed.added, changed.removed) == (1, 1)
    (work / "09-womens-world-cup.md").unlink()
    pruned = briefqa.ingest(work, index=lite, prune=True, progress=False)
    assert (pruned.removed, pruned.documents) == (1, first.documents - 1)

    store = open_store(lite)
    texts = [c.text for c in store.iter_chunks()]
    assert len(texts) == store.chunk_count == pruned.chunks
    assert any("The ECB's council" in t for t in texts)
    assert not any("World Cup" in d.title for d in store.documents.values())
    # The term weights the answerer uses follow the changes, as those of a local index of the same files do.
    local = open_store(briefqa.ingest(work, index=tmp_path / "local", progress=False).index)
    for term in ("council", "world", "cup", "embassy", "rates", "the", "unheardofword"):
        assert store.idf(term) == pytest.approx(local.idf(term)), term


def test_a_rebuild_fills_a_new_collection_and_moves_the_alias_last(corpus, tmp_path):
    lite = f"milvus-lite:{tmp_path / 'rb.db'}"
    briefqa.ingest(corpus, index=lite, progress=False)
    before = briefqa.BriefQA.open(lite)
    old = before.store.collection
    report = briefqa.ingest(corpus, index=lite, rebuild=True, progress=False)
    assert report.chunks_embedded == report.chunks
    after = briefqa.BriefQA.open(lite)
    assert after.store.collection != old
    # A reader opened before the switch keeps answering from the generation it opened.
    assert before.ask(QUESTIONS[0]).citations
    assert [p.chunk_id for p in after.retrieve(QUESTIONS[0])] == [p.chunk_id for p in before.retrieve(QUESTIONS[0])]


def test_a_rebuild_that_dies_half_way_leaves_the_index_answering(corpus, tmp_path, monkeypatch):
    lite = f"milvus-lite:{tmp_path / 'crash.db'}"
    briefqa.ingest(corpus, index=lite, progress=False)
    live = MilvusStore._live(Location.parse(lite))

    def crash(self, doc_ids):
        raise KeyboardInterrupt  # the process dies after the chunks, before the documents and the manifest

    monkeypatch.setattr(MilvusStore, "_write_documents", crash)
    with pytest.raises(KeyboardInterrupt):
        briefqa.ingest(corpus, index=lite, rebuild=True, progress=False)
    monkeypatch.undo()
    assert MilvusStore._live(Location.parse(lite)) == live
    assert briefqa.BriefQA.open(lite).ask(QUESTIONS[0]).citations

    # The leftover generation is half-created: pointing readers at it is refused, not half-read.
    client = _client(Location.parse(lite))
    leftover = f"briefqa_g{int(live.rsplit('_g', 1)[1]) + 1}"
    assert client.has_collection(leftover)
    client.alter_alias(leftover, "briefqa")
    with pytest.raises(IndexDamagedError, match="half-created"):
        briefqa.BriefQA.open(lite)
    client.alter_alias(live, "briefqa")
    briefqa.ingest(corpus, index=lite, rebuild=True, progress=False)  # the next rebuild clears it
    assert briefqa.BriefQA.open(lite).ask(QUESTIONS[0]).citations


def test_an_index_of_another_embedder_is_refused(corpus, tmp_path):
    lite = f"milvus-lite:{tmp_path / 'other.db'}"
    briefqa.ingest(corpus, index=lite, progress=False)
    loc = Location.parse(lite)
    client, live = _client(loc), MilvusStore._live(loc)
    row = client.query(f"{live}_docs", filter='key == "__manifest__"', output_fields=["key", "entry", "v"])[0]
    client.upsert(f"{live}_docs", [{**row, "entry": row["entry"].replace("all-MiniLM-L6-v2", "e5-large")}])
    with pytest.raises(IndexMismatchError, match="e5-large"):
        briefqa.BriefQA.open(lite)


def test_locations_that_cannot_be_used_are_one_sentence(tmp_path):
    with pytest.raises(StoreUnavailableError, match=r"127\.0\.0\.1:\d+ does not answer"):
        briefqa.BriefQA.open(f"milvus://127.0.0.1:{free_port()}/news")
    with pytest.raises(briefqa.IndexMissingError, match=r"\.db"):
        briefqa.BriefQA.open(f"milvus-lite:{tmp_path / 'news'}")
    with pytest.raises(briefqa.IndexMissingError, match="No index"):
        briefqa.BriefQA.open(f"milvus-lite:{tmp_path / 'empty.db'}")
    one_clear_error(run("ask", "Why?", "--index", f"milvus://127.0.0.1:{free_port()}/news"), "does not answer")
    one_clear_error(run("info", "--index", "milvus://127.0.0.1:99999999/x y"), "milvus://HOST:PORT/NAME")


@pytest.fixture
def milvus_server(tmp_path):
    """``milvus-lite server`` on 127.0.0.1: the gRPC API a Milvus server or cluster speaks."""
    port = free_port()
    exe = shutil.which("milvus-lite", path=str(sys.executable).rsplit("/", 1)[0])
    proc = subprocess.Popen([exe, "server", "--data-dir", str(tmp_path / "milvus"), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    from pymilvus import MilvusClient

    deadline = time.monotonic() + 60
    while True:
        try:
            probe = MilvusClient(f"http://127.0.0.1:{port}", timeout=2)
            probe.list_collections()
            probe.close()
            break
        except Exception:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"milvus-lite server did not start: {proc.stderr.read().decode()[-500:]}")
            time.sleep(0.5)
    yield f"milvus://127.0.0.1:{port}/news"
    proc.terminate()
    proc.wait(timeout=30)


def test_the_cli_ingests_into_and_answers_from_a_milvus_server(corpus, milvus_server):
    result = run("ingest", corpus, "--index", milvus_server)
    assert result.returncode == 0, result.stderr
    assert "10 documents" in result.stdout and "10 added" in result.stdout
    again = run("ingest", corpus, "--index", milvus_server)
    assert "0 chunks embedded" in again.stdout, again.stdout
    answer = run("ask", QUESTIONS[0], "--index", milvus_server, "--json")
    assert answer.returncode == 0, answer.stderr
    import json

    data = json.loads(answer.stdout)
    assert data["citations"] and "Baku" in data["text"]
    info = run("info", "--index", milvus_server)
    assert "milvus backend" in info.stdout and "10 documents" in info.stdout
    # A server gets an approximate dense index, searched with ef >= k; a milvus-lite file scans, so it gets FLAT.
    assert open_store(milvus_server).dense_index() == "HNSW"


def test_a_milvus_lite_file_ingested_by_one_command_answers_the_next(corpus, tmp_path):
    # milvus-lite starts each process with the file's collections released; a Milvus server keeps them
    # loaded, so only separate processes on one file show whether opening loads them.
    import json

    lite = f"milvus-lite:{tmp_path / 'news.db'}"
    result = run("ingest", corpus, "--index", lite)
    assert result.returncode == 0, result.stderr
    answer = run("ask", QUESTIONS[0], "--index", lite, "--json")
    assert answer.returncode == 0, answer.stderr
    data = json.loads(answer.stdout)
    assert data["citations"] and "Baku" in data["text"]
