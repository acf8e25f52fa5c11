"""Metrics against hand-computed cases, including the upstream MultiHop-RAG rule's edge cases."""

import math

import pytest

from briefqa.evaluation.metrics import (
    answer_contains,
    percentile,
    retrieval_scores,
    short_answer_exact,
    short_answer_right,
    strict_correct,
    upstream_correct,
)
from briefqa.relevance.expect import question_word

A, B = "Baku opened an embassy", "Israel opened one in 1993"


def test_no_hit_scores_zero():
    s = retrieval_scores(["nothing here", "nor here"], [A])
    assert s["hits_at_10"] == s["mrr_at_10"] == s["map_at_10"] == s["ndcg_at_10"] == 0


def test_spaces_and_newlines_are_removed_before_matching():
    passages = ["noise", "In 2023 Baku\nopened  an em bassy in Tel Aviv."]
    s = retrieval_scores(passages, [A])
    assert s["hits_at_10"] == 1 and s["hits_at_4"] == 1 and s["mrr_at_10"] == 0.5
    assert s["map_at_10"] == 0.5  # one fact found at rank 2: (1/2) / min(1, 10)


def test_only_spaces_and_newlines_are_removed():
    assert retrieval_scores(["Baku\topened an embassy"], [A])["hits_at_10"] == 0  # a tab is not removed upstream


def test_a_fact_found_again_later_is_not_counted_twice():
    passages = [f"x {A}", "filler", f"again {A} and {B}"]
    s = retrieval_scores(passages, [A, B])
    # rank 1 finds A (1/1); rank 3 finds only B as new (1/3); divided by min(2, 10).
    assert s["map_at_10"] == pytest.approx((1 + 1 / 3) / 2)
    assert s["recall_at_10"] == 1 and s["all_evidence_at_10"] == 1
    assert s["ndcg_at_10"] == pytest.approx((1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3)))


def test_hits_at_4_and_10_boundaries_and_the_rank_cut():
    filler = [f"p{i}" for i in range(12)]
    at5 = [*filler[:4], A, *filler[4:]]
    s = retrieval_scores(at5, [A])
    assert (s["hits_at_4"], s["hits_at_10"], s["mrr_at_10"]) == (0, 1, 0.2)
    at11 = [*filler[:10], A]
    assert retrieval_scores(at11, [A])["hits_at_10"] == 0


def test_map_divides_by_at_most_ten_facts():
    facts = [f"fact number {i}" for i in range(12)]
    s = retrieval_scores([" ".join(facts)], facts)
    assert s["map_at_10"] == pytest.approx(12 / 10)  # upstream quirk: 12 facts at rank 1, divided by 10


def test_identical_gold_facts_count_once_as_upstream():
    s = retrieval_scores([A], [A, A])
    assert s["map_at_10"] == pytest.approx(0.5)  # found once, divided by min(len(gold), 10) = 2
    assert s["recall_at_10"] == 1


@pytest.mark.parametrize(("answer", "gold", "ok"), [
    ("Yes.", "Yes", False),  # upstream splits on white space only: "yes." is not "yes"
    ("yes it did", "Yes", True),
    ("The Verge", "the Verge", True),
    ("Insufficient information.", "Insufficient information.", True),
    ("", "Yes", False),
])
def test_upstream_word_overlap(answer, gold, ok):
    assert upstream_correct(answer, gold) is ok


@pytest.mark.parametrize(("answer", "gold", "aliases", "ok"), [
    ("Yes.", "Yes", (), True),
    ("No, it did not.", "Yes", (), False),
    ("Yes and no", "No", (), False),
    ("The Verge", "the verge", (), True),
    ("It was The Verge", "The Verge", (), False),
    ("He named Mukhtar Mammadov.", "Mukhtar Mammadov", ("Mukhtar Mammadov", "Mammadov"), True),
    ("He named an envoy.", "Mukhtar Mammadov", ("Mukhtar Mammadov", "Mammadov"), False),
])
def test_strict(answer, gold, aliases, ok):
    assert strict_correct(answer, gold, aliases) is ok


def test_percentile_is_nearest_rank():
    xs = list(range(1, 101))
    assert (percentile(xs, 50), percentile(xs, 95), percentile([], 50)) == (50, 95, 0)


def test_answer_contains_the_gold_or_an_alias_whatever_the_quotes_and_case():
    assert answer_contains("Revenue was $9.3 billion, up 11%.", "$9.3 billion")
    assert answer_contains("It operates primarily in the Midwest—but also…", "the Midwest")
    assert answer_contains("McRae’s “Greedy” went viral.", "greedy")
    assert answer_contains("Palmer cost about $A82 million.", "eighty-two", aliases=("$A82 million",))
    assert not answer_contains("Revenue was $9.3 billion.", "$9.4 billion")
    assert not answer_contains("anything", None)


def test_short_answer_exact_normalises_like_squad():
    assert short_answer_exact("The Midwest.", "the Midwest")
    assert short_answer_exact("Ella Toone", "Ella Toone’s", aliases=("Ella Toone",))
    assert not short_answer_exact("Toone", "Ella Toone")
    assert not short_answer_exact(None, "Ella Toone")


def test_a_short_answer_is_right_when_it_says_the_gold_answer_or_most_of_it():
    assert short_answer_right("around $A82 million", "$A82 million")
    assert short_answer_right("Midwest", "the Midwest")
    assert short_answer_right("Trump", "Donald Trump")
    assert short_answer_right("the Partnership on AI", "Partnership on AI")
    assert not short_answer_right("Pennsylvania", "Pittsburgh, Pennsylvania and Cleveland, Ohio")
    assert not short_answer_right("Kingdom Arena", "Joseph Parker")
    assert not short_answer_right("15", "15-game")  # "15game" after the punctuation goes
    assert not short_answer_right("", "Joseph Parker") and not short_answer_right("England", None)


@pytest.mark.parametrize(("question", "word"), [
    ("Roughly what fee did Chelsea pay to sign Cole Palmer from City?", "what"),
    ("In which town did Zamora launch the engine-parts firm AOG?", "which"),
    ("Whose first match as Germany coach will be against the USMNT?", "who"),
    ("How many kilometres of pistes does Zermatt offer?", "how many"),
    ("How long did Britney Spears stay wed to Jason Alexander?", "how"),
    ("Why was CM Punk let go by AEW?", "why"),
    ("Tell me about Baku.", "other"),
])
def test_the_question_word_is_the_first_one_the_question_asks_with(question, word):
    assert question_word(question) == word
