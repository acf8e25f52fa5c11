"""What a question asks for, and the spans of a sentence of that kind (briefqa.relevance.expect): the patterns
that tell the scorer and the short-answer model whether a sentence or a span is the kind of thing asked for."""

import pytest

from briefqa.relevance.expect import expectation, holds, new_spans, not_english

CASES = [
    ("When did Israel open its embassy in Baku?", "date",
     "Israel opened its embassy in Baku in August 1993.", "August 1993"),
    ("How many offenses is Sam Bankman-Fried accused of?", "number",
     "Bankman-Fried is facing seven counts of criminal charges.", "seven"),
    ("How much revenue did Uber bring in?", "amount",
     "The company reported revenue of $9.3 billion, an 11% increase.", "$9.3 billion"),
    ("Who did Ilham Aliyev appoint as ambassador?", "person",
     "On 11 January, President Ilham Aliyev appointed Mukhtar Mammadov, a veteran official, to serve as ambassador.",
     "Mukhtar Mammadov"),
    ("In which town did Zamora launch AOG?", "place",
     "Zamora founded AOG in 2015 from a rented terraced house in Hove, south of London.", "Hove"),
    ("How long did Britney Spears stay wed to Jason Alexander?", "duration",
     "Their marriage was annulled after just 55 hours.", "just 55 hours"),
]


def first_new_span(question: str, sentence: str) -> str | None:
    found = new_spans(expectation(question).kind, sentence, question)
    return sentence[found[0][0]:found[0][1]].rstrip(".") if found else None


@pytest.mark.parametrize(("question", "kind", "sentence", "span"), CASES)
def test_a_question_asking_for_a_span_finds_that_kind_of_span_in_the_sentence(question, kind, sentence, span):
    exp = expectation(question)
    assert (exp.kind, exp.wants_span, exp.max_sentences) == (kind, True, 2)
    assert holds(kind, sentence, question)
    assert first_new_span(question, sentence) == span


def test_names_the_question_already_gives_are_not_new():
    # Aliyev is in the question; the person asked for is the one the question does not name.
    assert first_new_span("Who did Ilham Aliyev appoint?", "Ilham Aliyev appointed Mukhtar Mammadov.") == \
        "Mukhtar Mammadov"


def test_a_capitalised_month_is_a_date_and_a_name_may_open_the_sentence():
    assert first_new_span("Who won the women's World Cup in 2023?",
                          "Spain won the women's World Cup on 20 August 2023, beating England 1–0.") == "Spain"
    assert first_new_span("Who spoke first?", "However, on Monday the minister spoke.") is None


def test_why_and_how_questions_ask_for_no_span_and_take_as_many_sentences_as_the_settings_allow():
    for q in ("Why did Baku open an embassy now?", "How did Tehran react to the embassy?"):
        exp = expectation(q)
        assert not exp.wants_span and exp.max_sentences is None and exp.asks_reason
    assert not expectation("Who did Ilham Aliyev appoint?").asks_reason


def test_a_sentence_without_the_kind_asked_for_does_not_hold_it():
    assert not holds("date", "The embassy opened to great fanfare.", "When did the embassy open?")
    assert not holds("number", "Many people attended the ceremony.", "How many people attended?")


@pytest.mark.parametrize(("question", "kind", "focus"), [
    ("How much does Rugby Australia pay Eddie Jones per year?", "amount", ("pay",)),  # never "does"
    ("Which bank managed the share placement?", "organisation", ("bank",)),
    ("Which hospital treated Allison Miller?", "place", ("hospital",)),
    ("Who is the chairman of Indian power utility NTPC?", "person", ("chairman",)),
    ("What was Hikvision's annual revenue last year?", "amount", ("revenue",)),
    ("Which long-serving Dexus boss is leaving the company?", "person", ("boss",)),
    ("On which kids' TV show were they castmates?", "name", ("show",)),
    ("Until when does the contract run?", "date", ()),
])
def test_the_thing_asked_about_is_found_without_a_closing_auxiliary(question, kind, focus):
    exp = expectation(question)
    assert (exp.kind, exp.focus) == (kind, focus)


@pytest.mark.parametrize(("question", "foreign"), [
    ("¿Por qué Azerbaiyán abrió una embajada en Tel Aviv?", True),
    ("Pourquoi l'Azerbaïdjan a-t-il ouvert une ambassade à Tel-Aviv ?", True),
    ("Warum hat Aserbaidschan eine Botschaft in Tel Aviv eröffnet?", True),
    ("Почему Азербайджан открыл посольство в Тель-Авиве?", True),
    ("阿塞拜疆为什么在特拉维夫开设大使馆？", True),
    # English, though short, all names, or naming things in other languages.
    ("And Tehran?", False), ("Tehran?", False), ("What did Le Monde say about la Liga?", False),
    ("Who is the CEO of Die Zeit?", False),
])
def test_a_question_in_another_language_is_told_from_an_english_one(question, foreign):
    assert not_english(question) is foreign
