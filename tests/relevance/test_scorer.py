"""What the scorer's abstention model reads of a question (relevance.scorer), on hand-made sentence rows."""

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
