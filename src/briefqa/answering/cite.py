"""Code, not the model, owns the citations.

A generator's text is untrusted: a small model invents states and cites passages it was never given. This
module parses the ``[n]`` markers of an answer, removes those that name no given passage, and ties every
answer sentence to the passages that support it: a passage supports a sentence when one of its own sentences
is close to it in embedding space and it states every name and number the sentence claims. A sentence that
no passage supports is removed from the answer (and reported); an answer left with no supported sentence
becomes an abstention.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..records import AnswerSentence, Citation, Passage
from ..text import split_sentences

MARKER_RE = re.compile(r"\s*\[(\d+(?:\s*[,;]\s*\d+)*)\]")
#: What briefqa says when the passages do not support an answer.
ABSTAIN_TEXT = "The passages found do not answer this question."
_ABSTAIN_RE = re.compile(
    r"insufficient information|not enough information|no information|do(es)? not (say|mention|contain|state|"
    r"provide)|cannot be answered|can(not|'t) answer|unable to answer|i do(n't| not) know|not (mentioned|stated)",
    re.I)
_MIN_WORDS = 3


@dataclass
class CheckedText:
    """The result of checking a generated answer against the passages it was given."""

    text: str
    sentences: list[AnswerSentence]
    citations: list[Citation]
    abstained: bool
    dropped_markers: list[int] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)


def parse_markers(text: str) -> list[int]:
    """Marker numbers in order of appearance: ``[1]``, ``[2, 3]`` and ``[4][5]`` all count."""
    return [int(n) for m in MARKER_RE.finditer(text) for n in re.split(r"[,;]", m.group(1))]


def strip_markers(text: str) -> str:
    return MARKER_RE.sub("", text).strip()


def with_markers(sentence: str, markers: Sequence[int]) -> str:
    """``sentence`` with its markers placed before the final punctuation: ``... Tel Aviv [1][3].``"""
    if not markers:
        return sentence
    tags = "".join(f"[{m}]" for m in markers)
    m = re.search(r"[.!?…]+[\"'”’)]*$", sentence)
    if m:
        return f"{sentence[:m.start()].rstrip()} {tags}{sentence[m.start():]}"
    return f"{sentence} {tags}"


def is_refusal(text: str) -> bool:
    """Whether the generator itself said it cannot answer."""
    return bool(_ABSTAIN_RE.search(text))


def _answer_units(raw: str) -> list[tuple[str, list[int]]]:
    """(sentence without markers, its markers); a marker that opens a sentence belongs to the one before."""
    units: list[tuple[str, list[int]]] = []
    for span in split_sentences(raw.strip()):
        text = span.text
        lead = re.match(r"(\s*\[\d+(?:\s*[,;]\s*\d+)*\])+", text)
        if lead and units:
            units[-1][1].extend(parse_markers(lead.group(0)))
            text = text[lead.end():]
        units.append((strip_markers(text), parse_markers(text)))
    return [(t, m) for t, m in units if t]


class SupportScorer:
    """Cosine similarity between texts and the sentences of the passages, with passage sentences embedded once."""

    def __init__(self, embedder, passages: Sequence[Passage]) -> None:
        self.embedder = embedder
        self.sentences: list[list[str]] = [[s.text for s in split_sentences(p.text)] or [p.text] for p in passages]
        flat = [s for sents in self.sentences for s in sents]
        self.owner = np.repeat(np.arange(len(passages)), [len(s) for s in self.sentences])
        self.vectors = embedder.encode(flat) if flat else np.zeros((0, 1), dtype=np.float32)
        self.flat = flat

    def scores(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """For each text and passage: the best cosine, and the index (into ``flat``) of that sentence."""
        n_pass = len(self.sentences)
        best = np.full((len(texts), n_pass), -1.0, dtype=np.float32)
        arg = np.zeros((len(texts), n_pass), dtype=np.int64)
        if not texts or not self.flat:
            return best, arg
        sims = self.embedder.encode(list(texts)) @ self.vectors.T
        for p in range(n_pass):
            cols = np.flatnonzero(self.owner == p)
            sub = sims[:, cols]
            arg[:, p] = cols[sub.argmax(axis=1)]
            best[:, p] = sub.max(axis=1)
        return best, arg


def specifics(sentence: str) -> set[str]:
    """Numbers and capitalised names in a sentence (its first word excepted): the claims a passage must state.

    Embedding similarity cannot tell "Aliyev appointed Mammadov" from "Cohen appointed Mammadov"; a name or
    number that the passage never mentions can.
    """
    words = re.findall(r"[A-Za-z][\w’'-]*|\d[\d,.]*", sentence)
    out = set()
    for i, w in enumerate(words):
        if w[0].isdigit():
            out.add(w.rstrip(".,"))
        elif i > 0 and w[0].isupper() and w.lower() not in _COMMON_CAPITALISED:
            out.add(re.sub(r"[’']s$", "", w).lower())
    return out


_COMMON_CAPITALISED = frozenset("i the a an in on of and or but it this that these those he she they we".split())


def states_specifics(sentence: str, passage: Passage) -> bool:
    haystack = (passage.text + " " + passage.label()).lower()
    return all(s.lower() in haystack for s in specifics(sentence))


def check_citations(raw: str, passages: Sequence[Passage], embedder, min_support: float) -> CheckedText:
    """Keep the supported sentences of ``raw``, each cited with passages (1-based) that support it."""
    if not passages or not raw.strip() or is_refusal(raw):
        return CheckedText(ABSTAIN_TEXT, [], [], True)
    units = _answer_units(raw)
    dropped = sorted({m for _, ms in units for m in ms if not 1 <= m <= len(passages)})
    claims = [(t, ms) for t, ms in units if len(t.split()) >= _MIN_WORDS]
    scorer = SupportScorer(embedder, passages)
    best, arg = scorer.scores([t for t, _ in claims])
    sentences: list[AnswerSentence] = []
    support_sentence: dict[int, str] = {}
    unsupported: list[str] = []
    for row, (text, markers) in enumerate(claims):
        valid = [m for m in dict.fromkeys(markers) if 1 <= m <= len(passages)]

        def supports(m: int, row=row, text=text) -> bool:
            return best[row, m - 1] >= min_support and states_specifics(text, passages[m - 1])

        keep = [m for m in valid if supports(m)]
        if not keep:
            keep = [int(m) + 1 for m in np.argsort(-best[row])[:1] if supports(int(m) + 1)]
        if not keep:
            unsupported.append(text)
            continue
        for m in keep:
            support_sentence.setdefault(m, scorer.flat[arg[row, m - 1]])
        sentences.append(AnswerSentence(with_markers(text, keep), keep, float(best[row].max())))
    if not sentences:
        return CheckedText(ABSTAIN_TEXT, [], [], True, dropped, unsupported)
    order = list(dict.fromkeys(m for s in sentences for m in s.markers))
    citations = [Citation(m, passages[m - 1], support_sentence[m]) for m in order]
    return CheckedText(" ".join(s.text for s in sentences), sentences, citations, False, dropped, unsupported)
