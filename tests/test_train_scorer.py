"""What ``scripts/train_scorer.py`` reports to choose ``reason_support_ratio`` from: how often the sentences an
answer takes at each ratio include the one holding the evidence."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent.parent / "scripts"))

import train_scorer


def test_a_lower_support_ratio_takes_more_sentences_and_reaches_evidence_further_down():
    picked = [
        (np.array([1.0, 0.3, 0.1]), np.array([False, True, False])),  # the evidence is the second, at 0.3
        (np.array([1.0, 0.5]), np.array([True, False])),  # the evidence is the best sentence
    ]
    table = {row["support_ratio"]: row for row in train_scorer.support_table(picked)}
    assert table[0.15] == {"support_ratio": 0.15, "questions": 2, "cites_evidence": 1.0, "sentences": 2.0}
    assert table[0.3]["cites_evidence"] == 1.0 and table[0.3]["sentences"] == 2.0
    assert table[0.35] == {"support_ratio": 0.35, "questions": 2, "cites_evidence": 0.5, "sentences": 1.5}
    assert table[0.5]["sentences"] == 1.5 and table[0.5]["cites_evidence"] == 0.5
