"""The Python API end to end, on the seed article among 51 MultiHop-RAG distractors, with real models."""

import json

import pytest

import briefqa
from briefqa import IndexMissingError, QuestionError
from conftest import SEED, contains_evidence


def _seed_ids(answerable: bool) -> list:
    items = json.loads((SEED / "queries-dev.json").read_text(encoding="utf-8"))
    return [q["id"] for q in items if q["answerable"] == answerable]


@pytest.mark.parametrize("qid", _seed_ids(answerable=True))
def test_each_answerable_seed_question_is_answered_citing_its_evidence(seed_qa, seed_queries, qid):
    q = next(q for q in seed_queries if q["id"] == qid)
    ans = seed_qa.ask(q["question"])
    assert not ans.abstained
    assert any(contains_evidence(c.passage.text, q["evidence"]) for c in ans.citations), ans.text
    # Every marker in the text names a passage that was given, and every citation's sentence is in it.
    for c in ans.citations:
        assert f"[{c.marker}]" in ans.text
        assert ans.passages[c.marker - 1] is c.passage
        assert c.sentence in c.passage.text


def test_the_unanswerable_seed_question_abstains(seed_qa, seed_queries):
    for q in seed_queries:
        if not q["answerable"]:
            ans = seed_qa.ask(q["question"])
            assert ans.abstained and ans.citations == [], ans.text


def test_answer_record_and_timings(seed_qa):
    ans = seed_qa.ask("Who did Ilham Aliyev appoint as Azerbaijan's first ambassador to Israel?")
    assert "Mammadov" in ans.text
    assert ans.mode == "extractive:scored" and len(ans.passages) == seed_qa.settings.k
    assert {"retrieve", "generate", "total"} <= set(ans.timings) and ans.timings["total"] > 0
    d = ans.to_dict()
    assert d["citations"][0]["passage"]["metadata"]["title"] == "Why Azerbaijan is moving closer to Israel"


def test_what_eli_cohen_called_azerbaijan_is_quoted_and_cited(seed_qa):
    ans = seed_qa.ask("What did Eli Cohen call Azerbaijan?")
    assert "a close friend and an important regional anchor" in ans.text and ans.citations
    assert ans.short_answer is None or "friend" in ans.short_answer  # never the sentence before's "Mammadov"


def test_warm_up_loads_the_readers_for_scored_answers_only(seed_index):
    from briefqa.models import reader

    reader._packaged.cache_clear()  # as in a new process
    qa = briefqa.BriefQA.open(seed_index)
    qa.warm_up(qa.with_settings(answerer="similarity"))
    qa.warm_up(qa.with_settings(answer_mode="llm"))
    assert reader._packaged.cache_info().currsize == 0
    qa.warm_up()
    assert reader._packaged.cache_info().currsize == 2  # the reader and the span reader
    assert qa.ask("What did Eli Cohen call Azerbaijan?").citations


def test_a_failing_warm_up_is_logged_and_leaves_the_first_question_to_report_it(seed_index, caplog):
    qa = briefqa.BriefQA.open(seed_index)

    def broken(*args, **kwargs):
        raise OSError("the index's lexical file is unreadable")

    qa.retriever.retrieve = broken
    qa.warm_up()  # no exception: a server still starts
    assert "could not load the answer models ahead of the first question" in caplog.text
    assert "lexical file is unreadable" in caplog.text


def test_stream_yields_text_then_holds_the_checked_answer(seed_qa):
    stream = seed_qa.stream("When did Israel open its embassy in Baku?")
    text = "".join(stream)
    assert "1993" in text and stream.answer is not None and "1993" in stream.answer.text


@pytest.mark.parametrize(("question", "words"), [("", "empty"), ("   ", "empty"), ("why " * 400, "shorten"),
                                                 ("x" * 6000, "6000 characters"),
                                                 ("What is it about?", "names nothing to look for")])
def test_bad_questions_get_one_clear_error(seed_qa, question, words):
    with pytest.raises(QuestionError, match=words):
        seed_qa.ask(question)


def test_opening_a_missing_index_names_it(tmp_path):
    with pytest.raises(IndexMissingError, match=str(tmp_path / "nope")):
        briefqa.BriefQA.open(tmp_path / "nope")


def test_runnable_composes_with_langchain(seed_qa):
    from langchain_core.runnables import RunnableLambda

    chain = RunnableLambda(lambda q: q.strip()) | seed_qa.as_runnable() | RunnableLambda(lambda a: a.abstained)
    assert chain.invoke("  What spyware is Azerbaijan suspected of buying from an Israeli company?  ") is False


@pytest.mark.slow
def test_the_embedded_llm_answers_with_checked_citations(seed_qa):
    stream = seed_qa.stream("What spyware is Azerbaijan suspected of buying from an Israeli company?",
                            answer_mode="llm", llm_max_tokens=60)
    tokens = list(stream)
    ans = stream.answer
    assert len(tokens) > 3  # it streamed
    assert ans.mode == "llm:embedded" and ans.raw == "".join(tokens)
    assert {"first_token", "generate", "cite"} <= set(ans.timings)
    assert all(1 <= c.marker <= len(ans.passages) for c in ans.citations)
    assert ans.abstained or ans.citations
    json.dumps(ans.to_dict())  # plain types all the way down: the CLI's --json and the evaluator write it
