"""What ``scripts/train_scorer.py`` chooses by and reports: how often the sentences an answer takes, at each ratio
and cap, include the one holding the evidence (``reason_support_ratio``, ``extractive_sentences``); the combiner's
ranking on questions it was not fitted on; and the bold short answer's threshold, over the cal split and natural
dev together."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent.parent / "scripts"))

import train_scorer


def table_of(ranked):
    return {(row["max_sentences"], row["support_ratio"]): row for row in train_scorer.support_table(ranked)}


def test_a_lower_support_ratio_takes_more_sentences_and_reaches_evidence_further_down():
    ranked = [
        (np.array([1.0, 0.3, 0.1]), np.array([False, True, False])),  # the evidence is the second, at 0.3
        (np.array([1.0, 0.5]), np.array([True, False])),  # the evidence is the best sentence
    ]
    table = table_of(ranked)
    assert table[3, 0.15] == {"max_sentences": 3, "support_ratio": 0.15, "questions": 2, "cites_evidence": 1.0,
                              "sentences": 2.0, "cited": 2, "full": 0}
    assert table[3, 0.3]["cites_evidence"] == 1.0 and table[3, 0.3]["sentences"] == 2.0
    assert table[3, 0.35] == {"max_sentences": 3, "support_ratio": 0.35, "questions": 2, "cites_evidence": 0.5,
                              "sentences": 1.5, "cited": 1, "full": 0}
    assert table[3, 0.5]["sentences"] == 1.5 and table[3, 0.5]["cites_evidence"] == 0.5


def test_a_higher_cap_reaches_evidence_that_ranks_below_it():
    # The evidence is the fourth sentence, at 0.3 of the best: three sentences miss it, four cite it.
    ranked = [(np.array([1.0, 0.6, 0.5, 0.3, 0.25]), np.array([False, False, False, True, False]))]
    table = table_of(ranked)
    assert (table[3, 0.2]["cited"], table[3, 0.2]["full"], table[3, 0.2]["sentences"]) == (0, 1, 3.0)
    assert (table[4, 0.2]["cited"], table[4, 0.2]["full"], table[4, 0.2]["sentences"]) == (1, 1, 4.0)
    assert (table[5, 0.2]["cited"], table[5, 0.2]["full"]) == (1, 1)
    assert (table[5, 0.4]["cited"], table[5, 0.4]["sentences"]) == (0, 3.0)


def _read(question: str, z: np.ndarray, y: list[bool]):
    row = train_scorer.Row(question, True, question, z, np.array(y), (), [])
    return train_scorer.Read(row, z, z, z[:, 0], z[:, 0], [], np.array(y))


def test_the_cross_validated_ranking_counts_first_and_top_two_where_the_evidence_was_read():
    # One feature ranks the evidence first in every question but one, which has it second; a question whose
    # evidence was not read is not counted.
    z = np.array([[2.0], [0.0], [-1.0]])
    reads = [_read(f"q{i}", z, [True, False, False]) for i in range(9)]
    reads.append(_read("second", z, [False, True, False]))
    reads.append(_read("unread", z, [False, False, False]))
    report = train_scorer.combiner_cv(reads, 1.0)
    assert report == {"questions": 10, "gold_sentence_first": 0.9, "gold_sentence_in_top_2": 1.0}


def _short(question: str, p: float, right: bool, near_miss: bool = False, unanswerable: float = 0.1):
    """A question with one candidate span, whose probability is ``p``."""
    return train_scorer.ShortRow(question, np.array([[p]]), np.array([right]), not near_miss, near_miss,
                                 unanswerable), np.array([p])


def _table(rows, span_questions: int):
    return train_scorer.short_table([r for r, _ in rows], [p for _, p in rows], span_questions, 0.8)


def test_the_short_answer_threshold_is_chosen_over_cal_and_dev_together():
    # Natural dev alone is right 6 times of 7 from 0.5 on (a lucky five at 0.55); with the cal split, 29 of 37.
    # From 0.56 on the two together are right 19 times of 22, at least 0.85 over at least twenty.
    cal = [_short(f"c{i}", 0.55, i < 5) for i in range(10)] + [_short(f"d{i}", 0.75, i < 18) for i in range(20)]
    cal += [_short("near", 0.9, False, near_miss=True), _short("abstained", 0.9, False, unanswerable=0.85)]
    dev = [_short(f"e{i}", 0.55, True) for i in range(5)] + [_short("f0", 0.75, True), _short("f1", 0.75, False)]
    pooled = train_scorer.pooled_table([_table(cal, 100), _table(dev, 20)])
    at = {row["threshold"]: row for row in pooled}
    assert at[0.5] == {"threshold": 0.5, "shown": 0.308, "precision": 0.784, "short_answers": 37, "right": 29,
                       "answerable_shown": 37, "span_questions": 120}
    assert at[0.56] == {"threshold": 0.56, "shown": 0.183, "precision": 0.864, "short_answers": 22, "right": 19,
                        "answerable_shown": 22, "span_questions": 120}
    assert at[0.76]["short_answers"] == 0  # the near miss and the abstained question are never shown
    assert train_scorer.choose_short(pooled) == 0.56


def test_a_question_shows_the_span_the_model_trusts_most_and_is_right_as_that_one_is():
    # Each question's second span is the right one. The model trusts it most in "a", the wrong first one in "b".
    a = train_scorer.ShortRow("a", np.zeros((2, 1)), np.array([False, True]), True, False, 0.1)
    b = train_scorer.ShortRow("b", np.zeros((2, 1)), np.array([False, True]), True, False, 0.1)
    table = train_scorer.short_table([a, b], [np.array([0.55, 0.8]), np.array([0.9, 0.6])], 2, 0.8)
    at = {row["threshold"]: row for row in table}
    assert (at[0.6]["short_answers"], at[0.6]["right"]) == (2, 1)
    assert (at[0.85]["short_answers"], at[0.85]["right"]) == (1, 0)  # b's first span, trusted at 0.9, is wrong
    assert at[0.95]["short_answers"] == 0


def test_each_short_answer_is_judged_by_a_model_fitted_without_its_question():
    # Spans with a high feature are right, except one question's (read twice: as asked, and as a near miss).
    # Judged by a model that saw it, its wrong spans pull its own probability down; judged without it, not.
    rows = [train_scorer.ShortRow(f"q{i}", np.array([[1.0 if i % 2 else -1.0]]), np.array([i % 2], bool), True,
                                  False, 0.1) for i in range(20)]
    rows[0] = train_scorer.ShortRow("q0", np.array([[-1.0], [-1.0]]), np.array([False, False]), True, False, 0.1)
    rows += [train_scorer.ShortRow("odd", np.array([[3.0]]), np.array([False]), True, False, 0.1),
             train_scorer.ShortRow("odd", np.array([[3.0]]), np.array([False]), False, True, 0.1)]
    held_out = train_scorer.short_cv(rows, 1.0)
    seen = train_scorer.short_probabilities(train_scorer.fit_short(rows, 1.0), rows)
    assert [len(p) for p in held_out] == [2] + [1] * 21  # a probability per candidate span
    assert all(p[0] > 0.99 for p in held_out[-2:]) and all(p[0] < 0.9 for p in seen[-2:])


def test_each_abstention_is_judged_by_a_model_fitted_without_its_question():
    # A high feature means unanswerable, except for one answerable question read twice (as asked, and as a
    # near miss left unanswerable). Held out, both of its rows look unanswerable; seen, the model bends to them.
    ids = [f"q{i}" for i in range(20)] + ["odd", "odd"]
    q = np.array([[1.0 if i % 2 else -1.0] for i in range(20)] + [[3.0], [3.0]])
    y = np.array([i % 2 for i in range(20)] + [0, 1])
    more = (np.array([[2.0], [-2.0]]), np.array([1, 0]))  # always fitted on
    held_out = train_scorer.out_of_fold(ids, q, y, 1.0, balanced=True, extra=more)
    seen = train_scorer.probabilities(train_scorer.fit(np.vstack([q, more[0]]), np.concatenate([y, more[1]]), 1.0,
                                                       balanced=True), q)
    assert (held_out[-2:] > 0.95).all() and (seen[-2:] < held_out[-2:]).all()
    assert (held_out[:20:2] < 0.5).all() and (held_out[1:20:2] > 0.5).all()


def test_the_abstention_threshold_bounds_wrong_abstentions_over_dev_and_the_cal_split_together():
    # Dev: 4 unanswerable questions at 0.82 and 0.9; 20 answerable ones, one at 0.82 and one at 0.77 (5% wrong
    # at 0.8, 10% below). The cal split's 80 answerable questions, scored out of fold: 8 at 0.82. Dev alone
    # picks 0.8 (recall 1.0); over the 100 answerable questions together 0.8 abstains wrongly on 9%, 0.85 on none.
    dev = np.array([0.82, 0.82, 0.9, 0.9, 0.82, 0.77] + [0.1] * 18)
    unanswerable = np.array([1, 1, 1, 1] + [0] * 20)
    cal = np.array([0.82] * 8 + [0.1] * 72)
    alone = train_scorer.threshold_table(dev, unanswerable)
    assert train_scorer.choose_threshold(alone) == 0.8
    table = train_scorer.threshold_table(dev, unanswerable, cal)
    at = {row["threshold"]: row for row in table}
    assert at[0.8] == {"threshold": 0.8, "abstain_recall": 1.0, "abstain_precision": 0.8, "wrong_abstentions": 0.05,
                       "wrong_abstentions_with_cal": 0.09}
    assert at[0.85]["wrong_abstentions_with_cal"] == 0.0 and at[0.85]["abstain_recall"] == 0.5
    assert train_scorer.choose_threshold(table) == 0.85
