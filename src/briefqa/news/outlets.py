"""What each outlet said: one cited line per publication that covers a question, newest first.

News staff often need not one answer but the spread of reports: who said what, and when. The by-source
answer reads more passages than a plain answer (``news_passages``), scores their sentences with the same
learned scorer, and keeps each publication's best sentence when it scores at least ``source_min_score``. A
publication the question names (or a ``sources`` filter lists) always gets its line, or an explicit "no
coverage found" when none of its passages shares the question's subject. Where the lines give different
values for what the question asks (two figures, two names), the answer shows them side by side, each cited,
and never picks one.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..answering.cite import with_markers
from ..answering.extractive import coverage
from ..answering.short import short_answer
from ..records import Passage, SourceLine
from ..relevance.scorer import score_sentences
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
    sentences: list[str]  # each covered line's supporting sentence, in ``passages`` order
    short_answer: str | None  # the span, when every line that gives one gives the same


def _reading(passages: list[Passage], named: list[str], retriever, question: str, settings: Settings,
             filters: Filters | None) -> list[Passage]:
    """``passages`` and, for each named publication none of them is from, that publication's own best few."""
    have = {p.metadata.get("source", "").casefold() for p in passages}
    seen = {p.chunk_id for p in passages}
    extra = []
    for name in named:
        if name.casefold() in have:
            continue
        base = filters or Filters()
        narrowed = Filters((name,), base.date_from, base.date_to, base.doc_ids)
        extra += [p for p in retriever.retrieve(question, settings, narrowed, k=3) if p.chunk_id not in seen]
    return passages + extra


def _on_topic(topic: str, passage: Passage, idf) -> bool:
    """Whether a named publication's passage shares the question's subject at all (its rare words, the
    publications' names left out): otherwise the publication did not cover it."""
    return coverage(topic, [passage], idf) >= ON_TOPIC


def _named(found: Retrieval, filters: Filters | None) -> tuple[list[str], str]:
    """The publications the question names or the filters list, and the question without their names."""
    analysis = found.analysis
    named = list(dict.fromkeys([*(analysis.sources if analysis else []), *(filters.sources if filters else ())]))
    topic = analysis.question if analysis else ""
    for m in sorted(analysis.mentions if analysis else [], key=lambda m: -m.start):
        if m.kind == "source":
            topic = topic[:m.start] + " " + topic[m.end:]
    return named, topic


def by_source(question: str, found: Retrieval, store, embedder, retriever, settings: Settings,
              filters: Filters | None = None, scorer=None) -> BySource:
    """Each publication's best sentence among the ``found`` passages (see the module's docstring)."""
    from ..relevance.scorer import SentenceScorer

    named, topic = _named(found, filters)
    passages = found.passages
    reading = _reading(passages, named, retriever, question, settings, filters)
    scored = score_sentences(question, reading, store, embedder, scorer or SentenceScorer.packaged())
    best: dict[str, int] = {}  # publication (case-folded) -> its best candidate
    for i, c in enumerate(scored.candidates):
        key = (reading[c.passage].metadata.get("source") or "").casefold()
        if len(c.text.split()) < 4 or c.text.rstrip("”’\"' )").endswith("?"):
            continue
        if key not in best or scored.probabilities[i] > scored.probabilities[best[key]]:
            best[key] = i
    named_keys = {n.casefold() for n in named}
    for key in [k for k in best if k in named_keys]:
        if not _on_topic(topic or question, reading[scored.candidates[best[key]].passage], store.idf):
            del best[key]
    kept = [i for key, i in best.items()
            if key in named_keys or float(scored.probabilities[i]) >= settings.source_min_score]
    kept.sort(key=lambda i: reading[scored.candidates[i].passage].metadata.get("published_at") or "", reverse=True)
    cited: list[Passage] = []
    lines: list[SourceLine] = []
    for i in kept:
        c = scored.candidates[i]
        p = reading[c.passage]
        cited.append(p)
        m = p.metadata
        lines.append(SourceLine(m.get("source") or "", m.get("published_at"), c.text, len(cited), m.get("title") or "",
                                short_answer(question, c.text)))
    for name in named:
        if name.casefold() not in best:
            lines.append(SourceLine(name, None, "", 0))
    return BySource(_text(lines), lines, cited, [line.sentence for line in lines if line.covered],
                    _agreed(lines))


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
        rows.append(f"{line.source}, {day}: {with_markers(line.sentence, [line.marker])}")
    spans = [(line.short_answer, line) for line in lines if line.short_answer]
    if len({s for s, _ in spans}) > 1:  # the reports differ: both, each cited, no verdict
        shown = " · ".join(f"{s} ({line.source} [{line.marker}])" for s, line in spans)
        rows.insert(0, f"The reports differ: {shown}.")
    if not rows:
        return "No publication in this index covers this question."
    return "\n".join(rows)
