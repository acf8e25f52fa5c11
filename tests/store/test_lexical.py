"""The lexical index reads what bm25s saved and analyses text as bm25s does, without importing bm25s."""

import bm25s
import numpy as np
import pytest

from briefqa.store.lexical import LexicalIndex, analyse

TEXTS = [
    "Azerbaijan opened its embassy in Tel Aviv on 29 March 2023.",
    "The embassies of Arab governments were not consulted; Iran's foreign ministry protested.",
    "I a an -- ?",  # nothing but stop words and one-letter words
    "",
    "Café owners in São Paulo said prices rose 4.5% in Q3 (year-on-year).",
    "The AI council, chaired by Bruce Reed, will meet federal agency heads.",
]


@pytest.mark.parametrize("stemmer", ["", "english"])
def test_a_text_is_analysed_into_the_very_terms_bm25s_gives(stemmer):
    from briefqa.store.lexical import _stemmer

    for text in TEXTS:
        expected = bm25s.tokenize([text], stopwords="en", stemmer=_stemmer(stemmer), show_progress=False,
                                  return_ids=False)[0]
        assert analyse(text, stemmer) == list(expected), text


def test_nothing_but_stop_words_leaves_no_term():
    assert analyse("I a an -- ? the of") == analyse("") == []
    assert analyse("Tel Aviv's embassies", "english") == ["tel", "aviv", "embassi"]


def test_a_saved_index_read_back_scores_every_chunk_as_bm25s_does(tmp_path):
    docs = TEXTS[:2] + TEXTS[4:]
    built = LexicalIndex.build(docs, [10, 11, 12, 13], "english")
    built.save(tmp_path)
    read = LexicalIndex.load(tmp_path, [10, 11, 12, 13], "english", mmap=True)
    query = analyse("Why did the embassy open in Tel Aviv, and what did Iran's ministry say?", "english")
    terms = [t for t in query if read.df(t)]
    ours = read.weighted_scores(terms, dict.fromkeys(terms, 1.0))
    theirs = bm25s.BM25.load(str(tmp_path), allow_pickle=False).get_scores(query)
    assert read.size == 4 and read.df("embassi") == 2
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    assert int(np.argmax(ours)) == 0
