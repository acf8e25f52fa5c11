"""What each outlet said: one cited line per publication that covers a question, newest first.

News staff often need not one answer but the spread of reports: who said what, and when. The by-source answer
starts from the plain answer, scored the same way on the same passages: when it abstains, so does this one
(unless the question names publications: "what did A and B report" asks for their lines); when it answers,
every outlet it cites gets a line with its best sentence there, followed by the answer's other sentences from
that outlet (so the lines hold what the answer holds). Then it reads more passages
(``news_passages``) with the same scorer, and each other publication whose best sentence scores at least
``source_min_score`` gets its line too. A publication the question names (or a ``sources`` filter lists) always
gets its line, or an explicit "no coverage found" when none of its passages shares the question's subject.
Where the lines' short answers differ (two figures, two names), the answer shows them side by side, each cited,
and never picks one.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..answering.cite import with_markers
from ..answering.extractive import answer_from, coverage
from ..answering.short import short_answer
from ..records import Citation, Passage, Quote, SourceLine
from ..relevance.scorer import Scored, SentenceScorer, score_sentences
from ..retrieval.retriever import Retrieval
from ..settings import Settings
from ..store.base import Filters

#: Share of the question's (rarity-weighted) content words a named publication's passage must hold to count as
#: coverage: on the MultiHop-RAG dev questions naming two publications, 0.1 keeps 99.5% of the lines drawn
#: from an evidence article.
ON_TOPIC = 0.1


@dataclass
class BySource:
    """A by-source answer before it becomes an :class:`~briefqa.records.Answer`."""

    text: str
    lines: list[SourceLine]
    passages: list[Passage]  # the passages the lines cite, [1] first
    short_answer: str | None  # the span, when every line that gives one gives the same
    abstained: bool = False


@dataclass
class _Best:
    """A publication's best sentence so far: where it was scored, and how well."""

    scored: Scored
    index: int
    passages: list[Passage]

    @property
    def probability(self) -> float:
        return float(self.scored.probabilities[self.index])

    @property
    def passage(self) -> Passage:
        return self.passages[self.scored.candidates[self.index].passage]


def _key(passage: Passage) -> str:
    return (passage.metadata.get("source") or "").casefold()


def _quotable(text: str) -> bool:
    return len(text.split()) >= 4 and not text.rstrip("”’\"' )").endswith("?")


def _best_per_outlet(scored: Scored, passages: list[Passage], into: dict[str, _Best]) -> None:
    """Each publication's best sentence of ``scored`` (on ``passages``), where it beats the one in ``into``."""
    for i, c in enumerate(scored.candidates):
        key = _key(passages[c.passage])
        if _quotable(c.text) and (key not in into or scored.probabilities[i] > into[key].probability):
            into[key] = _Best(scored, i, passages)


def _named(found: Retrieval, filters: Filters | None) -> tuple[list[str], str]:
    """The publications the question names or the filters list, and the question without their names."""
    analysis = found.analysis
    named = list(dict.fromkeys([*(analysis.sources if analysis else []), *(filters.sources if filters else ())]))
    topic = analysis.question if analysis else ""
    for m in sorted(analysis.mentions if analysis else [], key=lambda m: -m.start):
        if m.kind == "source":
            topic = topic[:m.start] + " " + topic[m.end:]
    return named, topic


def _named_passages(named: list[str], have: list[Passage], retriever, question: str, settings: Settings,
                    filters: Filters | None) -> list[Passage]:
    """For each named publication none of ``have`` is from, that publication's own best few passages."""
    keys = {_key(p) for p in have}
    seen = {p.chunk_id for p in have}
    extra = []
    for name in named:
        if name.casefold() in keys:
            continue
        base = filters or Filters()
        narrowed = Filters((name,), base.date_from, base.date_to, base.doc_ids)
        extra += [p for p in retriever.retrieve(question, settings, narrowed, k=3) if p.chunk_id not in seen]
    return extra


def by_source(question: str, answered: list[Passage], found: Retrieval, store, embedder, retriever,
              settings: Settings, filters: Filters | None = None, scorer: SentenceScorer | None = None) -> BySource:
    """The lines of each publication (see the module's docstring): ``answered`` are the passages the plain answer
    is given, ``found`` the wider retrieval (``news_passages``) the other publications come from."""
    scorer = scorer or SentenceScorer.packaged()
    named, topic = _named(found, filters)
    plain_scored = score_sentences(question, answered, store, embedder, scorer)
    plain = answer_from(question, plain_scored, answered, settings, scorer)
    if plain.abstained and not named:  # a publication the question names is answered for, covered or not
        return BySource(plain.text, [], [], None, abstained=True)
    best: dict[str, _Best] = {}
    cited = {_key(c.passage) for c in plain.citations}
    _best_per_outlet(plain_scored, answered, best)
    seen = {p.chunk_id for p in answered}
    wider = [p for p in found.passages if p.chunk_id not in seen]
    wider += _named_passages(named, answered + wider, retriever, question, settings, filters)
    named_keys = {n.casefold() for n in named}

    def off_topic(key: str, b: _Best) -> bool:
        return key in named_keys and not _on_topic(topic or question, b.passage, store.idf)

    best = {k: b for k, b in best.items() if not off_topic(k, b)}
    if wider:
        more: dict[str, _Best] = {}
        _best_per_outlet(score_sentences(question, wider, store, embedder, scorer), wider, more)
        for key, b in more.items():
            if off_topic(key, b):
                continue  # a named publication's better-scoring sentence on another subject is not its coverage
            if key not in best or (key not in cited and b.probability > best[key].probability):
                best[key] = b
    keep = {k for k, b in best.items() if k in cited | named_keys or b.probability >= settings.source_min_score}
    return _answer(question, [best[k] for k in keep], named, settings, plain.quoted)


def _on_topic(topic: str, passage: Passage, idf) -> bool:
    """Whether a named publication's passage shares the question's subject at all (its rare words, the
    publications' names left out): otherwise the publication did not cover it."""
    return coverage(topic, [passage], idf) >= ON_TOPIC


def _answer(question: str, kept: list[_Best], named: list[str], settings: Settings,
            quoted: list[Citation]) -> BySource:
    """The lines, newest first, the named publications with no coverage last; each covered line followed by what
    else the plain answer (its ``quoted`` sentences) says from that publication."""
    kept.sort(key=lambda b: b.passage.metadata.get("published_at") or "", reverse=True)
    cited: list[Passage] = []
    lines: list[SourceLine] = []
    for b in kept:
        p = b.passage
        m = p.metadata
        text = b.scored.candidates[b.index].text
        marker = _marker(cited, p)
        more = [Quote(c.sentence, _marker(cited, c.passage)) for c in quoted
                if _key(c.passage) == _key(p) and c.sentence != text]
        lines.append(SourceLine(m.get("source") or "", m.get("published_at"), text, marker,
                                m.get("title") or "",
                                short_answer(question, b.scored, b.index, settings.short_answer_threshold), more))
    covered = {line.source.casefold() for line in lines}
    lines += [SourceLine(name, None, "", 0) for name in named if name.casefold() not in covered]
    return BySource(_text(lines), lines, cited, _agreed(lines))


def _marker(cited: list[Passage], passage: Passage) -> int:
    """``passage``'s marker [n] among the ``cited`` ones, added to them if it is new."""
    for n, p in enumerate(cited, 1):
        if p.chunk_id == passage.chunk_id:
            return n
    cited.append(passage)
    return len(cited)


def _agreed(lines: list[SourceLine]) -> str | None:
    spans = {line.short_answer for line in lines if line.short_answer}
    return spans.pop() if len(spans) == 1 else None


def _text(lines: list[SourceLine]) -> str:
    rows = []
    for line in lines:
        if not line.covered:
            rows.append(f"{line.source}: no coverage found in {line.source}.")
            continue
        day = (line.published_at or "undated")[:10]
        said = " ".join(with_markers(q.sentence, [q.marker]) for q in line.quotes)
        rows.append(f"{line.source}, {day}: {said}")
    spans = [(line.short_answer, line) for line in lines if line.short_answer]
    if len({s for s, _ in spans}) > 1:  # the reports differ: both, each cited, no verdict
        shown = " · ".join(f"{s} ({line.source} [{line.marker}])" for s, line in spans)
        rows.insert(0, f"The reports differ: {shown}.")
    if not rows:
        return "No publication in this index covers this question."
    return "\n".join(rows)
