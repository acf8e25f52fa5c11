"""A story's timeline: the articles on a query, ordered by publication date, each with what it added.

Retrieval finds the passages on the story (``news_passages`` of them, filters applied, wire copies already
collapsed to one copy per cluster); the first ``timeline_max`` articles they come from, in retrieval order,
are the entries. (Retrieval order, not the sentence scorer, decides which articles: on the MultiHop-RAG
temporal dev questions it keeps both dated reports more often, 0.71 against 0.59 at eight entries.) Entries are
read in date order, and each gets the best of its sentences, as the answer's scorer ranks them against the
query, that repeats no earlier entry (most of its content words not already said): what was new that day.
Undated articles come last, marked undated.
"""

from __future__ import annotations

import time

from ..records import Passage, Timeline, TimelineEntry
from ..relevance.scorer import score_sentences
from ..settings import Settings
from ..text import content_words

#: A sentence whose content words were mostly said by an earlier entry adds nothing new.
REPEATED = 0.6


def _by_document(scored, passages: list[Passage]) -> dict[str, list[int]]:
    """Each document's candidate sentences, best first, documents in the order their passages came."""
    groups: dict[str, list[int]] = {str(p.metadata["doc_id"]): [] for p in passages}
    for i in sorted(range(len(scored.candidates)), key=lambda i: -scored.probabilities[i]):
        c = scored.candidates[i]
        if len(c.text.split()) < 4 or c.text.rstrip("”’\"' )").endswith("?"):
            continue
        groups[str(passages[c.passage].metadata["doc_id"])].append(i)
    return {d: opts for d, opts in groups.items() if opts}


def _novel(options: list[int], scored, said: set[str]) -> int:
    for i in options:
        words = set(content_words(scored.candidates[i].text))
        if not words or len(words & said) / len(words) < REPEATED:
            return i
    return options[0]


def _copies(passage: Passage) -> list[str]:
    return [f"{c['source']} ({(c.get('published_at') or 'undated')[:10]})"
            for c in passage.metadata.get("also_published_by", [])]


def build_timeline(query: str, passages: list[Passage], store, embedder, settings: Settings,
                   scorer=None) -> Timeline:
    """The timeline of ``query`` from its retrieved ``passages`` (see the module's docstring)."""
    from ..relevance.scorer import SentenceScorer

    t0 = time.perf_counter()
    scored = score_sentences(query, passages, store, embedder, scorer or SentenceScorer.packaged())
    groups = _by_document(scored, passages)
    chosen = list(groups)[:settings.timeline_max]
    docs = store.documents
    chosen.sort(key=lambda d: (docs[d].published_at is None, docs[d].published_at or "", d))
    entries, said = [], set()
    for d in chosen:
        i = _novel(groups[d], scored, said)
        c = scored.candidates[i]
        said |= set(content_words(c.text))
        p = passages[c.passage]
        m = p.metadata
        entries.append(TimelineEntry(m.get("published_at"), m.get("source") or "", m.get("title") or "", c.text, p,
                                     _copies(p)))
    notes = [] if entries else [f"No article in this index is about “{query}”; try other words or wider filters."]
    return Timeline(query, entries, notes, {"total": time.perf_counter() - t0})
