"""What the scorer reads of a question (relevance.scorer): the abstention model's features, on hand-made sentence
rows, and where the bold span comes from."""

import numpy as np
import pytest

from briefqa.relevance.features import FEATURES
from briefqa.relevance.scorer import ABSTAIN_FEATURES, abstain_features


def sentences(**columns) -> np.ndarray:
    """Feature rows, one per sentence read, zero but for the named columns."""
    n = len(next(iter(columns.values())))
    x = np.zeros((n, len(FEATURES)))
    for name, values in columns.items():
        x[:, FEATURES.index(name)] = values
    return x


def test_the_abstention_model_reads_the_best_sentence_and_how_close_any_sentence_comes():
    # The second sentence holds most of the question's words and lacks none of its rare ones, but the combined
    # model prefers the first: a near miss looks like this.
    x = sentences(rarest_missing=[1.0, 0.0, 0.5], lex=[0.2, 0.9, 0.4], kind_held=[1, 0, 0],
                  passage_cos=[0.7, 0.3, 0.5])
    got = dict(zip(ABSTAIN_FEATURES, abstain_features(x, np.array([2.0, -1.0, 0.5]), np.array([1.5, 3.0, -2.0]),
                                                      np.array([0.8, 0.1, 0.3])), strict=True))
    assert (got["best"], got["gap"], got["reader_best"], got["span"]) == (2.0, 1.5, 3.0, 0.8)
    assert (got["rarest_missing"], got["lex"], got["kind_held"], got["passage_cos"]) == (1.0, 0.2, 1.0, 0.7)
    assert (got["rarest_missing_least"], got["lex_most"]) == (0.0, 0.9)


def test_a_single_sentence_read_stands_out_by_a_fixed_gap():
    got = dict(zip(ABSTAIN_FEATURES, abstain_features(sentences(lex=[0.5]), np.array([-1.0]), np.array([0.2]),
                                                      np.array([0.6])), strict=True))
    assert got["gap"] == pytest.approx(5.0) and got["lex"] == got["lex_most"] == 0.5


def test_the_bold_span_of_a_sentence_read_is_the_span_readers_and_none_for_one_not_read():
    from briefqa.models.reader import AnswerSpan
    from briefqa.relevance.scorer import Scored

    ranking = [AnswerSpan(0, 4, "Oslo", 0.4), None]
    bold = AnswerSpan(5, 12, "Bergen", 0.9)
    scored = Scored([None, None], np.array([0.7, 0.0]), sentences(lex=[0.0, 0.0]), 0.1, ranking)
    assert scored.span(0) is ranking[0]  # no span reader: the reader's own
    scored.bold = lambda i: bold
    assert scored.span(0) is bold and scored.span(1) is None and scored.span(5) is None


def test_the_span_reader_reads_a_sentence_alone_once_however_often_asked():
    from briefqa.models.reader import SPAN_READER_FILE, Reader
    from briefqa.records import Passage
    from briefqa.relevance.features import Candidate
    from briefqa.relevance.scorer import SpanReading

    text = "The union's leader, Maria Lindqvist, said the deal protected jobs."
    passages = [Passage(text, {"title": "Harbour strike ends"})]
    question = "Who leads the dock workers' union?"
    reading = SpanReading(SPAN_READER_FILE, question, [Candidate(0, 0, len(text), text, 0)], passages)
    first = reading(0)
    alone = Reader.packaged(SPAN_READER_FILE).read(question, [text], ["Harbour strike ends"]).spans[0]
    assert first.text == alone.text == "Maria Lindqvist" and first.probability == alone.probability
    assert reading(0) is first and list(reading.read) == [0]


def test_a_span_knows_where_its_sentence_ranks_and_how_many_of_the_best_others_say_the_same():
    from briefqa.models.reader import AnswerSpan
    from briefqa.relevance.scorer import SHORT_FEATURES, Scored, short_features

    # Six sentences, five read; the best three (by probability: 1, 3, 0) read "Bergen", "Oslo" and "bergen."; the
    # fourth best says "Bergen" too, but only the best three are where the bold answer is looked for.
    spans = [AnswerSpan(0, 7, "bergen.", 0.5), AnswerSpan(0, 6, "Bergen", 0.8), None,
             AnswerSpan(0, 4, "Oslo", 0.7), AnswerSpan(0, 6, "Bergen", 0.6), AnswerSpan(0, 6, "Bergen", 0.6)]
    scored = Scored([None] * 6, np.array([0.5, 0.9, 0.0, 0.6, 0.3, 0.2]), sentences(lex=[0.0] * 6), 0.1, spans,
                    np.zeros(6))
    assert scored.bold_candidates() == [1, 3, 0]

    def got(i):
        return dict(zip(SHORT_FEATURES, short_features("Where is the harbour?", scored, i), strict=True))

    assert (got(1)["rank"], got(1)["agree"]) == (0, 1)  # "bergen." says "Bergen" after normalisation
    assert (got(3)["rank"], got(3)["agree"]) == (1, 0)
    assert (got(0)["rank"], got(0)["agree"]) == (2, 1)
    assert (got(4)["rank"], got(4)["agree"]) == (3, 2)  # a sentence below the three: ranked past them


def test_only_sentences_the_reader_read_are_where_the_bold_answer_is_looked_for():
    from briefqa.models.reader import AnswerSpan
    from briefqa.relevance.scorer import Scored

    scored = Scored([None] * 3, np.array([0.9, 0.0, 0.0]), sentences(lex=[0.0] * 3), 0.1,
                    [AnswerSpan(0, 4, "Oslo", 0.7), None, None], np.zeros(3))
    assert scored.bold_candidates() == [0]
    assert scored.bold_choice("Where is the harbour?") == 0  # no short-answer model: each trusted alike, the best


def test_a_span_the_conversation_already_gave_is_left_out_of_the_bold_choice():
    from briefqa.models.reader import AnswerSpan
    from briefqa.relevance.scorer import Scored

    spans = [AnswerSpan(0, 6, "Bergen", 0.9), AnswerSpan(0, 4, "Oslo", 0.5), None]
    scored = Scored([None] * 3, np.array([0.9, 0.6, 0.0]), sentences(lex=[0.0] * 3), 0.1, spans, np.zeros(3))
    assert scored.bold_choice("Where is the harbour?") == 0
    assert scored.bold_choice("Where is the harbour?", said=["bergen."]) == 1  # the same answer, normalised
    assert scored.bold_choice("Where is the harbour?", said=["Bergen", "Oslo"]) is None
