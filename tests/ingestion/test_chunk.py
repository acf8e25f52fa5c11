"""Chunking: whole sentences, exact spans, within both token limits."""

import itertools

import pytest

from briefqa.ingestion.chunk import Chunker, count_tokens
from briefqa.ingestion.load import load_file
from briefqa.text import split_sentences
from conftest import SEED_ARTICLE

TEXT = ("Dr. Avdaliani spoke first. He said ties will hold! Did Tehran agree? "
        "The U.S. stayed quiet.\n\nA new paragraph starts here. It ends here.")


def test_sentences_respect_abbreviations_quotes_and_paragraphs():
    got = [s.text for s in split_sentences(TEXT)]
    assert got == ["Dr. Avdaliani spoke first.", "He said ties will hold!", "Did Tehran agree?",
                   "The U.S. stayed quiet.", "A new paragraph starts here.", "It ends here."]
    company = "It ships with Super Smash Bros. Ultimate and a case. Warner Bros. Discovery declined."
    assert [s.text for s in split_sentences(company)] == ["It ships with Super Smash Bros. Ultimate and a case.",
                                                          "Warner Bros. Discovery declined."]
    quoted = "He said “it is over.” Then he left."
    assert [s.text for s in split_sentences(quoted)] == ["He said “it is over.”", "Then he left."]
    times = "The card starts at 11:30 a.m. ET on DAZN. Doors open at 9 a.m. The queue is long."
    assert [s.text for s in split_sentences(times)] == ["The card starts at 11:30 a.m. ET on DAZN.",
                                                        "Doors open at 9 a.m.", "The queue is long."]
    zones = "Kick-off is 7 p.m. AEDT (8 a.m. GMT). It sold out."
    assert [s.text for s in split_sentences(zones)] == ["Kick-off is 7 p.m. AEDT (8 a.m. GMT).", "It sold out."]


def test_sentence_spans_are_exact_slices():
    for s in split_sentences(TEXT):
        assert TEXT[s.start:s.end] == s.text


@pytest.fixture(scope="module")
def seed_text():
    return next(iter(load_file(SEED_ARTICLE))).text


@pytest.mark.parametrize(("size", "overlap"), [(64, 0), (128, 0), (128, 32), (256, 0)])
def test_chunks_are_bounded_exact_and_end_on_sentence_boundaries(seed_text, size, overlap):
    chunks = Chunker(size, overlap).split(seed_text)
    sentences = split_sentences(seed_text)
    ends = {s.end for s in sentences}
    starts = {s.start for s in sentences}
    # Only a sentence longer than a whole chunk may be cut inside.
    too_long = [s for s, n in zip(sentences, count_tokens([s.text for s in sentences]), strict=True) if n > size]
    assert all(n <= size for n in count_tokens([c.text for c in chunks]))
    for c in chunks:
        assert seed_text[c.start:c.end] == c.text
        assert c.end in ends or any(s.start < c.end < s.end for s in too_long)
        assert c.start in starts or any(s.start < c.start < s.end for s in too_long)
    # Together the chunks cover every sentence; without overlap, each exactly once.
    covered = sorted({s.start for s in sentences for c in chunks if c.start <= s.start < c.end})
    assert covered == sorted(starts)
    if overlap == 0:
        assert all(a.end <= b.start for a, b in itertools.pairwise(chunks))
    else:
        assert any(b.start < a.end for a, b in itertools.pairwise(chunks))


def test_a_sentence_longer_than_a_chunk_is_cut_at_words():
    long = " ".join(["word"] * 300) + "."
    chunks = Chunker(50, 0).split(long)
    assert len(chunks) >= 6
    assert all(n <= 50 for n in count_tokens([c.text for c in chunks]))
    assert "".join(c.text for c in chunks).replace(" ", "") == long.replace(" ", "")


def test_chunks_never_exceed_the_embedders_own_limit(seed_text):
    from briefqa.models.embed import get_embedder

    emb = get_embedder()
    # Word pieces outnumber tiktoken tokens on this text, so at 400 tokens the embedder's bound decides.
    chunks = Chunker(400, 0, embed_tokens=emb.count_tokens, limit=emb.content_limit).split(seed_text)
    pieces = emb.count_tokens([c.text for c in chunks])
    assert max(pieces) <= emb.content_limit
    assert max(pieces) > 200  # the bound was approached, not avoided
    assert emb.max_tokens == 256


def test_overlap_must_be_smaller_than_size():
    with pytest.raises(ValueError):
        Chunker(64, 64)
