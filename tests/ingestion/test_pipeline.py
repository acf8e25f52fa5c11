"""Incremental ingest: embed only what changed, store each text once, lose nothing on bad input."""

import json
import shutil
import subprocess
import sys

import pytest

import briefqa
from briefqa import CorpusError, IndexBusyError, IndexMismatchError
from briefqa.store.local import IndexStore
from conftest import DEMO_CORPUS


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "corpus"
    root.mkdir()
    for name in ("01-baku-embassy-tel-aviv.md", "06-heat-pumps-europe.md", "08-ecb-rates.md"):
        shutil.copy(DEMO_CORPUS / name, root)
    return root


def test_reingesting_an_unchanged_corpus_embeds_nothing(corpus, tmp_path):
    first = briefqa.ingest(corpus, index=tmp_path / "ix")
    assert (first.added, first.documents, first.skipped) == (3, 3, [])
    assert first.chunks_embedded == first.chunks > 3
    before = (tmp_path / "ix" / "manifest.json").read_bytes()
    second = briefqa.ingest(corpus, index=tmp_path / "ix")
    assert (second.added, second.unchanged, second.removed, second.chunks_embedded) == (0, 3, 0, 0)
    assert (tmp_path / "ix" / "manifest.json").read_bytes() == before  # not even rewritten


def test_a_changed_document_is_reembedded_and_its_old_chunks_removed(corpus, tmp_path):
    ix = tmp_path / "ix"
    briefqa.ingest(corpus, index=ix)
    old_ids = {c.id for c in IndexStore.open(ix).iter_chunks() if "heat pump" in c.text.lower()}
    page = corpus / "06-heat-pumps-europe.md"
    page.write_text(page.read_text(encoding="utf-8").replace("Heat pumps were", "Electric heat pumps were"),
                    encoding="utf-8")
    report = briefqa.ingest(corpus, index=ix)
    assert (report.added, report.removed, report.unchanged) == (1, 1, 2)
    store = IndexStore.open(ix)
    live = list(store.iter_chunks())
    assert not old_ids & {c.id for c in live}
    assert any("Electric heat pumps were" in c.text for c in live)
    assert len(live) == store.chunk_count == report.chunks
    assert not {h.chunk_id for h in store.lexical_search("heat pumps", 50)} & old_ids  # removed: never found


def test_the_same_text_under_two_paths_is_stored_once(corpus, tmp_path):
    shutil.copy(corpus / "08-ecb-rates.md", corpus / "copy-of-ecb.md")
    report = briefqa.ingest(corpus, index=tmp_path / "ix")
    assert (report.documents, report.duplicates) == (3, 1)
    entry = next(d for d in IndexStore.open(tmp_path / "ix").manifest.documents.values() if "Central Bank" in d.title)
    assert len(entry.origins) == 2


def test_prune_drops_documents_whose_files_are_gone(corpus, tmp_path):
    ix = tmp_path / "ix"
    briefqa.ingest(corpus, index=ix)
    (corpus / "08-ecb-rates.md").unlink()
    kept = briefqa.ingest(corpus, index=ix)
    assert kept.documents == 3  # without --prune nothing stored is dropped
    pruned = briefqa.ingest(corpus, index=ix, prune=True)
    assert (pruned.documents, pruned.removed) == (2, 1)


def test_an_empty_corpus_is_an_error_and_leaves_the_index_as_it_was(corpus, tmp_path):
    ix = tmp_path / "ix"
    briefqa.ingest(corpus, index=ix)
    before = (ix / "manifest.json").read_bytes()
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "junk.json").write_text("[{", encoding="utf-8")
    with pytest.raises(CorpusError, match="No readable article"):
        briefqa.ingest(empty, index=tmp_path / "new")
    assert not (tmp_path / "new" / "manifest.json").exists()
    with pytest.raises(CorpusError):
        briefqa.ingest(tmp_path / "nowhere", index=ix)
    assert (ix / "manifest.json").read_bytes() == before


def test_unreadable_files_are_skipped_and_counted(corpus, tmp_path):
    (corpus / "broken.json").write_text("[{", encoding="utf-8")
    (corpus / "binary.txt").write_bytes(b"\xff\xfe\x00")
    report = briefqa.ingest(corpus, index=tmp_path / "ix")
    assert report.documents == 3 and len(report.skipped) == 2
    assert "2 skipped" in report.summary()


def test_other_chunking_parameters_need_a_rebuild(corpus, tmp_path):
    ix = tmp_path / "ix"
    briefqa.ingest(corpus, index=ix)
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        briefqa.ingest(corpus, index=ix, chunk_size=64)
    report = briefqa.ingest(corpus, index=ix, chunk_size=64, rebuild=True)
    assert report.added == 3 and IndexStore.open(ix).manifest.chunk_size == 64


def test_a_second_writer_is_refused_while_another_process_writes(corpus, tmp_path):
    # Another process (say, a chat upload) holds the index's write lock; a CLI ingest meanwhile would start
    # from the same manifest and its commit would drop the other's documents, so it is refused instead.
    ix = tmp_path / "ix"
    briefqa.ingest(corpus, index=ix)
    before = (ix / "manifest.json").read_bytes()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); "
         "print('locked', flush=True); sys.stdin.read()", str(ix / ".write.lock")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        (corpus / "new.md").write_text("---\ntitle: New\n---\nA new article about harbour cranes.\n")
        with pytest.raises(IndexBusyError, match="being written by another briefqa process"):
            briefqa.ingest(corpus, index=ix)
        assert (ix / "manifest.json").read_bytes() == before
    finally:
        holder.kill()  # a writer that dies releases the lock with it
        holder.wait()
    assert briefqa.ingest(corpus, index=ix).added == 1


# -- a save stopped after each file it writes (fault injection, not a random kill) ----------------------------
class Crash(BaseException):
    """Stands for the process dying: not an Exception, so no handler of briefqa's catches or cleans up."""


def stop_after(n: int, seen: list):
    def file_written(path):
        seen.append(path.name)
        if len(seen) == n:
            raise Crash(path.name)
    return file_written


EXTRA = """---
title: Harbour cranes return to Valletta
source: Island Courier
published_at: 2023-12-02
---
Malta's main container port reopened its northern quay after a three-month refit of its cranes.
"""


def add_article(corpus):
    (corpus / "cranes.md").write_text(EXTRA, encoding="utf-8")
    return {"prune": False, "rebuild": False}


def remove_article(corpus):
    (corpus / "08-ecb-rates.md").unlink()
    return {"prune": True, "rebuild": False}


def rebuild_smaller(corpus):
    return {"prune": False, "rebuild": True, "chunk_size": 64}


@pytest.mark.parametrize("change", [add_article, remove_article, rebuild_smaller], ids=["ingest", "prune", "rebuild"])
def test_a_save_stopped_after_any_file_it_writes_leaves_the_previous_index_answering(corpus, tmp_path, monkeypatch,
                                                                                      change):
    import briefqa.store.local as index_module

    base = tmp_path / "base"
    briefqa.ingest(corpus, index=base)
    before = sorted(d.title for d in briefqa.info(str(base), documents=True).documents_list)
    kwargs = change(corpus)
    points: list[str] = []
    monkeypatch.setattr(index_module, "_file_written", lambda path: points.append(path.name))
    briefqa.ingest(corpus, index=shutil.copytree(base, tmp_path / "dry-run"), **kwargs)
    # A new segment's vectors, chunks, table, sentences and lexical files, then the commit (a prune writes
    # no segment: its removals are tombstones in the manifest).
    assert points[-1] == "manifest.json" and len(points) >= (1 if change is remove_article else 6)
    for n in range(1, len(points)):  # stop after each file written before the commit
        ix = shutil.copytree(base, tmp_path / f"stopped-{n}")
        monkeypatch.setattr(index_module, "_file_written", stop_after(n, []))
        with pytest.raises(Crash):
            briefqa.ingest(corpus, index=ix, **kwargs)
        monkeypatch.setattr(index_module, "_file_written", lambda path: None)
        qa = briefqa.BriefQA.open(ix)
        assert sorted(d.title for d in qa.info(documents=True).documents_list) == before, (change.__name__, n)
        answer = qa.ask("Why did Baku open an embassy in Tel Aviv?")
        assert not answer.abstained and "Caspian Brief" in answer.citations[0].passage.label()
        # The next run finishes the job and leaves no file of the stopped one behind.
        briefqa.ingest(corpus, index=ix, **kwargs)
        names = {p.name for p in ix.iterdir()}
        live = {s["generation"] for s in json.loads((ix / "manifest.json").read_text())["segments"]}
        assert {int(n.split(".")[0].rsplit("-", 1)[1]) for n in names if n[0] != "." and n != "manifest.json"} \
            == live, names


def _titles(ix) -> list[str]:
    return sorted(d.title for d in IndexStore.open(ix).manifest.documents.values())


def _embed_failing_on_batch(monkeypatch, n: int) -> None:
    import briefqa.ingestion.pipeline as ingestion

    real, calls = ingestion._embed, []

    def embed(planned, *args):
        calls.append(len(planned))
        if len(calls) == n:
            raise Crash("the embedder died")
        return real(planned, *args)

    monkeypatch.setattr(ingestion, "_embed", embed)


def test_a_long_ingest_commits_every_batch_and_ends_as_one_commit_would(corpus, tmp_path):
    whole = briefqa.ingest(corpus, index=tmp_path / "whole")
    batched = briefqa.ingest(corpus, index=tmp_path / "batched", commit_every=1)
    assert (batched.added, batched.chunks, batched.chunks_embedded) == (3, whole.chunks, whole.chunks_embedded)
    assert len(IndexStore.open(tmp_path / "batched").segments) >= 2  # one segment per batch, until merged
    texts = lambda ix: sorted(c.text for c in IndexStore.open(ix).iter_chunks())  # noqa: E731
    assert texts(tmp_path / "batched") == texts(tmp_path / "whole")


def test_an_interrupted_ingest_keeps_its_committed_batches_and_the_next_run_embeds_only_the_rest(
        corpus, tmp_path, monkeypatch):
    ix = tmp_path / "ix"
    _embed_failing_on_batch(monkeypatch, 3)
    with pytest.raises(Crash):
        briefqa.ingest(corpus, index=ix, commit_every=1)
    assert len(_titles(ix)) == 2  # the first two batches were committed
    monkeypatch.undo()
    report = briefqa.ingest(corpus, index=ix, commit_every=1)
    assert (report.unchanged, report.added, report.documents) == (2, 1, 3)


def test_a_rebuild_commits_once_whatever_commit_every_says(corpus, tmp_path, monkeypatch):
    # Readers of a rebuilt index must never see it half-filled: its one commit replaces the old index whole
    # (what a crash before that commit leaves is the crash-safety test's case "rebuild" above).
    import briefqa.store.local as index_module

    ix = tmp_path / "ix"
    briefqa.ingest(corpus, index=ix)
    written: list[str] = []
    monkeypatch.setattr(index_module, "_file_written", lambda path: written.append(path.name))
    report = briefqa.ingest(corpus, index=ix, rebuild=True, chunk_size=64, commit_every=1)
    assert report.added == 3 and written.count("manifest.json") == 1
    assert IndexStore.open(ix).manifest.chunk_size == 64
