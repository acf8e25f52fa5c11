"""Evaluation metrics as small pure functions, so each can be checked against hand-computed cases.

Retrieval follows the MultiHop-RAG ``retrieval_evaluate.py`` protocol exactly (see ../shared/data/README.md):
gold facts and passages are compared after removing every space and newline; a passage at rank r ≤ 10 is a hit
when any gold fact is a substring of it; ``map_at_10`` is the upstream definition, not textbook MAP. Textbook
measures are reported beside it under their own names (``recall_at_10``, ``ndcg_at_10``).

Answers are scored with the upstream word-overlap rule (lenient: any shared word) and a strict rule beside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..text import normalise

K = 10


def squash(text: str) -> str:
    """The upstream normalisation: every space and newline removed, nothing else."""
    return text.replace(" ", "").replace("\n", "")


def retrieval_scores(passages: Sequence[str], facts: Sequence[str], k: int = K) -> dict[str, float]:
    """Per-question retrieval scores of ranked passage texts against gold facts."""
    gold = [squash(f) for f in facts if f]
    texts = [squash(p) for p in passages[:k]]
    first_hit = next((r for r, t in enumerate(texts, 1) if any(g in t for g in gold)), None)
    found: set[str] = set()
    ap_sum = 0.0
    dcg = 0.0
    for r, t in enumerate(texts, 1):
        new = {g for g in gold if g not in found and g in t}
        if new:
            # Upstream MAP: facts first found at rank r count once, weighted 1/r; a fact seen again later
            # does not count twice (identical facts count once, as upstream compares strings). nDCG uses the
            # same novelty so that a repeated fact is no new gain.
            ap_sum += len(new) / r
            dcg += 1 / math.log2(r + 1)
            found |= new
    unique = len(set(gold))
    ideal = sum(1 / math.log2(r + 1) for r in range(1, min(unique, k) + 1))
    return {
        "hits_at_10": float(first_hit is not None and first_hit <= 10),
        "hits_at_4": float(first_hit is not None and first_hit <= 4),
        "mrr_at_10": 1 / first_hit if first_hit and first_hit <= 10 else 0.0,
        # Upstream divides by min(len(gold), 10) with duplicates included; kept as is so numbers compare.
        "map_at_10": ap_sum / min(len(gold), 10) if gold else 0.0,
        "recall_at_10": len(found) / unique if unique else 0.0,
        "all_evidence_at_10": float(unique > 0 and len(found) == unique),
        "ndcg_at_10": dcg / ideal if ideal else 0.0,
    }


def upstream_correct(answer: str, gold: str) -> bool:
    """MultiHop-RAG's rule: the lower-cased whitespace-separated words share at least one word."""
    return bool(set(answer.lower().split()) & set(gold.lower().split()))


def strict_correct(answer: str, gold: str, aliases: Sequence[str] = ()) -> bool:
    """Strict: a yes/no gold needs that first word; a short gold must match exactly after normalisation;
    with aliases (the seed format), an alias must occur in the answer."""
    if aliases and not (len(aliases) == 1 and aliases[0] == gold):
        low = answer.lower()
        return any(a.lower() in low for a in aliases)
    got, want = normalise(answer), normalise(gold)
    if want in ("yes", "no"):
        return got.split()[:1] == [want]
    return got == want


_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-", "\u00a0": " "})


def loose(text: str) -> str:
    """Lower-cased, quotes and dashes unified, white space collapsed: for "is this fact in that answer"."""
    return " ".join(text.translate(_QUOTES).lower().split())


def answer_contains(answer: str, gold: str | None, aliases: Sequence[str] = ()) -> bool:
    """The gold answer, or one of its aliases, occurs in the answer (quotes, dashes and case aside)."""
    wanted = [a for a in (gold, *aliases) if a]
    text = loose(answer)
    return any(loose(a) in text for a in wanted)


def short_answer_exact(short: str | None, gold: str | None, aliases: Sequence[str] = ()) -> bool:
    """The short answer equals the gold answer or an alias after SQuAD's normalisation."""
    if not short:
        return False
    got = normalise(short.translate(_QUOTES))
    return any(got == normalise(a.translate(_QUOTES)) for a in (gold, *aliases) if a)


def _holds_run(words: Sequence[str], run: Sequence[str]) -> bool:
    return any(list(words[i:i + len(run)]) == list(run) for i in range(len(words) - len(run) + 1))


def short_answer_right(short: str | None, gold: str | None, aliases: Sequence[str] = ()) -> bool:
    """The short answer says what the gold answer says: equal after SQuAD's normalisation, or one holding the
    other as a run of whole words that is at least half as long ("around $A82 million" for "$A82 million",
    "Midwest" for "the Midwest", "Trump" for "Donald Trump"; not "Pennsylvania" for "Pittsburgh, Pennsylvania
    and Cleveland, Ohio"). What ``short_answer_precision`` counts; ``short_answer_exact`` is the strict rule."""
    if not short:
        return False
    got = normalise(short.translate(_QUOTES)).split()
    for answer in (gold, *aliases):
        want = normalise((answer or "").translate(_QUOTES)).split()
        if not want or not got:
            continue
        shorter, longer = sorted((got, want), key=len)
        if _holds_run(longer, shorter) and 2 * len(shorter) >= len(longer):
            return True
    return False


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100); 0 for no values."""
    if not values:
        return 0.0
    xs = sorted(values)
    return xs[min(len(xs) - 1, max(0, math.ceil(q / 100 * len(xs)) - 1))]


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0
