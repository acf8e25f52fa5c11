"""Which questions may get a bold short answer (briefqa.answering.short); what the reader reads as the span and
when it is shown is specified end to end in test_extractive.py."""

import pytest

from briefqa.answering.short import asks_for_span


@pytest.mark.parametrize("question", [
    "Who leads the dock workers' union?", "Which club did Cole Palmer leave?", "When did Israel open its embassy?",
    "Where is Multiflight based?", "How many seats does the arena have?", "How much did the Dodgers pay?",
    "What pay rise did the dock workers accept?", "In what year did Bawendi devise his method?",
])
def test_questions_asking_for_a_name_a_date_or_a_figure_ask_for_a_span(question):
    assert asks_for_span(question)


@pytest.mark.parametrize("question", [
    "Why did Baku open an embassy now?", "How did Tehran react to the embassy?",
])
def test_questions_asking_why_or_how_ask_for_none(question):
    assert not asks_for_span(question)
