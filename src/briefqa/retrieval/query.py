"""Read what a news question says about its reports: publications, dates, time expressions and titles.

News questions pin their evidence down by metadata ("the TechCrunch report published on October 7, 2023",
"as reported by The Verge and Fortune", "after November 2023"), which plain text retrieval ignores. This
module turns those mentions into *parts*: one per report the question names, each a set of allowed chunks
(a publication, optionally a publication day, or a title), plus an optional date range. Retrieval then searches
each part as well as the whole index and merges so that every part is represented. Only publications that exist
in the index are recognised, so an unknown name never becomes a filter; a part that would leave nothing falls
back to something wider, and the analysis records every such decision for ``explain``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from ..store.base import DocEntry

_MONTHS = {m: i for i, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
     "november", "december"], 1)}
_MONTH_RE = "|".join(list(_MONTHS) + [m[:3] for m in _MONTHS if m != "may"] + ["sept"])
_DAY_RES = [
    re.compile(r"\b(?P<y>20\d\d|19\d\d)-(?P<m>\d\d)-(?P<d>\d\d)\b"),
    re.compile(rf"\b(?P<mon>{_MONTH_RE})\.? (?P<d>\d{{1,2}})(?:st|nd|rd|th)?,? (?P<y>\d{{4}})\b", re.I),
    re.compile(rf"\b(?P<d>\d{{1,2}})(?:st|nd|rd|th)? (?:of )?(?P<mon>{_MONTH_RE})\.?,? (?P<y>\d{{4}})\b", re.I),
]
_MONTH_ONLY = re.compile(rf"\b(?:in |during |of )?(?P<mon>{_MONTH_RE})\.? (?P<y>\d{{4}})\b", re.I)
#: Fewer long words than this and a clause is not worth searching on its own.
MIN_CLAUSE_WORDS = 5
#: How far a publication date may be from the day a question names (time zones, late publication).
DAY_TOLERANCE = timedelta(days=1)


@dataclass(frozen=True)
class Mention:
    """Something the question names, and where (character offsets in the question)."""

    kind: str  # "source", "day", "month", "title"
    value: str  # the source name, ISO day, "YYYY-MM", or the document id of a title
    start: int
    end: int


@dataclass
class Part:
    """One report the question names: the documents it may come from, and the words of the question about it."""

    label: str
    doc_ids: list[str]
    text: str = ""  # the clause of the question around this report's mentions (the whole question if unsure)


#: Words that ask about the current state of a story: such questions prefer newer reports. "Latest" alone is
#: not enough ("in its latest report" names a report): on the MultiHop-RAG dev questions the looser pattern
#: (latest, recent, current) cost 0.012 Hits@4, this one nothing.
LATEST = re.compile(r"\b(newest|most recent|the latest (on|about|with|in)|latest (news|updates?|developments?)|"
                    r"right now|as of now|so far|to date|nowadays)\b", re.I)


@dataclass
class QueryAnalysis:
    """What retrieval understood of a question; ``notes`` say which filters fired or fell back, and why."""

    question: str
    mentions: list[Mention] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)
    date_from: date | None = None
    date_to: date | None = None
    latest: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def sources(self) -> list[str]:
        return list(dict.fromkeys(m.value for m in self.mentions if m.kind == "source"))


def _source_aliases(source: str) -> set[str]:
    """Ways a question may name a publication: 'The Roar | Sports Writers Blog' is also 'The Roar'."""
    names = {source}
    for sep in (" | ", " - ", " – ", ": "):
        if sep in source:
            names.add(source.split(sep)[0])
    for n in list(names):
        if n.lower().startswith("the ") and len(n) > 8:
            names.add(n[4:])
    return {n.strip() for n in names if len(n.strip()) >= 3}


def _find_sources(question: str, sources: list[str]) -> list[Mention]:
    found: list[Mention] = []
    taken: list[tuple[int, int]] = []
    pairs = sorted(((alias, s) for s in sources for alias in _source_aliases(s)), key=lambda p: -len(p[0]))
    for alias, source in pairs:
        # Case matters for short names ("Wired", "Fortune" are also words); long names match any case.
        flags = re.I if len(alias) > 12 or " " in alias else 0
        for m in re.finditer(rf"(?<![\w]){re.escape(alias)}(?![\w])", question, flags):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            taken.append((m.start(), m.end()))
            found.append(Mention("source", source, m.start(), m.end()))
    return sorted(found, key=lambda m: m.start)


def _month(name: str) -> int:
    name = name.lower().rstrip(".")
    return next(v for k, v in _MONTHS.items() if k.startswith(name[:3]))


def _find_dates(question: str) -> list[Mention]:
    found: list[Mention] = []
    taken: list[tuple[int, int]] = []
    for rx in _DAY_RES:
        for m in rx.finditer(question):
            g = m.groupdict()
            try:
                day = date(int(g["y"]), int(g["m"]) if g.get("m") else _month(g["mon"]), int(g["d"]))
            except ValueError:
                continue
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            taken.append((m.start(), m.end()))
            found.append(Mention("day", day.isoformat(), m.start(), m.end()))
    for m in _MONTH_ONLY.finditer(question):
        if any(m.start() < e and s < m.end() for s, e in taken):
            continue
        found.append(Mention("month", f"{int(m.group('y')):04d}-{_month(m.group('mon')):02d}", m.start(), m.end()))
    return sorted(found, key=lambda m: m.start)


#: Titles shorter than this many words are too generic to be named by a question.
MIN_TITLE_WORDS = 4
_WORD = re.compile(r"\w+")


class Catalog:
    """The documents as question analysis looks them up: by publication, by day and month, by title.

    Built once per state of the index (the retriever keeps it until documents change), so that analysing a
    question costs lookups, not a scan of every document: at 100,000 documents the scans took 140 ms a question.
    """

    def __init__(self, documents: Mapping[str, DocEntry]) -> None:
        self.documents = documents
        self.order = {k: i for i, k in enumerate(documents)}
        self.sources = sorted({d.source for d in documents.values() if d.source})
        self.by_source: dict[str, list[str]] = {}
        self.by_day: dict[str, list[str]] = {}
        self.by_month: dict[str, list[str]] = {}
        self.titles: dict[tuple[str, ...], list[tuple[str, str]]] = {}  # first words -> (title, doc id)
        for k, d in documents.items():
            self.by_source.setdefault(d.source, []).append(k)
            if d.published_at:
                self.by_day.setdefault(d.published_at[:10], []).append(k)
                self.by_month.setdefault(d.published_at[:7], []).append(k)
            title = d.title.strip().lower()
            if len(title.split()) >= MIN_TITLE_WORDS:
                self.titles.setdefault(tuple(_WORD.findall(title)[:MIN_TITLE_WORDS]), []).append((title, k))

    def near_day(self, day: date) -> list[str]:
        """Documents published within :data:`DAY_TOLERANCE` of ``day``."""
        span = range(-DAY_TOLERANCE.days, DAY_TOLERANCE.days + 1)
        return [k for off in span for k in self.by_day.get((day + timedelta(days=off)).isoformat(), [])]

    def in_order(self, ids) -> list[str]:
        """``ids`` in the order of the index's document list, without repeats."""
        return sorted(set(ids), key=self.order.__getitem__)


def _find_titles(question: str, catalog: Catalog) -> list[Mention]:
    low = question.lower()
    words = _WORD.findall(low)
    seen: set[str] = set()
    out = []
    for i in range(len(words) - MIN_TITLE_WORDS + 1):
        for title, doc_id in catalog.titles.get(tuple(words[i:i + MIN_TITLE_WORDS]), []):
            if doc_id not in seen and title in low:
                seen.add(doc_id)
                at = low.index(title)
                out.append(Mention("title", doc_id, at, at + len(title)))
    return sorted(out, key=lambda m: catalog.order[m.value])


def _range(question: str, dates: list[Mention]) -> tuple[date | None, date | None, str | None]:
    """A date range that the question states with before/after/since/between, if any."""
    def bound(m: Mention, end: bool) -> date:
        if m.kind == "day":
            return date.fromisoformat(m.value)
        y, mo = map(int, m.value.split("-"))
        if not end:
            return date(y, mo, 1)
        return (date(y + mo // 12, mo % 12 + 1, 1)) - timedelta(days=1)

    for i, m in enumerate(dates):
        before = question[max(0, m.start - 30):m.start].lower()
        if re.search(r"\bbetween\s+(the\s+)?$", before) and i + 1 < len(dates):
            return bound(m, False), bound(dates[i + 1], True), "between"
        if re.search(r"\b(published|released|reported|posted|written)?\s*(before|prior to|until)\s+(the\s+)?$",
                     before):
            return None, bound(m, False) - timedelta(days=1), "before"
        if re.search(r"\b(published|released|reported|posted|written)?\s*(after|since)\s+(the\s+)?$", before):
            return bound(m, True) + timedelta(days=1), None, "after"
    return None, None, None


def _pair_dates(sources: list[Mention], dates: list[Mention]) -> list[tuple[Mention | None, Mention | None]]:
    """(publication, date) pairs in the question's order. Each date goes with the publication named closest
    before it (else just after): "the TechCrunch report published on October 7" is one part, not two."""
    pairs: list[tuple[Mention | None, Mention | None]] = []
    used: set[int] = set()
    for dm in dates:
        before = [i for i, s in enumerate(sources) if s.end <= dm.start]
        after = [i for i, s in enumerate(sources) if s.start >= dm.end]
        i = before[-1] if before else (after[0] if after else None)
        pairs.append((sources[i] if i is not None else None, dm))
        if i is not None:
            used.add(i)
    pairs += [(s, None) for i, s in enumerate(sources) if i not in used]
    return sorted(pairs, key=lambda p: min(m.start for m in p if m is not None))


def analyze(question: str, documents: Mapping[str, DocEntry], admitted: set[str] | None = None,
            catalog: Catalog | None = None) -> QueryAnalysis:
    """The mentions of ``question`` and the parts they make, over the index's ``documents`` (looked up in
    ``catalog``, their :class:`Catalog`, built here when not given).

    ``admitted`` (the documents that pass the caller's explicit filters) bounds every part.
    """
    qa = QueryAnalysis(question)
    catalog = catalog or Catalog(documents)
    src = _find_sources(question, catalog.sources)
    dates = _find_dates(question)
    titles = _find_titles(question, catalog)
    qa.mentions = sorted(src + dates + titles, key=lambda m: m.start)
    qa.latest = bool(LATEST.search(question))

    lo, hi, how = _range(question, dates)
    if lo and hi and lo > hi:
        qa.notes.append(f"the question's date range {lo} to {hi} ends before it starts; it was not applied")
    elif how:
        qa.date_from, qa.date_to = lo, hi
        qa.notes.append(f"date range from the question ({how}): {lo or '…'} to {hi or '…'}")

    def docs(source: str | None, dm: Mention | None) -> list[str]:
        """The documents of ``source`` (any, when None) published on or near the day or in the month of ``dm``."""
        if dm is None:
            pool = catalog.by_source.get(source, []) if source is not None else list(documents)
        else:
            pool = catalog.near_day(date.fromisoformat(dm.value)) if dm.kind == "day" \
                else catalog.by_month.get(dm.value, [])
            if source is not None:
                pool = [k for k in pool if documents[k].source == source]
        return catalog.in_order(k for k in pool if admitted is None or k in admitted)

    pairs = _pair_dates(src, [] if how else dates)
    spans = [(min(m.start for m in p if m), max(m.end for m in p if m)) for p in pairs]

    def clause(i: int) -> str:
        # The words between the previous report's mentions and the next report's: what is said about this one.
        # A clause of a few words ("... as reported by Fortune and TechCrunch") says nothing of its own.
        lo = spans[i - 1][1] if i > 0 else 0
        hi = spans[i + 1][0] if i + 1 < len(spans) else len(question)
        text = question[lo:hi].strip(" ,;?")
        return text if len(spans) > 1 and len(re.findall(r"\w{4,}", text)) >= MIN_CLAUSE_WORDS else question

    seen: set[str] = set()
    for index, (source_m, dm) in enumerate(pairs):
        source = source_m.value if source_m else None
        label = " ".join(x for x in (source, dm.value if dm else None) if x)
        if label in seen:
            continue
        seen.add(label)

        ids = docs(source, dm)
        if not ids and dm is not None and source is not None:
            qa.notes.append(f"nothing from {source} on {dm.value}; kept {source} without the date")
            ids, label = docs(source, None), source
        if ids:
            qa.parts.append(Part(label, ids, clause(index)))
        else:
            qa.notes.append(f"nothing in the index for {label}; not used as a filter")
    for t in titles:
        ids = [t.value] if admitted is None or t.value in admitted else []
        qa.parts.append(Part(f"title: {documents[t.value].title}", ids, question))
    for p in qa.parts:
        qa.notes.append(f"part '{p.label}': {len(p.doc_ids)} documents")
    return qa
