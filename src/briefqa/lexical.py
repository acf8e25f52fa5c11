"""The lexical side of retrieval: a bm25s index over the same chunks as FAISS.

Dense MiniLM vectors capture paraphrase but blur rare names ("Avdaliani", "Mammadov") and numbers, which are
exactly what news questions hinge on; BM25 catches those. Each segment of a local index (:mod:`briefqa.segment`)
has its own bm25s index over its chunks, saved by bm25s itself as JSON and ``.npy`` arrays without pickle; a
search scores every segment with the whole index's IDF (:meth:`LexicalIndex.weighted_scores`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

#: Stopword list given to bm25s for both documents and queries.
STOPWORDS = "en"


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


class LexicalIndex:
    """BM25 over chunk texts; position ``i`` of the bm25s index is chunk ``ids[i]``.

    ``stemmer`` names a Snowball stemmer applied to documents and queries alike ("" for none): with it,
    "alternatives" in a question finds "alternative" in a passage.
    """

    def __init__(self, retriever, ids: np.ndarray, stemmer: str = "") -> None:
        self.retriever = retriever
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
        return cls(retriever if texts else None, np.asarray(ids, dtype=np.int64), stemmer)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        if self.retriever is not None:
            self.retriever.save(str(directory), allow_pickle=False, show_progress=False)

    @classmethod
    def load(cls, directory: Path, ids: Sequence[int], stemmer: str = "", mmap: bool = False) -> LexicalIndex:
        bm25s = _bm25s()
        if not ids:
            return cls(None, np.asarray([], dtype=np.int64), stemmer)
        retriever = bm25s.BM25.load(str(directory), mmap=mmap, allow_pickle=False, show_progress=False)
        return cls(retriever, np.asarray(ids, dtype=np.int64), stemmer)

    @property
    def size(self) -> int:
        return 0 if self.retriever is None else int(self.retriever.scores["num_docs"])

    def tokens(self, text: str) -> list[str]:
        """The terms bm25s indexes for ``text`` (lower-cased words, English stopwords removed)."""
        out = _bm25s().tokenize([text], stopwords=STOPWORDS, stemmer=_stemmer(self.stemmer), show_progress=False,
                                return_ids=False)
        return list(out[0]) if out else []

    def normal(self, term: str) -> str:
        """A word as the index holds it: lower-cased and stemmed like the chunks."""
        stem = _stemmer(self.stemmer)
        return stem([term.lower()])[0] if stem else term.lower()

    def df(self, token: str) -> int:
        """How many chunks hold ``token`` (a term as :meth:`tokens` gives it)."""
        if self.retriever is None:
            return 0
        i = self.retriever.vocab_dict.get(token)
        indptr = self.retriever.scores["indptr"]
        return int(indptr[i + 1] - indptr[i]) if i is not None and i + 1 < len(indptr) else 0

    def weighted_scores(self, tokens: Sequence[str], weights: dict[str, float]) -> np.ndarray:
        """Each chunk's BM25 for ``tokens``, each token's share multiplied by ``weights[token]``: how a segment
        scores with the IDF of the whole index (bm25s stores each posting's score with its own IDF in it)."""
        out = np.zeros(self.size, dtype=np.float32)
        if self.retriever is None:
            return out
        scores, vocab = self.retriever.scores, self.retriever.vocab_dict
        data, indices, indptr = scores["data"], scores["indices"], scores["indptr"]
        for t in tokens:
            i = vocab[t]
            a, b = int(indptr[i]), int(indptr[i + 1])
            out[indices[a:b]] += weights[t] * data[a:b]  # a token's postings name each chunk once
        return out
