"""Retrieval: dense, lexical and hybrid, filters inside the search, a LangChain retriever on top."""

import itertools

import pytest

import briefqa
from briefqa import FilterError
from conftest import contains_evidence, markdown_corpus

ARTICLES = [
    ("Volcano erupts near Reykjavik", "Nordic Post", "2023-12-19",
     "A volcano erupted on the Reykjanes peninsula. Lava flowed towards Grindavik, which had been evacuated."),
    ("Glacier retreat measured", "Nordic Post", "2023-10-02",
     "Scientists measured how far the Vatnajokull glacier retreated this summer. The ice lost record mass."),
    ("Harbour strike ends", "Coast Daily", "2023-11-05",
     "Dock workers in Rotterdam ended their strike after a pay deal. Ships began unloading again."),
    ("Volcano tourism debate", "Coast Daily", "2023-12-28",
     "Tour operators want to take visitors to the eruption site, but police keep the roads closed."),
]


@pytest.fixture(scope="module")
def tiny_qa(tmp_path_factory):
    root = markdown_corpus(tmp_path_factory.mktemp("tiny"), ARTICLES)
    ix = tmp_path_factory.mktemp("tiny-ix")
    briefqa.ingest(root, index=ix)
    return briefqa.BriefQA.open(ix)


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_each_mode_finds_the_obvious_passage_first(tiny_qa, mode):
    hits = tiny_qa.retrieve("Where did lava flow after the volcano erupted?", k=2, retrieval_mode=mode)
    assert hits[0].metadata["title"] == "Volcano erupts near Reykjavik"
    assert set(hits[0].metadata["ranks"]) - {"rerank_score"} == ({"dense", "lexical"} if mode == "hybrid" else {mode})


def test_passages_carry_their_metadata_and_exact_span(tiny_qa):
    p = tiny_qa.retrieve("dock workers strike", k=1)[0]
    m = p.metadata
    assert (m["title"], m["source"], m["published_at"], m["url"]) == (
        "Harbour strike ends", "Coast Daily", "2023-11-05", None)
    assert (m["start"], m["end"]) == (0, len(p.text)) and len(m["doc_id"]) == 16


def test_source_and_date_filters_apply_inside_the_search(tiny_qa):
    q = "volcano eruption"
    assert {p.metadata["source"] for p in tiny_qa.retrieve(q, k=4, sources=["coast daily"])} == {"Coast Daily"}
    dated = tiny_qa.retrieve(q, k=4, date_from="2023-12-01", date_to="2023-12-31")
    assert sorted(p.metadata["title"] for p in dated) == ["Volcano erupts near Reykjavik", "Volcano tourism debate"]
    assert tiny_qa.retrieve(q, k=4, date_from="2024-01-01") == []


def test_an_impossible_date_range_says_so(tiny_qa):
    with pytest.raises(FilterError, match="ends before it starts"):
        tiny_qa.retrieve("volcano", date_from="2023-12-31", date_to="2023-01-01")
    with pytest.raises(FilterError, match="YYYY-MM-DD"):
        tiny_qa.retrieve("volcano", date_from="last week")


def test_langchain_retriever(tiny_qa):
    docs = tiny_qa.as_retriever(k=2, sources=["Nordic Post"]).invoke("glacier ice loss")
    assert docs[0].metadata["title"] == "Glacier retreat measured"
    assert all(d.metadata["source"] == "Nordic Post" for d in docs) and "score" in docs[0].metadata


def test_each_answerable_seed_question_finds_its_evidence_in_the_top_5(seed_qa, seed_queries):
    for q in seed_queries:
        if q["answerable"]:
            top = seed_qa.retrieve(q["question"], k=5)
            assert any(contains_evidence(p.text, q["evidence"]) for p in top), q["id"]


def test_a_question_that_is_only_a_source_or_a_date_still_retrieves(tiny_qa):
    assert {p.metadata["source"] for p in tiny_qa.retrieve("Coast Daily", k=2)} == {"Coast Daily"}
    assert tiny_qa.retrieve("2023-10-02", k=1)[0].metadata["title"] == "Glacier retreat measured"


def test_an_unknown_source_is_not_a_filter(tiny_qa):
    found = tiny_qa.explain("What did Reuters say about the volcano eruption?", k=2)
    assert found.analysis.sources == [] and found.passages
    assert found.passages[0].metadata["title"].startswith("Volcano")


def test_each_report_a_question_names_is_represented(tiny_qa):
    q = "Did the Nordic Post and the Coast Daily both report on volcano tourism and the dock strike?"
    found = tiny_qa.explain(q, k=2)
    assert [p.label for p in found.analysis.parts] == ["Nordic Post", "Coast Daily"]
    assert {p.metadata["source"] for p in found.passages} == {"Nordic Post", "Coast Daily"}
    assert all(any(k.startswith("part") for k in p.metadata["ranks"]) for p in found.passages)
    alone = tiny_qa.retrieve(q, k=2, news_aware=False, rerank=False)
    assert [p.metadata["source"] for p in alone] == ["Coast Daily", "Coast Daily"]  # what the parts fix


def test_a_range_in_the_question_filters_with_fallback(tiny_qa):
    found = tiny_qa.explain("Which volcano news was published after December 1, 2023?", k=4)
    assert {p.metadata["published_at"][:7] for p in found.passages} == {"2023-12"}
    found = tiny_qa.explain("What was published after December 31, 2024?", k=1)
    assert found.passages and any("holds no article" in n for n in found.analysis.notes)


def test_mmr_prefers_passages_unlike_those_already_chosen(tiny_qa):
    plain = tiny_qa.retrieve("volcano eruption lava", k=2, retrieval_mode="dense", news_aware=False)
    diverse = tiny_qa.retrieve("volcano eruption lava", k=2, retrieval_mode="dense", news_aware=False,
                               mmr=True, mmr_lambda=0.0)
    assert plain[0].text == diverse[0].text
    assert {p.metadata["title"] for p in plain} == {"Volcano erupts near Reykjavik", "Volcano tourism debate"}
    assert diverse[1].metadata["title"] != "Volcano tourism debate"


class FakeReranker:
    """A fake cross-encoder (none ships in a wheel): scores a passage by how often it says "police"."""

    def score(self, question, texts):
        return [t.lower().count("police") for t in texts]


def test_a_reranker_reorders_the_top_passages(tiny_qa):
    qa = briefqa.BriefQA(tiny_qa.store, tiny_qa.embedder, tiny_qa.settings, reranker=FakeReranker())
    top = qa.retrieve("volcano eruption", k=1)[0]
    assert top.metadata["title"] == "Volcano tourism debate"
    assert top.metadata["ranks"]["rerank_score"] == 1


def test_a_missing_reranker_model_is_one_clear_error(tiny_qa, tmp_path):
    with pytest.raises(briefqa.ConfigError, match="does not exist"):
        tiny_qa.retrieve("volcano", reranker_model=str(tmp_path / "no-model"))


def test_overlapping_windows_of_one_passage_are_shown_once(tmp_path):
    # With chunk_overlap, neighbouring chunks share sentences; the second-best window around the same sentences
    # would spend a result on text already shown, so only the best one of each overlapping group is kept.
    sentences = ["The council met on Monday.", "Ferry fares to the islands will double in spring.",
                 "Islanders said the ferry fares rise hurts them.", "The mayor promised a review.",
                 "A bridge study was shelved years ago.", "Weather delayed two crossings."]
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "ferry.md").write_text("---\ntitle: Ferry fares\n---\n" + " ".join(sentences) + "\n",
                                                encoding="utf-8")
    briefqa.ingest(tmp_path / "docs", index=tmp_path / "ix", chunk_size=24, chunk_overlap=12)
    qa = briefqa.BriefQA.open(tmp_path / "ix")
    question = "ferry fares islands"
    raw = [qa.store.chunk(h.chunk_id) for h in qa.store.lexical_search(question, 10)]
    assert any(a.start < b.end and b.start < a.end for a in raw for b in raw if a is not b)

    hits = qa.retrieve(question, k=10, news_aware=False)
    assert hits[0].metadata["chunk_id"] == raw[0].id
    spans = sorted((p.metadata["start"], p.metadata["end"]) for p in hits)
    assert all(end <= nxt for (_, end), (nxt, _) in itertools.pairwise(spans))
    assert len(hits) < len(raw)
