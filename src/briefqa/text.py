"""How briefqa reads text: sentences and content words, the same for every stage.

A chunk is packed from whole sentences, an answer quotes whole sentences and a citation is checked sentence by
sentence, so all of them split text here, one way. Likewise the words that say what a question is about (its
content words, stemmed) are compared the same way by the sentence scorer, the expectations, the follow-up
rewriter and the timeline: one list of function words, one stemmer. Two short answers are the same answer when
they are equal after SQuAD's normalisation, for the evaluator and for the answerer alike.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import lru_cache

# "Bros." ends no sentence in the MultiHop-RAG corpus ("Warner Bros. Discovery", "Super Mario Bros. Wonder").
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "gen", "col", "lt", "sgt", "capt", "gov", "sen",
    "rep", "rev", "hon", "pres", "vs", "etc", "inc", "ltd", "co", "corp", "bros", "no", "vol", "fig", "al",
    "approx", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "u.s", "u.k", "e.g",
    "i.e", "u.n", "d.c",
}
# A sentence ends at . ! or ? (optionally followed by closing quotes or brackets), then whitespace, then
# something that can start a sentence.
_SENT_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s+[\"'“‘(\[]?[A-Z0-9])")
# "11:30 a.m. ET" is one time, not a sentence end before "ET" (169 times in 46 MultiHop-RAG articles,
# where splitting there cut quoted sentences and "When does…" answers in two).
_ZONE_AFTER_CLOCK = re.compile(r"(?<=\b[ap]\.m\.)\s+(?:[A-Z]{1,3}[SD]?T|UTC)\b")  # ET, PT, BST, AEDT, NZST, …
_PARA = re.compile(r"\n\s*\n")


@dataclass(frozen=True)
class Span:
    """A character range ``[start, end)`` of a document and its text."""

    start: int
    end: int
    text: str


def _is_abbreviation(text: str, end: int) -> bool:
    m = re.search(r"([\w.]+)\.$", text[max(0, end - 12):end])
    if not m:
        return False
    word = m.group(1).lower()
    # Single capital letters are initials ("J. Smith") far more often than sentence ends.
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Sentence spans of ``text[start:end]``: paragraphs are always boundaries, then sentence punctuation."""
    end = len(text) if end is None else end
    spans: list[Span] = []
    pos = start
    for para in [*_PARA.finditer(text, start, end), None]:
        p_end = para.start() if para else end
        seg_start = pos
        for m in _SENT_END.finditer(text, pos, p_end):
            if m.group(0).startswith(".") and (_is_abbreviation(text, m.start() + 1)
                                               or _ZONE_AFTER_CLOCK.match(text, m.start() + 1)):
                continue
            spans.append(Span(seg_start, m.end(), text[seg_start:m.end()]))
            seg_start = m.end()
            while seg_start < p_end and text[seg_start].isspace():
                seg_start += 1
        tail = text[seg_start:p_end].rstrip()
        if tail.strip():
            lead = len(tail) - len(tail.lstrip())
            spans.append(Span(seg_start + lead, seg_start + len(tail), tail.strip()))
        pos = para.end() if para else end
    return spans


#: Words that carry no content: question words, auxiliaries, function words.
STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between both
but by can could did do does doing down during each few for from further had has have having he her here hers
him his how i if in into is it its itself just me more most my no nor not now of off on once only or other our
out over own same she should so some such than that the their them then there these they this those through to
too under until up very was we were what when where which while who whom why will with would you your
according said say says tell told many much kind way
""".split())


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english").stemWords


def content_words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOPWORDS and len(w) > 1]


@lru_cache(maxsize=8192)
def terms(text: str) -> tuple[str, ...]:
    """Content words, stemmed: what question and sentence are compared on. Cached: the reranker and then the
    answerer score the same sentences of the same passages for one question."""
    return tuple(_stemmer()(content_words(text.replace("’", "'"))))


def normalise(text: str) -> str:
    """Lower-case, drop punctuation, the articles a/an/the, and extra white space (SQuAD's normalisation)."""
    text = text.lower().translate(str.maketrans("", "", string.punctuation + "“”‘’"))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())
