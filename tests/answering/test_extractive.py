"""The scored extractive answerer (answering.extractive, relevance.scorer) on a small hand-written corpus."""

import re

import numpy as np
import pytest

import briefqa
from briefqa.relevance.features import FEATURES
from briefqa.relevance.scorer import SentenceScorer
from conftest import markdown_corpus

ARTICLES = [
    ("Harbour strike ends", "Coast Daily", "2023-11-05",
     "The harbour strike ended on Sunday after nine days. Dock workers accepted a pay rise of 6% over two years. "
     "The union's leader, Maria Lindqvist, said the deal protected jobs. Ferries to the islands resumed on Monday."),
    ("Harbour strike continues", "Nordic Post", "2023-11-01",
     "Dock workers at the harbour stayed off work for a fifth day. The union asked for a pay rise of 9%. "
     "Ferries to the islands were cancelled. Shops on the islands ran short of fresh food."),
    ("Volcano erupts near Reykjavik", "Nordic Post", "2023-12-19",
     "A volcano erupted on the Reykjanes peninsula late on Monday. Lava flowed towards the town of Grindavik, "
     "which had been evacuated in November. Scientists said the eruption could last for weeks."),
]


@pytest.fixture(scope="module")
def qa(tmp_path_factory):
    root = markdown_corpus(tmp_path_factory.mktemp("harbour"), ARTICLES)
    ix = tmp_path_factory.mktemp("harbour-ix")
    briefqa.ingest(root, index=ix, progress=False)
    return briefqa.BriefQA.open(ix, k=3)


def test_a_question_asking_for_a_span_opens_with_the_readers_span_then_cites_its_sentence(qa):
    # A threshold near 0 shows whatever span the reader reads: the reader's, not a pattern's.
    ans = qa.ask("Who leads the dock workers' union?", short_answer_threshold=0.01)
    assert ans.short_answer == "Maria Lindqvist" and ans.text.startswith("Maria Lindqvist — ")
    assert "Maria Lindqvist, said the deal protected jobs" in ans.text
    assert re.search(r"\[\d\]", ans.text) and ans.citations and not ans.abstained


def test_the_span_reader_reads_only_the_best_three_sentences(qa, monkeypatch):
    from briefqa.models.reader import SPAN_READER_FILE
    from briefqa.relevance.scorer import BOLD_CANDIDATES, SpanReading

    assert SentenceScorer.packaged().span_reader == SPAN_READER_FILE  # the short-answer model learned its spans
    asked = []
    real = SpanReading.__call__
    monkeypatch.setattr(SpanReading, "__call__", lambda self, i: asked.append(i) or real(self, i))
    ans = qa.ask("Who leads the dock workers' union?", short_answer_threshold=0.01)
    assert ans.short_answer == "Maria Lindqvist" and len(set(asked)) == BOLD_CANDIDATES == 3  # not the 24 read
    before = list(asked)
    assert not qa.ask("Why did shops on the islands run short of food?").short_answer and asked == before


@pytest.mark.parametrize(("question", "span"), [("Who leads the dock workers' union?", "Maria Lindqvist"),
                                                ("What pay rise did the dock workers accept?", "6%")])
def test_by_default_the_short_answer_is_the_right_span_or_none(qa, question, span):
    ans = qa.ask(question)
    assert ans.short_answer in (span, None) and not ans.abstained
    assert qa.ask(question, short_answer_threshold=1.0).short_answer is None  # 1: never shown


def _scored(*texts: str):
    from briefqa.relevance.features import Candidate
    from briefqa.relevance.scorer import Scored

    cands = [Candidate(0, 0, len(t), t, n) for n, t in enumerate(texts)]
    return Scored(cands, np.linspace(0.9, 0.1, len(texts)), np.zeros((len(texts), len(FEATURES))), 0.1)


def test_the_bold_spans_sentence_is_quoted_in_the_place_of_the_weakest_but_the_best():
    from briefqa.answering.extractive import _quoting
    from briefqa.answering.short import Bold

    scored = _scored("Best sentence of all here.", "Second sentence comes next.", "Third holds the span, Bergen.",
                     "Second sentence comes next!")
    assert _quoting([0, 1], Bold("Bergen", 2), scored, limit=3) == [0, 1, 2]
    assert _quoting([0, 1], Bold("Bergen", 2), scored, limit=2) == [0, 2]  # at most two, the best kept
    assert _quoting([0], Bold("Bergen", 2), scored, limit=1) == [0, 2]  # never without the best
    assert _quoting([0, 1], Bold("next", 3), scored, limit=2) == [0, 1]  # its words are quoted already


def test_a_bold_answer_an_earlier_turn_gave_is_not_shown_again(qa):
    # "And which coach did he replace?" after "Antonio Pierce": a follow-up asks something new.
    assert qa.ask("Who leads the dock workers' union?", short_answer_threshold=0.01).short_answer == "Maria Lindqvist"
    again = qa.ask("Who leads the dock workers' union?", short_answer_threshold=0.01,
                   earlier_answers=["Maria Lindqvist"])
    assert again.short_answer != "Maria Lindqvist" and "Maria Lindqvist, said the deal" in again.text


def test_a_span_answer_has_at_most_two_sentences(qa):
    ans = qa.ask("What pay rise did the dock workers accept?", short_answer_threshold=0.01)
    assert ans.short_answer == "6%" and 1 <= len(ans.sentences) <= 2


def test_why_questions_get_no_span_and_up_to_three_sentences_in_reading_order(qa):
    ans = qa.ask("Why did shops on the islands run short of food?")
    assert ans.short_answer is None and 1 <= len(ans.sentences) <= 3
    positions = [ans.text.index(s.text) for s in ans.sentences]
    assert positions == sorted(positions)


def test_the_answer_opens_with_its_best_sentence_then_its_article_then_the_others_oldest_first(qa):
    # The best sentence is the newer article's; the older one's, with support_ratio 0, follows it.
    ans = qa.ask("How long did the dock workers strike?", support_ratio=0.0)
    assert [s.text.split(" [")[0] for s in ans.sentences] == [
        "The harbour strike ended on Sunday after nine days",
        "Dock workers at the harbour stayed off work for a fifth day"]
    # The best ("resumed") first; then the rest of its article in its order; then the older article.
    ans = qa.ask("Why did the ferries to the islands stop and resume?", reason_support_ratio=0.0)
    assert [s.text.split(" [")[0] for s in ans.sentences] == [
        "Ferries to the islands resumed on Monday", "The union's leader, Maria Lindqvist, said the deal protected jobs",
        "Ferries to the islands were cancelled"]


def test_a_question_the_articles_do_not_answer_abstains_and_keeps_the_passages_as_related(qa):
    ans = qa.ask("How many tourists visited the volcano museum in 2019?")
    assert ans.abstained and ans.citations == [] and ans.short_answer is None
    assert ans.text.startswith("The articles in this index do not say:")
    assert ans.passages  # shown as related


def test_a_question_naming_two_reports_gets_a_labelled_sentence_from_each_oldest_first(qa):
    ans = qa.ask("What pay rise did the Nordic Post and the Coast Daily report for the dock workers?")
    assert [s.text.split(":")[0] for s in ans.sentences] == ["Nordic Post, 2023-11-01", "Coast Daily, 2023-11-05"]
    assert "pay rise of 9%" in ans.sentences[0].text and "pay rise of 6%" in ans.sentences[1].text


def test_a_question_about_the_order_of_two_reports_opens_by_stating_their_publication_order(qa):
    ans = qa.ask("Did the Coast Daily report the dock workers' pay rise before the Nordic Post did?")
    assert re.fullmatch(r"In order of publication: Nordic Post, 2023-11-01 \[\d\], then Coast Daily, 2023-11-05 "
                        r"\[\d\]\.", ans.sentences[0].text)
    assert ans.sentences[0].markers == [int(m) for m in re.findall(r"\[(\d)\]", ans.sentences[0].text)]
    assert [s.text.split(":")[0] for s in ans.sentences[1:]] == ["Nordic Post, 2023-11-01", "Coast Daily, 2023-11-05"]


def test_a_question_naming_two_reports_but_not_their_order_states_none(qa):
    ans = qa.ask("What pay rise did the Nordic Post and the Coast Daily report for the dock workers?")
    assert not any(s.text.startswith("In order of publication") for s in ans.sentences)


def test_the_packaged_model_matches_the_features_it_scores_and_was_fitted_on_training_questions():
    model = SentenceScorer.packaged().model
    assert tuple(model["features"]) == FEATURES and set(model["routes"]) == {"short", "long"}
    files = [f["file"] for f in model["files"]]
    assert "natural/queries-train.json" in files and "natural/queries-dev.json" in files  # dev: thresholds only
    assert 0 < model["routes"]["short"]["short_answer_threshold"] < 1


def test_a_model_trained_on_other_features_is_refused():
    model = dict(SentenceScorer.packaged().model, features=["cos"])
    with pytest.raises(ValueError, match="retrain it"):
        SentenceScorer(model)


@pytest.mark.parametrize("question", ["why strike?", "Почему забастовка закончилась?", "strike " * 60])
def test_odd_questions_get_an_answer_or_an_abstention(qa, question):
    ans = qa.ask(question)
    assert ans.text and (ans.abstained or ans.citations)


@pytest.mark.parametrize("question", ["¿Por qué terminó la huelga de los estibadores?",
                                      "Почему забастовка закончилась?"])
def test_a_question_in_another_language_abstains_saying_so(qa, question):
    ans = qa.ask(question)
    assert ans.abstained and ans.citations == [] and ans.short_answer is None
    assert ans.text.startswith("The question does not look like English")
    assert ("listed as related" in ans.text) == bool(ans.passages)


def test_each_question_style_abstains_from_the_threshold_its_training_chose():
    scorer = SentenceScorer.packaged()
    short, long = "How many seats does the arena have?", " ".join(["Did the Nordic Post report"] * 6) + "?"
    assert scorer.abstain_threshold(short) == scorer.model["routes"]["short"]["abstain_threshold"]
    assert scorer.abstain_threshold(long) == scorer.model["routes"]["long"]["abstain_threshold"]
    assert all(0.5 <= scorer.abstain_threshold(q) < 1 for q in (short, long))


def test_an_abstain_threshold_in_the_settings_overrides_the_trained_ones(qa):
    question = "What pay rise did the dock workers accept?"
    assert not qa.ask(question).abstained
    assert qa.ask(question, abstain_threshold=0.001).abstained


def test_a_why_question_takes_its_supporting_sentences_by_reason_support_ratio_alone(qa):
    question = "Why did shops on the islands run short of food?"
    # 1: only sentences as likely as the best join it; 0: every sentence up to the three a reason may have.
    assert len(qa.ask(question, reason_support_ratio=1.0, support_ratio=0.0).sentences) == 1
    assert len(qa.ask(question, reason_support_ratio=0.0, support_ratio=1.0).sentences) == 3


def test_extractive_sentences_sets_how_many_a_why_answer_takes_while_a_span_answer_keeps_two(qa):
    why = "Why did shops on the islands run short of food?"
    assert [len(qa.ask(why, reason_support_ratio=0.0, extractive_sentences=n).sentences) for n in (1, 2, 4)] == \
        [1, 2, 4]
    span = "What pay rise did the dock workers accept?"
    assert len(qa.ask(span, support_ratio=0.0, extractive_sentences=4).sentences) == 2


def test_a_span_question_takes_its_supporting_sentences_by_support_ratio_alone(qa):
    question = "What pay rise did the dock workers accept?"
    assert len(qa.ask(question, support_ratio=1.0, reason_support_ratio=0.0).sentences) == 1
    assert len(qa.ask(question, support_ratio=0.0, reason_support_ratio=1.0).sentences) == 2
