"""Wire copies and updates: near-identical articles grouped into story clusters at ingest.

News arrives many times over: a wire story republished by ten outlets under new headlines, an article updated
during the day. Left alone, five copies fill five of the ``k`` passage slots with one sentence. Ingest groups
such copies into a *cluster* (``DocEntry.cluster``, kept by every backend), and retrieval shows one copy per
cluster whose citation names every outlet that carried it.

Two articles are copies when most of the shorter one's 5-word shingles appear in the longer one (containment,
not symmetric Jaccard: outlets trim wire copy and add their own boilerplate, so sizes differ) and they were
published within ``copy_window_days`` of each other. Similar text alone is not the same story: two different
pages about one match share over half of the shorter one's shingles, so the containment bar is
``copy_containment`` (0.7 by default; the syndication benchmark in ``benchmarks/bench_copies.py`` measured
it). Candidates come from MinHash LSH (datasketch) over each document's stored signature, so a new article is
compared with a few others, not with the whole index; each candidate pair is then checked on the exact
shingle sets. Clusters are the connected components of checked pairs; removing a document re-checks what is
left of its cluster.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from ..store.base import DocEntry, Store

SHINGLE_WORDS = 5
NUM_PERM = 128
SCHEME = "affine32"  # datasketch's hashing scheme; stored signatures are its 32-bit values
#: Jaccard threshold of the LSH candidate search: a copy trimmed to half the original and 70% contained in
#: it has Jaccard ~0.3, so candidates are sought well below the containment bar and then checked exactly.
LSH_THRESHOLD = 0.25
#: Articles shorter than this many shingles are never called copies: a caption is contained in many articles.
MIN_SHINGLES = 25

_WORD = re.compile(r"\w+")


def _shingle_texts(text: str) -> list[str]:
    words = _WORD.findall(text.casefold())
    if not words:
        return []
    return [" ".join(words[i:i + SHINGLE_WORDS]) for i in range(max(1, len(words) - SHINGLE_WORDS + 1))]


def shingles(text: str) -> frozenset[str]:
    """The text's 5-word shingles, case-folded, punctuation dropped."""
    return frozenset(_shingle_texts(text))


def containment(a: frozenset[str], b: frozenset[str]) -> float:
    """|a ∩ b| / min(|a|, |b|): how much of the shorter text the longer one holds."""
    if not a or not b:
        return 0.0
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    return len(small & large) / len(small)


def signature(text: str) -> str:
    """The MinHash signature of the text's shingles, base64 (what a document stores)."""
    from datasketch import MinHash

    m = MinHash(num_perm=NUM_PERM, scheme=SCHEME)
    m.update_batch([t.encode() for t in _shingle_texts(text)])
    return base64.b64encode(np.asarray(m.hashvalues, dtype=np.uint32).tobytes()).decode("ascii")


def _minhash(encoded: str):
    from datasketch import LeanMinHash  # no permutations to draw: 30x faster to rebuild than a MinHash

    values = np.frombuffer(base64.b64decode(encoded), dtype=np.uint32)
    return LeanMinHash(seed=1, hashvalues=values, scheme=SCHEME)


def _day(entry: DocEntry) -> date | None:
    try:
        return date.fromisoformat((entry.published_at or "")[:10])
    except ValueError:
        return None


def within_window(a: DocEntry, b: DocEntry, days: int) -> bool:
    """Whether two articles are close enough in time to be copies (an undated one is close to any)."""
    da, db = _day(a), _day(b)
    return da is None or db is None or abs((da - db).days) <= days


@dataclass(frozen=True)
class CopyPair:
    """Two documents found to be copies of one another, and how much of the shorter the longer holds."""

    a: str
    b: str
    containment: float


class CopyFinder:
    """Checks candidate pairs on exact shingle sets, reading each document's text once."""

    def __init__(self, text_of: Callable[[str], str], threshold: float, window_days: int) -> None:
        self.text_of, self.threshold, self.window_days = text_of, threshold, window_days
        self._shingles: dict[str, frozenset[str]] = {}

    def shingles_of(self, doc_id: str) -> frozenset[str]:
        if doc_id not in self._shingles:
            self._shingles[doc_id] = shingles(self.text_of(doc_id))
        return self._shingles[doc_id]

    def check(self, a: str, b: str, docs: Mapping[str, DocEntry]) -> CopyPair | None:
        if not within_window(docs[a], docs[b], self.window_days):
            return None
        sa, sb = self.shingles_of(a), self.shingles_of(b)
        if min(len(sa), len(sb)) < MIN_SHINGLES:
            return None
        c = containment(sa, sb)
        return CopyPair(a, b, c) if c >= self.threshold else None


def _in_reach(docs: Mapping[str, DocEntry], new: list[str], days: int) -> list[str]:
    """The documents that could be copies of some new one: those published within ``days`` of the new ones'
    dates, and the undated (everything, when a new one is undated)."""
    new_days = [_day(docs[d]) for d in new]
    if not new_days or any(d is None for d in new_days):
        return list(docs)
    lo, hi = min(new_days) - timedelta(days=days), max(new_days) + timedelta(days=days)
    return [d for d, e in docs.items() if (day := _day(e)) is None or lo <= day <= hi]


def find_pairs(docs: Mapping[str, DocEntry], new: Iterable[str], finder: CopyFinder) -> list[CopyPair]:
    """The copy pairs between each document of ``new`` and every document of ``docs`` (new ones included),
    through an LSH index over the stored signatures of the documents within reach of the new ones' dates
    (a day's ingest into a large archive indexes a few days of it, not all of it)."""
    from datasketch import MinHashLSH

    new = list(new)
    lsh = MinHashLSH(threshold=LSH_THRESHOLD, num_perm=NUM_PERM)
    hashes = {d: _minhash(docs[d].minhash) for d in _in_reach(docs, new, finder.window_days) if docs[d].minhash}
    for d, m in hashes.items():
        lsh.insert(d, m)
    pairs: dict[tuple[str, str], CopyPair] = {}
    for d in new:
        if d not in hashes:
            continue
        for other in lsh.query(hashes[d]):
            key = tuple(sorted((d, other)))
            if other == d or key in pairs:
                continue
            pair = finder.check(key[0], key[1], docs)
            if pair is not None:
                pairs[key] = pair
    return list(pairs.values())


def _components(nodes: Iterable[str], edges: Iterable[tuple[str, str]]) -> list[list[str]]:
    parent = {n: n for n in nodes}

    def root(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for a, b in edges:
        parent[root(a)] = root(b)
    groups: dict[str, list[str]] = {}
    for n in parent:
        groups.setdefault(root(n), []).append(n)
    return list(groups.values())


def cluster_label(members: Iterable[str], docs: Mapping[str, DocEntry]) -> str:
    """A cluster is named after its earliest copy (undated copies count as latest; ties by id)."""
    return min(members, key=lambda d: (docs[d].published_at or "9999", d))


def update_clusters(store: Store, new: list[str], affected: set[str], finder: CopyFinder) -> int:
    """Re-cluster after ingest added the documents ``new`` (with signatures) and removed members of the
    clusters ``affected``. Returns how many documents changed cluster."""
    docs = store.documents
    members = {label: list(ids) for label, ids in store.clusters().items()}
    for label in affected:  # a cluster left with one copy is no longer listed, but its copy still holds the label
        members.setdefault(label, [d for d, e in docs.items() if e.cluster == label])
    edges: list[tuple[str, str]] = []
    nodes: set[str] = set(new)
    for label in affected:  # what is left of a cluster that lost a member is checked again, pair by pair
        left = sorted(members[label])
        nodes.update(left)
        edges += [(a, b) for i, a in enumerate(left) for b in left[i + 1:] if finder.check(a, b, docs)]
    for pair in find_pairs(docs, new, finder):
        edges.append((pair.a, pair.b))
        nodes.update((pair.a, pair.b))
    for d in list(nodes):  # a new copy joins the whole cluster of the copy it matched
        label = docs[d].cluster
        if label and label not in affected:
            nodes.update(members.get(label, ()))
            edges += [(d, m) for m in members.get(label, ())]
    changed = 0
    for group in _components(nodes, edges):
        label = cluster_label(group, docs) if len(group) > 1 else None
        for d in group:
            if docs[d].cluster != label:
                store.update_document(d, cluster=label)
                changed += 1
    return changed


def document_text(store: Store, doc_id: str) -> str:
    """A stored document's text rebuilt from its chunks (overlaps removed; enough for shingles)."""
    entry = store.documents[doc_id]
    store.fetch(entry.chunk_ids)
    parts, end = [], 0
    for c in sorted((store.chunk(i) for i in entry.chunk_ids), key=lambda c: c.start):
        if c.end <= end:
            continue
        parts.append(c.text[max(0, end - c.start):])
        end = c.end
    return " ".join(parts)
