"""Citations are owned by code: invalid markers go, unsupported sentences go, refusals abstain."""

import pytest

from briefqa.answering.cite import ABSTAIN_TEXT, check_citations, parse_markers, specifics, strip_markers, with_markers
from briefqa.models.embed import get_embedder
from briefqa.records import Passage

PASSAGES = [
    Passage("President Ilham Aliyev appointed Mukhtar Mammadov as Azerbaijan's first ambassador to Israel.",
            {"title": "Envoy", "source": "Desk", "chunk_id": 0}),
    Passage("Israel opened its embassy in Baku in August 1993. Trade has grown since then.",
            {"title": "Embassy", "source": "Desk", "chunk_id": 1}),
]


@pytest.fixture(scope="module")
def emb():
    return get_embedder()


def test_marker_parsing():
    assert parse_markers("A [1]. B [2, 3][4]. C [5; 6]") == [1, 2, 3, 4, 5, 6]
    assert strip_markers("Israel opened it [2].") == "Israel opened it."
    assert with_markers("It opened in 1993.", [2, 1]) == "It opened in 1993 [2][1]."


def test_specifics_are_names_and_numbers():
    assert specifics("Later, Eli Cohen thanked Bayramov in 2023.") == {"eli", "cohen", "bayramov", "2023"}


def test_a_supported_answer_keeps_its_valid_citations(emb):
    raw = "Aliyev appointed Mukhtar Mammadov as the first ambassador to Israel [1]."
    out = check_citations(raw, PASSAGES, emb, 0.55)
    assert not out.abstained
    assert [c.marker for c in out.citations] == [1] and out.citations[0].passage is PASSAGES[0]
    assert out.text.endswith("[1].")


def test_a_marker_naming_no_given_passage_is_removed(emb):
    out = check_citations("Israel opened its embassy in Baku in August 1993 [7].", PASSAGES, emb, 0.55)
    assert out.dropped_markers == [7]
    assert [c.marker for c in out.citations] == [2]  # re-tied to the passage that supports it
    assert type(out.citations[0].marker) is int and out.sentences[0].markers == [2]
    assert "[7]" not in out.text


def test_a_wrong_citation_is_moved_to_the_supporting_passage(emb):
    out = check_citations("Israel opened its embassy in Baku in August 1993 [1].", PASSAGES, emb, 0.55)
    assert [c.marker for c in out.citations] == [2]


def test_unsupported_sentences_are_removed_and_reported(emb):
    raw = ("Israel opened its embassy in Baku in August 1993 [2]. "
           "The Republic of Westland sent Prime Minister Tom Quill to the opening [1].")
    out = check_citations(raw, PASSAGES, emb, 0.55)
    assert out.text == "Israel opened its embassy in Baku in August 1993 [2]."
    assert out.unsupported == ["The Republic of Westland sent Prime Minister Tom Quill to the opening."]


def test_an_answer_with_no_supported_sentence_abstains(emb):
    out = check_citations("Penguins migrate across Antarctica every winter [1].", PASSAGES, emb, 0.55)
    assert out.abstained and out.text == ABSTAIN_TEXT and out.citations == []


@pytest.mark.parametrize("raw", ["Insufficient information.", "The passages do not say.", ""])
def test_a_refusal_is_an_abstention(emb, raw):
    assert check_citations(raw, PASSAGES, emb, 0.55).abstained
