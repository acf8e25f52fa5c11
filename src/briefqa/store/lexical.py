"""The lexical side of retrieval: a bm25s index over the same chunks as FAISS.

Dense MiniLM vectors capture paraphrase but blur rare names ("Avdaliani", "Mammadov") and numbers, which are
exactly what news questions hinge on; BM25 catches those. Each segment of a local index (:mod:`briefqa.store.segment`)
has its own bm25s index over its chunks, saved by bm25s itself as JSON and ``.npy`` arrays without pickle; a
search scores every segment with the whole index's IDF (:meth:`LexicalIndex.weighted_scores`).

bm25s builds and saves the indexes. Reading one back needs none of bm25s, only its arrays and vocabulary, and
analysing a question needs only its token pattern and stop words: importing bm25s imports scipy, half a second
of a one-shot ``briefqa ask``, so questions are analysed here the way :func:`bm25s.tokenize` analyses them
(``tests/store/test_lexical.py`` holds the two to the same tokens) and a saved index is read with numpy.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

#: Stopword list given to bm25s for both documents and queries.
STOPWORDS = "en"
#: bm25s' default token pattern (``bm25s.tokenize(token_pattern=...)``).
TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")


def _bm25s():
    import bm25s

    # bm25s sets its logger to DEBUG when imported and narrates indexing; briefqa reports what matters itself.
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


@lru_cache(maxsize=4)
def _stemmer(language: str):
    """PyStemmer's Snowball stemmer ("english"), or ``None`` for none."""
    if not language:
        return None
    import Stemmer

    return Stemmer.Stemmer(language).stemWords


@lru_cache(maxsize=1)
def stopword_lists() -> dict[str, frozenset[str]]:
    """bm25s' stop words by language ("EN", "FRENCH", ...), read from its ``stopwords`` module without running
    the package's ``__init__`` (which imports scipy)."""
    spec = importlib.util.find_spec("bm25s")
    path = Path(next(iter(spec.submodule_search_locations))) / "stopwords.py"
    module_spec = importlib.util.spec_from_file_location("briefqa._bm25s_stopwords", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return {name.removeprefix("STOPWORDS_"): frozenset(words) for name, words in vars(module).items()
            if name.startswith("STOPWORDS_") and name != "STOPWORDS_EN_PLUS"}


def _stopwords() -> frozenset[str]:
    """The English ones, which BM25 drops."""
    return stopword_lists()["EN"]


def analyse(text: str, stemmer: str = "") -> list[str]:
    """The terms bm25s indexes for ``text``: lower-cased words of two or more characters, English stop words
    removed, then stemmed, as :func:`bm25s.tokenize` gives them."""
    stop = _stopwords()
    words = [w for w in TOKEN_PATTERN.findall(text.lower()) if w not in stop]
    stem = _stemmer(stemmer)
    return list(stem(words)) if stem and words else words


@dataclass
class Postings:
    """A saved bm25s index as numpy reads it: a CSC matrix (a column of per-chunk scores per term)."""

    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    vocab: dict[str, int]
    num_docs: int

    @classmethod
    def of(cls, retriever) -> Postings:
        s = retriever.scores
        return cls(s["data"], s["indices"], s["indptr"], retriever.vocab_dict, int(s["num_docs"]))

    @classmethod
    def read(cls, directory: Path, mmap: bool = False) -> Postings:
        # The files and fields bm25s.BM25.save writes (and BM25.load reads).
        def array(name: str) -> np.ndarray:
            return np.load(directory / f"{name}.csc.index.npy", mmap_mode="r" if mmap else None, allow_pickle=False)

        params = json.loads((directory / "params.index.json").read_text(encoding="utf-8"))
        vocab = json.loads((directory / "vocab.index.json").read_text(encoding="utf-8"))
        return cls(array("data"), array("indices"), array("indptr"), vocab, int(params["num_docs"]))


class LexicalIndex:
    """BM25 over chunk texts; position ``i`` of the bm25s index is chunk ``ids[i]``.

    ``stemmer`` names a Snowball stemmer applied to documents and queries alike ("" for none): with it,
    "alternatives" in a question finds "alternative" in a passage.
    """

    def __init__(self, postings: Postings | None, ids: np.ndarray, stemmer: str = "", retriever=None) -> None:
        self.postings = postings
        self._retriever = retriever  # the bm25s object of an index built here, which saves it
        self.ids = np.asarray(ids, dtype=np.int64)
        self.stemmer = stemmer

    @classmethod
    def build(cls, texts: Sequence[str], ids: Sequence[int], stemmer: str = "") -> LexicalIndex:
        bm25s = _bm25s()
        retriever = bm25s.BM25()
        if texts:
            tokens = bm25s.tokenize(list(texts), stopwords=STOPWORDS, stemmer=_stemmer(stemmer),
                                    show_progress=False)
            retriever.index(tokens, show_progress=False)
            return cls(Postings.of(retriever), np.asarray(ids, dtype=np.int64), stemmer, retriever)
        return cls(None, np.asarray(ids, dtype=np.int64), stemmer)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        if self._retriever is not None:
            self._retriever.save(str(directory), allow_pickle=False, show_progress=False)

    @classmethod
    def load(cls, directory: Path, ids: Sequence[int], stemmer: str = "", mmap: bool = False) -> LexicalIndex:
        if not len(ids):
            return cls(None, np.asarray([], dtype=np.int64), stemmer)
        return cls(Postings.read(directory, mmap), np.asarray(ids, dtype=np.int64), stemmer)

    @property
    def size(self) -> int:
        return 0 if self.postings is None else self.postings.num_docs

    def tokens(self, text: str) -> list[str]:
        """The terms bm25s indexes for ``text`` (lower-cased words, English stopwords removed)."""
        return analyse(text, self.stemmer)

    def normal(self, term: str) -> str:
        """A word as the index holds it: lower-cased and stemmed like the chunks."""
        stem = _stemmer(self.stemmer)
        return stem([term.lower()])[0] if stem else term.lower()

    def df(self, token: str) -> int:
        """How many chunks hold ``token`` (a term as :meth:`tokens` gives it)."""
        if self.postings is None:
            return 0
        i = self.postings.vocab.get(token)
        indptr = self.postings.indptr
        return int(indptr[i + 1] - indptr[i]) if i is not None and i + 1 < len(indptr) else 0

    def weighted_scores(self, tokens: Sequence[str], weights: dict[str, float]) -> np.ndarray:
        """Each chunk's BM25 for ``tokens``, each token's share multiplied by ``weights[token]``: how a segment
        scores with the IDF of the whole index (bm25s stores each posting's score with its own IDF in it)."""
        if self.postings is None or not tokens:
            return np.zeros(self.size, dtype=np.float32)
        p = self.postings
        rows, scores = [], []
        for t in tokens:
            i = p.vocab[t]
            a, b = int(p.indptr[i]), int(p.indptr[i + 1])
            rows.append(p.indices[a:b])
            scores.append(p.data[a:b] * np.float32(weights[t]))
        # One pass over all the postings (bincount sums in float64), instead of a gather and scatter per token.
        summed = np.bincount(np.concatenate(rows), weights=np.concatenate(scores), minlength=self.size)
        return summed.astype(np.float32)
