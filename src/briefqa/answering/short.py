"""The bold short answer: the span of the answering sentence that answers the question, when it asks for one.

"How many trips did Uber complete?" is answered "2.1 billion — …": the span comes first, in bold in the chat,
then the cited sentences. Which span is chosen by what the question asks for (:mod:`briefqa.relevance.expect`)
and by where the sentence shares the question's words: the candidate nearest them wins.
"""

from __future__ import annotations

import re

from ..relevance.expect import NAME_KINDS, OPENERS, ORG_WORDS, expectation, new_spans, word_prefixes

_DESCRIBING = re.compile(r"-(?:based|born|bred|raised|headquartered|led|backed|owned|run|made|built|style|"
                         r"listed|funded|focused|themed|inspired|era|winning|area)$", re.I)


#: Words no person's name holds: "Tuesday's Game", "Department of Neurosciences" answer no "who".
_NOT_PERSON = re.compile(rf"\b(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day|{ORG_WORDS}|department|institute|"
                         r"inc|ltd|corp|news|times|post|journal|game|cup|league|series|awards?|house|congress|"
                         r"senate|parliament|assembly|commission)\b", re.I)


def _named(kind: str, sentence: str, a: int, b: int) -> tuple[int, int] | None:
    """A name span cleaned of what only looks like a name: a capitalised opener ("Former Manchester City" is
    Manchester City), a joining word a title left behind ("of Alameda"), and a describing compound
    ("Calgary-born" is no person; as a place it is Calgary)."""
    first = re.match(r"(\w+)\s+", sentence[a:b])
    if a == 0 and first and first.group(1).lower() in OPENERS | {"former"}:
        a += first.end()
    joiner = re.match(r"(?:of|the|and|&)\s+", sentence[a:b])  # left by a stripped title: "CEO of Alameda"
    if joiner:
        a += joiner.end()
    m = _DESCRIBING.search(sentence[a:b])
    if m:
        if kind != "place":
            return None
        b = a + m.start()
    if kind == "person" and _NOT_PERSON.search(sentence[a:b]):
        return None
    return (a, b) if a < b else None


def _preference(kind: str, sentence: str, span: tuple[int, int]) -> float:
    """How much more likely a span of this shape is the answer, in characters of distance it is worth."""
    a, b = span
    bonus = 0.01 * (b - a)
    if kind == "person" and len(sentence[a:b].split()) >= 2:
        bonus += 25  # people are named with first and last names
    if kind == "place" and re.search(r"\b(in|at|from|near|to|across)\s+$", sentence[:a]):
        bonus += 25
    if kind in ("amount", "percent") and re.search(r"[\d$€£¥%]", sentence[a:b]):
        bonus += 10  # "6%" rather than the "over two" of "over two years"
    return bonus


def _asked_share(text: str, asked: set[str]) -> float:
    said = word_prefixes(text)
    return len(said & asked) / len(said) if said else 0.0


def _surname_asked(name: str, asked: set[str]) -> bool:
    """Whether the question already names this person by surname ("Donald Trump" for "which judge ruled that
    Trump committed fraud?"): news calls people by their last name."""
    words = re.findall(r"[a-z0-9]+", name.lower())
    return len(words) >= 2 and words[-1][:6] in asked


def short_answer(question: str, sentence: str) -> str | None:
    """The span of ``sentence`` that answers ``question``, when the question asks for one and one is there.

    Among the candidate spans, the one nearest the words the sentence shares with the question wins: in
    "Palmer left City for Chelsea in a deal worth around $A82 million", the amount next to "deal" and "worth".
    """
    exp = expectation(question)
    if not exp.wants_span:
        return None
    candidates = new_spans(exp.kind, sentence, question)
    question_words = word_prefixes(question)
    if exp.kind in NAME_KINDS:
        # Only the span shown is cleaned: the scorer's features were fitted on the spans as found.
        candidates = [c for c in (_named(exp.kind, sentence, a, b) for a, b in candidates) if c]
        if exp.kind == "person":  # a person the question names already is no answer to "who"
            candidates = [(a, b) for a, b in candidates if not _surname_asked(sentence[a:b], question_words)]
        # A name mostly made of the question's words restates it ("Walt Disney Animation" for "which film caps
        # Disney Animation's ..."): the answer is a name the question does not already half give.
        fresh = [(a, b) for a, b in candidates if _asked_share(sentence[a:b], question_words) <= 0.5]
        candidates = fresh or candidates
    if not candidates:
        return None
    asked = question_words | {f[:6] for f in exp.focus}
    anchors = [m.start() for m in re.finditer(r"[a-z0-9]+", sentence.lower()) if m.group(0)[:6] in asked]

    def cost(span: tuple[int, int]) -> float:
        a, b = span
        near = min((min(abs(x - a), abs(x - b)) for x in anchors), default=0)
        return near - _preference(exp.kind, sentence, span)

    a, b = min(candidates, key=cost)
    return sentence[a:b].strip(" ,;:.\"“”‘’'()") or None
