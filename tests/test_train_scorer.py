"""What ``scripts/train_scorer.py`` reports to choose ``reason_support_ratio`` and ``extractive_sentences`` from:
how often the sentences an answer takes, at each ratio and cap, include the one holding the evidence."""

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
