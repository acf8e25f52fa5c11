"""Wire copies and updates: found at ingest, stored as story clusters, one copy shown per cluster."""

import json

import pytest

import briefqa
from briefqa.news.copies import containment, shingles
from briefqa.store.location import open_store
from conftest import markdown_corpus, run

WIRE = (
    "Port authorities in Valdoria closed the northern harbour on Tuesday after a cargo ship ran aground on a "
    "sandbank near the breakwater, blocking the main shipping lane for at least three days.\n\n"
    "The vessel, the Meridian Star, was carrying 14,000 tonnes of grain from Odessa when its engines failed in "
    "heavy seas, the harbour master said in a statement issued late on Tuesday evening.\n\n"
    "Salvage teams from two neighbouring ports were expected to begin pumping out ballast water at dawn, and "
    "officials hoped a high tide on Friday would let tugboats pull the ship free without spilling its cargo.\n\n"
    "Fishermen said the closure would cost them a week of catches, and the regional council promised "
    "compensation for the boats that could not leave the harbour while the lane stayed blocked."
)
# A republication: new headline, outlet boilerplate, the last paragraph trimmed, a few words changed.
COPY = (
    "Metro Herald — read more local news at our website.\n\n"
    + WIRE.rsplit("\n\n", 1)[0].replace("closed the northern harbour", "shut the northern harbour")
    .replace("heavy seas", "rough seas")
    + "\n\nSubscribe to the Metro Herald morning briefing for more stories like this one."
)
# The same event told in other words: the same story, but not a copy, so it stays apart.
OTHER_TELLING = (
    "A grain freighter stuck off Valdoria's breakwater has kept the port closed since Tuesday. Its crew of "
    "nineteen is safe, the coast guard said, and divers found no damage to the hull. Traders warned that grain "
    "prices could rise if the harbour stays shut into next week, since the port handles a fifth of the "
    "region's exports, and shipping agents began rerouting vessels to the southern terminal."
)
UNRELATED = (
    "The city orchestra opened its winter season with a programme of Sibelius and a new piece by a young "
    "composer from the conservatory, whose premiere drew a standing ovation from a full house on Saturday. The "
    "conductor said the season would end in March with a tour of three cities in the north of the country."
)

ARTICLES = [
    ("Cargo ship runs aground, closing Valdoria harbour", "Wire Service", "2024-03-05", WIRE),
    ("Harbour shut as grain ship stranded", "Metro Herald", "2024-03-06", COPY),
    ("Stranded freighter keeps port closed", "Coast Gazette", "2024-03-06", OTHER_TELLING),
    ("Orchestra opens winter season", "Coast Gazette", "2024-03-02", UNRELATED),
]
QUESTION = "How much grain was the Meridian Star carrying?"


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    root = markdown_corpus(tmp_path_factory.mktemp("wire"), ARTICLES)
    index = tmp_path_factory.mktemp("wire-index") / "ix"
    briefqa.ingest([root], index=index, progress=False)
    return index, root


def by_source(store):
    return {d.source: k for k, d in store.documents.items()}


def test_containment_counts_the_shorter_texts_shingles_found_in_the_longer():
    a = shingles("one two three four five six seven")  # three shingles
    b = shingles("one two three four five six seven eight nine ten")
    assert len(a) == 3 and containment(a, b) == 1.0 and containment(b, a) == 1.0
    assert containment(shingles("one two three four five six"), shingles("one two three four five zzz")) == 0.5
    assert containment(a, frozenset()) == 0.0


def test_a_republished_wire_story_joins_the_original_and_nothing_else_does(index):
    store = open_store(index[0])
    ids = by_source(store)
    assert list(store.clusters().values()) == [[ids["Wire Service"], ids["Metro Herald"]]]  # earliest first
    assert store.documents[ids["Metro Herald"]].cluster == ids["Wire Service"]  # named after the earliest copy
    assert store.documents[ids["Coast Gazette"]].cluster is None
    assert all(d.minhash for d in store.documents.values())


def test_retrieval_shows_one_copy_and_its_citation_names_the_other_outlet(index):
    qa = briefqa.BriefQA.open(index[0])
    passages = qa.retrieve(QUESTION, k=4)
    sources = [p.metadata["source"] for p in passages]
    assert ("Wire Service" in sources) != ("Metro Herald" in sources)  # one copy, never both
    shown = next(p for p in passages if p.metadata["source"] in ("Wire Service", "Metro Herald"))
    other = "Metro Herald" if shown.metadata["source"] == "Wire Service" else "Wire Service"
    assert [c["source"] for c in shown.metadata["also_published_by"]] == [other]
    both = {p.metadata["source"] for p in qa.retrieve(QUESTION, k=4, collapse_copies=False)}
    assert {"Wire Service", "Metro Herald"} <= both


def test_info_duplicates_lists_the_clusters_as_json(index):
    out = run("info", "--index", index[0], "--duplicates", "--json")
    assert out.returncode == 0, out.stderr
    clusters = json.loads(out.stdout)["clusters"]
    assert [[d["source"] for d in c["documents"]] for c in clusters] == [["Wire Service", "Metro Herald"]]
    doc = clusters[0]["documents"][0]
    assert doc["title"] == ARTICLES[0][0] and doc["published_at"].startswith("2024-03-05")
    assert doc["origin"].endswith("0.md")
    text = run("info", "--index", index[0], "--duplicates")
    assert text.returncode == 0 and "1 story clusters" in text.stdout and "Metro Herald" in text.stdout


def test_clusters_follow_incremental_ingest(tmp_path):
    (tmp_path / "c").mkdir()
    root = markdown_corpus(tmp_path / "c", ARTICLES[:1] + ARTICLES[2:])
    index = tmp_path / "ix"
    briefqa.ingest([root], index=index, progress=False)
    assert open_store(index).clusters() == {}
    # A copy arriving later joins the story it copies.
    (root / "9.md").write_text(f"---\ntitle: {ARTICLES[1][0]}\nsource: Metro Herald\npublished_at: 2024-03-06\n"
                               f"---\n{COPY}\n", encoding="utf-8")
    report = briefqa.ingest([root], index=index, progress=False)
    assert report.clustered == 2 and len(open_store(index).clusters()) == 1
    # When the original goes, a lone copy is a cluster no more.
    (root / "0.md").unlink()
    report = briefqa.ingest([root], index=index, prune=True, progress=False)
    store = open_store(index)
    assert report.removed == 1 and store.clusters() == {}
    assert all(d.cluster is None for d in store.documents.values())


def test_copies_outside_the_date_window_or_with_detection_off_stay_apart(tmp_path):
    late = [ARTICLES[0], (ARTICLES[1][0], "Metro Herald", "2024-05-01", COPY)]
    (tmp_path / "c").mkdir()
    root = markdown_corpus(tmp_path / "c", late)
    assert open_store(_ingest(root, tmp_path / "a")).clusters() == {}
    assert len(open_store(_ingest(root, tmp_path / "b", copy_window_days=90)).clusters()) == 1
    off = _ingest(root, tmp_path / "off", copy_window_days=90, detect_copies=False)
    assert open_store(off).clusters() == {} and not any(d.minhash for d in open_store(off).documents.values())
    # Turned on later, the next ingest signs what is there and finds the copies without embedding again.
    report = briefqa.ingest([root], index=off, progress=False, copy_window_days=90)
    assert report.chunks_embedded == 0 and report.clustered == 2 and len(open_store(off).clusters()) == 1


def _ingest(root, index, **settings):
    briefqa.ingest([root], index=index, progress=False, **settings)
    return index


def test_the_milvus_backend_keeps_the_same_clusters(index, tmp_path):
    lite = f"milvus-lite:{tmp_path / 'wire.db'}"
    briefqa.ingest([index[1]], index=lite, progress=False)
    local, milvus = open_store(index[0]), open_store(lite)
    assert milvus.clusters() == local.clusters() and len(milvus.clusters()) == 1
    passages = briefqa.BriefQA.open(lite).retrieve(QUESTION, k=4)
    assert sum(p.metadata["source"] in ("Wire Service", "Metro Herald") for p in passages) == 1
