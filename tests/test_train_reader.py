"""What ``scripts/train_reader.py`` trains the reader against: the hard negatives of a group are the wrong
sentences nearest to the question, and a sentence that may answer in other words is never one of them; a
cloze question asks the answering clause in its own words. And the splits ``scripts/training_data.py`` cuts
and writes."""

import random
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "scripts"))

import train_reader
from training_data import Question

from briefqa.models.embed import Embedder

ARTICLE = ("Women's World Cup", "")
NEAREST = ("Women's World Cup", "The women's World Cup in 2023 was held in Australia and New Zealand.")
SAYS_IT = ("Women's World Cup", "Spain's coach was criticised after the final whistle.")
ELSEWHERE = [("Markets", "Stock markets fell sharply on Tuesday in Tokyo and Seoul."),
             ("Weather", "Heavy rain is expected across the north of England this weekend."),
             ("Chips", "The chipmaker reported record revenue for its third quarter.")]
WON = "Spain, beating England 1-0"


def question(answer: str | None) -> Question:
    return Question("q1", "Who won the women's World Cup in 2023?", "Who won the women's World Cup in 2023?",
                    answer, answer is not None, [], [ARTICLE])


@pytest.fixture(scope="module")
def qa():
    return SimpleNamespace(embedder=Embedder("onnx-int8"))


def test_a_sentence_with_a_word_of_the_answer_the_question_lacks_may_answer_it():
    q = Question("q2", "When does Amazon's October Prime Big Deal Days event finish?",
                 "When does Amazon's October Prime Big Deal Days event finish?", "2:59 am ET on October 11", True,
                 [], [])
    assert train_reader._says_answer("It runs from Tuesday, October 10 through Wednesday, October 11.", q)
    # "October" is the question's own word, not the answer's.
    assert not train_reader._says_answer("Prime Day deals started flowing at 3 am EST on October 10.", q)


def test_the_hard_negatives_come_first_and_never_say_the_answer(qa):
    wrong = [SAYS_IT, *ELSEWHERE, NEAREST]
    # Second nearest by cosine, but it names the answer: it may answer, so it is no hard negative.
    assert train_reader._nearest(qa, question(WON).searched, wrong, 2) == [NEAREST, SAYS_IT]
    chosen = train_reader._negatives(qa, question(WON), wrong, {NEAREST, SAYS_IT}, 2, random.Random(0))
    assert chosen[0] == NEAREST and SAYS_IT not in chosen[:2]
    # It does not hold the answer itself, so build_groups keeps it among the wrong ones: drawn at random.
    assert set(chosen) <= set(wrong) and len(chosen) == len(set(chosen)) == len(wrong)


def test_without_hard_negatives_the_draw_is_at_random_and_seeded(qa):
    wrong = [SAYS_IT, *ELSEWHERE, NEAREST]
    draws = [train_reader._negatives(qa, question(WON), wrong, {NEAREST, SAYS_IT}, 0, random.Random(seed))
             for seed in (0, 0, 1, 2, 3)]
    assert draws[0] == draws[1]
    assert len({tuple(d) for d in draws}) > 1


def test_an_unanswerable_question_gets_its_nearest_sentences_first(qa):
    chosen = train_reader._negatives(qa, question(None), [*ELSEWHERE, NEAREST, SAYS_IT], {NEAREST}, 2,
                                     random.Random(0))
    assert set(chosen[:2]) == {NEAREST, SAYS_IT}  # no answer to say: the two of the story are the nearest
    assert len(chosen) == 5


def test_a_group_holds_as_many_wrong_sentences_as_asked_the_nearest_first(qa):
    wrong = [SAYS_IT, *ELSEWHERE, NEAREST]
    chosen = train_reader._negatives(qa, question(WON), wrong, {NEAREST, SAYS_IT}, 1, random.Random(0), negatives=3)
    assert len(chosen) == 3 and chosen[0] == NEAREST
    # One of the evidence article's (3 // 2 = 1: the nearest is it), the rest from elsewhere.
    assert set(chosen[1:]) <= set(ELSEWHERE)


def _cloze(question_text: str, sentence: str, answer: str) -> str | None:
    at = sentence.find(answer)
    return train_reader.cloze_question(question_text, sentence, (at, at + len(answer)))


def test_a_cloze_question_asks_the_answering_clause_in_its_own_words_with_the_kind_asked_for():
    sentence = ("Iranian officials and state media condemned the decision, and commentators warned that Azerbaijan "
                "was turning itself into a base for Israel.")
    assert _cloze("Who spoke out against the embassy?", sentence, "Iranian officials and state media") == \
        "Who condemned the decision?"
    assert _cloze("How much did Americans spend online on Thanksgiving Day?",
                  "Adobe said that people in the U.S. on Thursday spent $5.6 billion online, up 5.5%.",
                  "$5.6 billion") == "That people in the U.S. on Thursday spent how much online?"  # 8 words before
    assert _cloze("When did Israel open its embassy in Baku?", "Israel opened its embassy in Baku in August 1993.",
                  "August 1993") == "Israel opened its embassy in Baku in when?"


def test_no_cloze_question_for_a_reason_or_a_clause_too_short_to_ask_anything():
    assert _cloze("Why did Baku open an embassy?", "Baku opened it because Arab states had made peace.",
                  "Arab states had made peace") is None
    assert _cloze("Who won the final?", "Spain won.", "Spain") is None


def test_a_split_holds_the_records_the_trainers_put_in_it_and_the_two_splits_hold_them_all(tmp_path):
    import json

    import training_data

    records = [{"query": f"Who leads story {n}?", "answer": f"Person {n}", "question_type": "natural_query",
                "evidence_list": [{"fact": f"Person {n} leads story {n}.", "title": f"Story {n}", "source": "Wire"}]}
               for n in range(12)]
    train = tmp_path / "queries-train.json"
    train.write_text(json.dumps(records), encoding="utf-8")
    cal = training_data.split_records(train, "cal")
    expected = [q.asked for q in training_data.questions(train) if q.split == "cal"]
    assert [r["query"] for r in cal] == expected and 0 < len(cal) < 12
    assert sorted(r["query"] for r in cal + training_data.split_records(train, "fit")) == \
        sorted(r["query"] for r in records)
