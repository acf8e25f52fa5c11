"""Write an answer from numbered passages: with an LLM (embedded or OpenAI-compatible) or extractively.

The LLM path is a LangChain runnable, ``PROMPT | chat model | StrOutputParser()``, so it streams tokens and
accepts any LangChain chat model; :mod:`briefqa.llm` provides the two backends.

The extractive path needs no LLM: it answers with the passages' sentences most similar to the question, each
cited, and abstains when no sentence is close enough or the passages miss most of the question's content
words. On the seed questions it is both more accurate and faster than the embedded 135M model (see README),
which is why it is the default.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from .cite import ABSTAIN_TEXT, SupportScorer, with_markers
from .llm import chat_model
from .records import AnswerSentence, Citation, Passage
from .settings import Settings

SYSTEM_PROMPT = (
    "You answer questions about news articles using only the numbered passages given. "
    "Answer in one to three short sentences. After each sentence, cite the passage it comes from as [1], [2], "
    "and so on. If the passages do not contain the answer, reply exactly: Insufficient information."
)
PROMPT = ChatPromptTemplate.from_messages([
    ("system", SYSTEM_PROMPT),
    ("human", "Passages:\n{context}\n\nQuestion: {question}"),
])

# Words that carry no content for the coverage check (question words, auxiliaries, function words).
_STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between
both but by can could did do does doing down during each few for from further had has have having he her here
hers him his how i if in into is it its itself just me more most my no nor not now of off on once only or other
our out over own same she should so some such than that the their them then there these they this those
through to too under until up very was we were what when where which while who whom why will with would you
your according said say says tell told many much kind way
""".split())


def format_context(passages: Sequence[Passage]) -> str:
    """Passages numbered from 1, each with its title, source and date, as the prompt shows them."""
    return "\n\n".join(f"[{i}] {p.label()}\n{p.text}" for i, p in enumerate(passages, 1))


def content_words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOPWORDS and len(w) > 1]


def coverage(question: str, passages: Sequence[Passage], idf: Callable[[str], float] | None = None) -> float:
    """Share of the question's content words found in the passages, each word weighted by ``idf``.

    Weighting by rarity in the whole index makes the words that pin a question down count most: when a
    question asks about a "2019 census" that no passage mentions, matching "Baku" and "people" is not
    enough. Matching is by word or five-letter prefix, so "opened" finds "open".
    """
    words = set(content_words(question))
    if not words:
        return 1.0
    haystack = set(content_words(" ".join(p.text + " " + p.label() for p in passages)))
    stems = {w[:5] for w in haystack}
    weight = idf or (lambda _w: 1.0)
    total = sum(weight(w) for w in words)
    found = sum(weight(w) for w in words if w in haystack or (len(w) > 4 and w[:5] in stems))
    return found / total if total else 1.0


@dataclass
class Extracted:
    """An extractive answer before it becomes an :class:`~briefqa.records.Answer`."""

    text: str
    sentences: list[AnswerSentence]
    citations: list[Citation]
    abstained: bool


def _stems(text: str) -> set[str]:
    # Five-letter prefixes: a cheap stemmer that matches "Azerbaijani" with "Azerbaijan", "opened" with "open".
    return {w[:5] for w in content_words(text)}


def lexical_overlap(question: str, sentences: Sequence[str]) -> np.ndarray:
    """Share of the question's content words in each sentence, weighted by their rarity among ``sentences``.

    A word every candidate sentence shares (the article's subject) says little; a rare one (a name, a
    number) says much. Dense similarity misses exactly those, which is why sentence scoring mixes both.
    """
    q = _stems(question)
    sents = [_stems(s) for s in sentences]
    if not q or not sents:
        return np.zeros(len(sentences), dtype=np.float32)
    n = len(sents)
    idf = {t: math.log(1 + n / (1 + sum(t in s for s in sents))) for t in q}
    total = sum(idf.values())
    return np.array([sum(idf[t] for t in q if t in s) / total for s in sents], dtype=np.float32)


# What an answer to each kind of question tends to contain (classic expected-answer-type matching).
_ANSWER_TYPES = [
    (re.compile(r"^\s*why\b", re.I),
     re.compile(r"\b(because|since|due to|as a result|therefore|thus|reasons?|led to|factors?|explain\w*|"
                r"in the aftermath|so that|in order to|worr\w+|concerns?|motivat\w+)\b", re.I)),
    (re.compile(r"^\s*when\b|\bwhat (year|date|month|day)\b", re.I),
     re.compile(r"\b(1[89]\d\d|20\d\d|january|february|march|april|may|june|july|august|september|october|"
                r"november|december)\b", re.I)),
    (re.compile(r"^\s*how (many|much)\b", re.I), re.compile(r"\d|\b(hundred|thousand|million|billion)\b", re.I)),
    (re.compile(r"^\s*who(m|se)?\b", re.I), re.compile(r"\b[A-Z][a-z]+ [A-Z][a-z]+")),
]


def answer_type_match(question: str, sentences: Sequence[str]) -> np.ndarray:
    """1 for sentences that contain what the question's type asks for (a cause, a date, a number, a name)."""
    for asks, has in _ANSWER_TYPES:
        if asks.search(question):
            return np.array([1.0 if has.search(s) else 0.0 for s in sentences], dtype=np.float32)
    return np.zeros(len(sentences), dtype=np.float32)


def extractive_answer(question: str, passages: Sequence[Passage], embedder, settings: Settings,
                      idf: Callable[[str], float] | None = None) -> Extracted:
    """The passages' sentences that best match the question, best first, each cited; or an abstention.

    A sentence's score is its cosine to the question, plus ``lexical_boost`` times its rarity-weighted word
    overlap with the question, plus ``type_boost`` when it holds what the question asks for (a cause for
    "why", a date for "when", a number for "how many", a name for "who"). The answer abstains when the
    passages miss most of the question's (rarity-weighted) content words or when no sentence's cosine
    reaches ``min_relevance``.
    """
    abstain = Extracted(ABSTAIN_TEXT, [], [], True)
    if not passages or coverage(question, passages, idf) < settings.min_coverage:
        return abstain
    scorer = SupportScorer(embedder, passages)
    if not scorer.flat:
        return abstain
    cosines = (embedder.encode([question]) @ scorer.vectors.T)[0]
    if float(cosines.max()) < settings.min_relevance:
        return abstain
    scores = (cosines + settings.lexical_boost * lexical_overlap(question, scorer.flat)
              + settings.type_boost * answer_type_match(question, scorer.flat))
    order = np.argsort(-scores, kind="stable")
    # Keep sentences close to the best one; a far weaker sentence adds noise, not evidence.
    floor = float(scores[order[0]]) - settings.answer_margin
    chosen: list[int] = []
    seen: set[str] = set()
    for i in order:
        text = scorer.flat[i]
        if scores[i] < floor or len(chosen) >= settings.extractive_sentences:
            break
        key = re.sub(r"\W+", " ", text.lower()).strip()
        if (key in seen or len(text.split()) < 4 or text.rstrip("”’\"' ").endswith("?")
                or cosines[i] < settings.min_relevance / 2):
            continue  # repeats from overlapping chunks, headings, questions and unrelated sentences answer nothing
        seen.add(key)
        chosen.append(int(i))
    sentences, citations, cited = [], [], set()
    for i in chosen:
        marker = int(scorer.owner[i]) + 1
        sentences.append(AnswerSentence(with_markers(scorer.flat[i], [marker]), [marker], float(cosines[i])))
        if marker not in cited:
            cited.add(marker)
            citations.append(Citation(marker, passages[marker - 1], scorer.flat[i]))
    return Extracted(" ".join(s.text for s in sentences), sentences, citations, False)


# -- generation ---------------------------------------------------------------------------------------------
def generation_chain(settings: Settings):
    """``{"question", "context"} -> str``, streaming: the prompt, the backend's chat model, plain text out."""
    return PROMPT | chat_model(settings) | StrOutputParser()
