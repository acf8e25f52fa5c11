"""Answer from the passages' own sentences, each cited: no LLM, every claim checkable by construction.

Two answerers, chosen by the ``answerer`` setting:

* ``scored`` (the default): every sentence of the passages is scored by
  :class:`~briefqa.relevance.scorer.SentenceScorer` (a feature model over similarity, rare-word overlap and what
  the question asks for, whose best sentences the reader, a cross-encoder, reads with the question; all trained on
  the natural training questions). When its probability that no sentence answers reaches ``abstain_threshold``,
  the answer is an abstention that says so, with the closest passages kept as related. Otherwise the best sentence
  and those close to it (``support_ratio``), at most two for a question that asks for a date, number, name, place
  or organisation ("why" and "how" get up to ``extractive_sentences``, and a lower bar, ``reason_support_ratio``:
  a reason needs more of the story), the best first, then the others in the order the articles tell them; the
  span the scorer trusts most among the best three sentences' opens the answer in bold when it is sure of it,
  and its sentence is quoted (:mod:`.short`). A question naming several reports gets one cited sentence per
  report, labelled with its outlet and date, oldest first; when it asks how they stand in time ("before",
  "after", "between", "was there a change"), the answer opens by stating the order they were published in.
* ``similarity``: the previous answerer, kept as the baseline the benchmarks compare against: sentences by
  cosine to the question plus rarity-weighted word overlap and an answer-type bonus.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..records import AnswerSentence, Citation, Passage
from ..relevance.scorer import Scored, SentenceScorer, score_sentences
from ..settings import Settings
from ..text import content_words
from .cite import ABSTAIN_TEXT, SupportScorer, with_markers
from .short import Bold, bold_answer


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
    short_answer: str | None = None
    confidence: float = 0.0  # the scorer's probability for the best sentence (0 for the similarity answerer)
    quoted: list[Citation] = field(default_factory=list)  # every passage sentence quoted, in the answer's order


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


def similarity_answer(question: str, passages: Sequence[Passage], embedder, settings: Settings,
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




# -- the scored answerer ----------------------------------------------------------------------------------------
def _parts(passages: Sequence[Passage]) -> list[list[int]]:
    """For a question naming several reports: the passages (0-based) found for each, as retrieval marked them."""
    parts: dict[str, list[int]] = {}
    for i, p in enumerate(passages):
        for key in p.metadata.get("ranks", {}):
            if key.startswith("part"):
                parts.setdefault(key, []).append(i)
    return list(parts.values()) if len(parts) >= 2 else []


def _said(text: str) -> str:
    """What a sentence says, for telling repeats apart: the same words, whatever the case and punctuation."""
    return re.sub(r"\W+", " ", text.lower()).strip()


def _pick(scored: Scored, limit: int, floor: float) -> list[int]:
    """The best sentence, then those scoring at least ``floor``, without repeats, at most ``limit``."""
    order = np.argsort(-scored.probabilities, kind="stable")
    chosen: list[int] = []
    seen: set[str] = set()
    for i in order:
        if len(chosen) >= limit or float(scored.probabilities[i]) < floor:
            break
        text = scored.candidates[i].text
        key = _said(text)
        if key in seen or len(text.split()) < 4 or text.rstrip("”’\"' )").endswith("?"):
            continue
        seen.add(key)
        chosen.append(int(i))
    return chosen


def _quoting(chosen: list[int], bold: Bold, scored: Scored, limit: int) -> list[int]:
    """``chosen`` (best first) with the bold span's sentence too, so that the bold claim is cited: in the place of
    the weakest but the best when the answer already quotes ``limit``; as it is when it quotes the same sentence
    from another passage."""
    said = _said(scored.candidates[bold.index].text)
    if any(_said(scored.candidates[i].text) == said for i in chosen):
        return chosen
    return [*chosen[:max(1, limit - 1)], bold.index] if len(chosen) >= limit else [*chosen, bold.index]


def _reading_order(chosen: list[int], scored: Scored, passages: Sequence[Passage],
                   lead: int | None = None) -> list[int]:
    """Sentence ``lead`` (the best) first, so that the answer opens with it ("How did Tehran react?" with
    Tehran's reaction, not an older article's background); then the support as the articles tell it: the rest of
    the lead's article, then the other articles oldest first, each in its own order. Without ``lead`` (one
    sentence per named report), oldest first."""
    def doc(i: int) -> str:
        return str(passages[scored.candidates[i].passage].metadata.get("doc_id"))

    lead_doc = None if lead is None else doc(lead)

    def key(i: int):
        c = scored.candidates[i]
        m = passages[c.passage].metadata
        first = () if lead is None else (i != lead, doc(i) != lead_doc)
        return (*first, m.get("published_at") or "", doc(i), m.get("start", 0), c.start)

    return sorted(chosen, key=key)


#: What an abstention adds: the passages retrieval found are still shown.
RELATED = "The closest passages are listed as related."


def abstention(question: str) -> str:
    """What the answer says when the articles do not say."""
    asked = " ".join(question.split()).rstrip("?. ")
    return f"The articles in this index do not say: “{asked}?” {RELATED}"


#: The answer to a question in another language: the scorer reads English words, so any quote would be a guess.
NOT_ENGLISH = "The question does not look like English; the answerer reads English only, so ask it in English."


def scored_answer(question: str, passages: Sequence[Passage], store, embedder, settings: Settings,
                  scorer=None, earlier: Sequence[str] = ()) -> Extracted:
    """The scored answerer (see the module's docstring); ``earlier``: the short answers earlier turns of the
    conversation gave, none of which is this one's."""
    from ..relevance.expect import not_english

    if not_english(question):
        return Extracted(f"{NOT_ENGLISH} {RELATED}" if passages else NOT_ENGLISH, [], [], True, None, 0.0)
    scorer = scorer or SentenceScorer.packaged()
    return answer_from(question, score_sentences(question, passages, store, embedder, scorer), passages, settings,
                       scorer, earlier)


def answer_from(question: str, scored: Scored, passages: Sequence[Passage], settings: Settings,
                scorer: SentenceScorer, earlier: Sequence[str] = ()) -> Extracted:
    """The answer the scorer's verdict ``scored`` on ``passages`` gives: an abstention, or the best sentences."""
    from ..relevance.expect import expectation

    confidence = 1 - scored.unanswerable
    threshold = settings.abstain_threshold or scorer.abstain_threshold(question)
    if not scored.candidates or scored.unanswerable >= threshold:
        return Extracted(abstention(question), [], [], True, None, confidence)
    parts = _parts(passages)
    if parts:  # one sentence per named report, its best: the question asked what each of them said
        chosen = []
        for members in parts:
            inside = [i for i, c in enumerate(scored.candidates) if c.passage in members]
            top = max(inside, key=lambda i: scored.probabilities[i], default=None)
            if top is not None and top not in chosen:
                chosen.append(top)
    else:
        wanted = expectation(question)
        limit = min(settings.extractive_sentences, wanted.max_sentences or settings.extractive_sentences)
        ratio = settings.reason_support_ratio if wanted.asks_reason else settings.support_ratio
        chosen = _pick(scored, limit, ratio * float(scored.probabilities.max()))
    top = int(np.argmax(scored.probabilities))
    if top not in chosen:
        chosen.insert(0, top)
    bold = bold_answer(question, scored, settings.short_answer_threshold, earlier)
    if bold is not None and bold.index not in chosen:
        if parts:  # one sentence per named report: a span read in another is not shown
            bold = None
        else:
            chosen = _quoting(chosen, bold, scored, limit)
    short = bold.text if bold else None
    chosen = _reading_order(chosen, scored, passages, None if parts else top)
    order = _publication_order(chosen, scored, passages) if parts and _ASKS_ORDER.search(question) else None
    return _compose(chosen, scored, passages, short, confidence, labelled=bool(parts), lead=order)


#: Words that ask how reports stand in time. Left out, as they mostly do not on the MultiHop-RAG dev questions:
#: "following" (mostly "because of"), "previous" and "prior" ("the previous year"), "first" ("their first win"),
#: the noun "changes".
_ASKS_ORDER = re.compile(r"\b(?:before|after|between|earlier|later|subsequent(?:ly)?|preced(?:e|ed|es|ing)|"
                        r"changed?|remain(?:ed|s)?|(?:reported|published|wrote|covered) (?:it )?first|"
                        r"first to (?:report|publish|cover))\b", re.I)


def _publication_order(chosen: list[int], scored: Scored, passages: Sequence[Passage]) -> AnswerSentence | None:
    """The order the quoted reports were published in, from their metadata, as a cited sentence: "In order of
    publication: Nordic Post, 2023-11-01 [2], then Coast Daily, 2023-11-05 [1]." None unless at least two
    reports are quoted and each has a date."""
    reports: dict[str, tuple[str, str, int]] = {}
    for i in chosen:  # already oldest first
        c = scored.candidates[i]
        m = passages[c.passage].metadata
        source, day = _dateline(m)
        if not day:
            return None
        reports.setdefault(str(m.get("doc_id")), (source, day, c.passage + 1))
    if len(reports) < 2:
        return None
    listed = list(reports.values())
    markers = [marker for _, _, marker in listed]
    # Support 1: the dates are the index's metadata, not a sentence the scorer judged.
    if len({day for _, day, _ in listed}) == 1:
        every = "Both reports were" if len(listed) == 2 else f"All {len(listed)} reports were"
        return AnswerSentence(with_markers(f"{every} published on {listed[0][1]}.", markers), markers, 1.0)
    entries = [f"{source}, {day} [{marker}]" for source, day, marker in listed]
    return AnswerSentence(f"In order of publication: {', then '.join(entries)}.", markers, 1.0)


def _dateline(metadata: dict) -> tuple[str, str]:
    """A report's outlet and publication day ("" when undated), as the answer labels it."""
    return metadata.get("source") or "Untitled", (metadata.get("published_at") or "")[:10]


def _compose(chosen: list[int], scored: Scored, passages: Sequence[Passage], short: str | None, confidence: float,
             labelled: bool, lead: AnswerSentence | None = None) -> Extracted:
    sentences = [lead] if lead else []
    quoted = [Citation(scored.candidates[i].passage + 1, passages[scored.candidates[i].passage],
                       scored.candidates[i].text) for i in chosen]
    for i, quote in zip(chosen, quoted, strict=True):
        text = with_markers(quote.sentence, [quote.marker])
        if labelled:
            source, day = _dateline(quote.passage.metadata)
            text = f"{source}, {day or 'undated'}: {text}"
        sentences.append(AnswerSentence(text, [quote.marker], float(scored.probabilities[i])))
    body = " ".join(s.text for s in sentences)
    return Extracted(f"{short} — {body}" if short else body, sentences, first_per_passage(quoted), False, short,
                     confidence, quoted)


def first_per_passage(quoted: Sequence[Citation]) -> list[Citation]:
    """One citation per passage: its first quoted sentence, the one the passage's card marks."""
    first: dict[int, Citation] = {}
    for q in quoted:
        first.setdefault(q.marker, q)
    return list(first.values())
