"""What the sentence scorer reads: a row of features per candidate sentence, per passage and per question.

MiniLM's cosine alone puts the sentence that answers a natural question first a quarter of the time: the
other sentences of the same article share its names and topic. The features add what tells them apart: the
question's rare words in the sentence (weighted by rarity in the whole index), its word pairs, whether the
sentence holds the kind of thing asked for (a number for "how many", a name for "who", see
:mod:`briefqa.relevance.expect`) and the very thing asked about ("trips", not "revenue"), and how relevant the
sentence's passage is. Sentence vectors come from the index (pooled from each chunk's own pass at ingest, see
:meth:`briefqa.models.embed.Embedder.encode_passages`); for a format-1 index they are embedded here.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..records import Passage
from ..text import split_sentences, terms
from .expect import expectation, holds

FEATURES = ("cos", "cos_rel", "passage_cos", "lex", "lex_rel", "local", "context", "bigram", "kind_held",
            "kind_missing", "focus_held", "focus_missing", "inv_rank", "first", "log_words", "short", "question",
            "lex_x_kind", "rarest_missing", "rarest_missing_context")

@dataclass
class Candidate:
    """One sentence of one of the passages given to the answerer."""

    passage: int  # 0-based position among the passages
    start: int  # its span in the passage's text
    end: int
    text: str
    position: int  # its position among its passage's sentences


def candidates(passages: Sequence[Passage], spans: Sequence[Sequence[Sequence[int]] | None]) -> list[Candidate]:
    """The sentences of ``passages``: their stored ``spans`` when known, else split now."""
    out = []
    for i, (p, sp) in enumerate(zip(passages, spans, strict=True)):
        ranges = sp if sp else [(s.start, s.end) for s in split_sentences(p.text)] or [(0, len(p.text))]
        for j, (a, b) in enumerate(ranges):
            out.append(Candidate(i, a, b, p.text[a:b], j))
    return out


def features(question: str, qvec: np.ndarray, cands: Sequence[Candidate], vectors: np.ndarray,
             passages: Sequence[Passage], passage_vectors: np.ndarray, idf: Callable[[str], float]) -> np.ndarray:
    """The feature matrix, a row per candidate, columns in :data:`FEATURES` order."""
    if not cands:
        return np.zeros((0, len(FEATURES)))
    q = terms(question)
    qset = set(q)
    weight = np.array([idf(t) for t in q]) if q else np.ones(0)
    total = float(weight.sum()) or 1.0
    exp = expectation(question)
    focus = set(terms(" ".join(exp.focus)))
    bigrams = set(itertools.pairwise(q))
    sent_terms = [terms(c.text) for c in cands]
    sets = [set(t) for t in sent_terms]
    n = len(cands)
    local = {t: math.log(1 + n / (1 + sum(t in s for s in sets))) for t in qset}
    local_total = sum(local.values()) or 1.0
    context = [set(terms(p.text + " " + p.label())) for p in passages]
    top = float(weight.max()) if len(weight) else 1.0

    def rarest_missing(present: set[str]) -> float:
        # The rarest question word a text lacks, against the rarest it has to offer: a near miss lacks "wage".
        return max((w for t, w in zip(q, weight, strict=True) if t not in present), default=0.0) / top
    cos = vectors @ qvec
    pcos = passage_vectors @ qvec if len(passage_vectors) else np.zeros(len(passages))
    lex = np.array([sum(w for t, w in zip(q, weight, strict=True) if t in s) / total for s in sets])
    # What depends only on a sentence's passage, once per passage rather than once per sentence.
    context_share = [sum(w for t, w in zip(q, weight, strict=True) if t in ctx) / total for ctx in context]
    context_rarest = [rarest_missing(ctx) for ctx in context]
    best_cos, best_lex = cos.max(), lex.max()
    rows = []
    for c, st, s, cs, lx in zip(cands, sent_terms, sets, cos, lex, strict=True):
        held = float(exp.wants_span and holds(exp.kind, c.text, question))
        focus_held = float(bool(focus) and focus <= s)
        words = len(c.text.split())
        rows.append([
            cs, cs - best_cos, pcos[c.passage], lx, lx - best_lex,
            sum(local[t] for t in qset if t in s) / local_total,
            context_share[c.passage],
            len(bigrams & set(itertools.pairwise(st))) / max(1, len(bigrams)),
            held, float(exp.wants_span) - held, focus_held, float(bool(focus)) - focus_held,
            1 / (c.passage + 1), float(c.position == 0), math.log(words + 1), float(words < 6),
            float(c.text.rstrip("”’\"' )").endswith("?")), lx * held,
            rarest_missing(s), context_rarest[c.passage],
        ])
    return np.asarray(rows, dtype=np.float64)


#: Question styles with a model each: staff's short questions, and long ones that name several reports.

QUESTION_FEATURES = ("best_logit", "gap", "top3_logit", "lex", "context", "kind_held", "kind_missing",
                     "focus_held", "focus_missing", "rarest_missing", "rarest_missing_context", "cos")
PASSAGE_FEATURES = ("best_logit", "best_rel", "second_logit", "inv_rank", "dense_rank", "lexical_rank",
                    "passage_cos", "context", "in_part")



def passage_features(cands: Sequence[Candidate], x: np.ndarray, logits: np.ndarray,
                     passages: Sequence[Passage]) -> np.ndarray:
    """A row per passage for the reranker: how well its best sentences answer, and how retrieval ranked it."""
    rows = []
    top = float(logits.max()) if len(logits) else 0.0
    col = {n: FEATURES.index(n) for n in ("passage_cos", "context")}
    for i, p in enumerate(passages):
        mine = np.array([j for j, c in enumerate(cands) if c.passage == i], dtype=int)
        own = np.sort(logits[mine])[::-1] if len(mine) else np.array([-10.0])
        ranks = p.metadata.get("ranks", {})
        dense, lexical = ranks.get("dense"), ranks.get("lexical")
        first = x[mine[0]] if len(mine) else np.zeros(len(FEATURES))
        rows.append([own[0], own[0] - top, own[1] if len(own) > 1 else own[0] - 2, 1 / (i + 1),
                     1 / (1 + dense) if dense else 0.0, 1 / (1 + lexical) if lexical else 0.0,
                     first[col["passage_cos"]], first[col["context"]],
                     float(any(k.startswith("part") for k in ranks))])
    return np.asarray(rows, dtype=np.float64)



def question_features(x: np.ndarray, logits: np.ndarray) -> list[float]:
    """What the abstention model sees of a question: its best sentence's logit and evidence, and how far the
    best stands out."""
    order = np.argsort(-logits)
    best = x[order[0]]
    second = logits[order[1]] if len(order) > 1 else logits[order[0]] - 5
    pick = [FEATURES.index(n) for n in QUESTION_FEATURES[3:]]
    return [float(logits[order[0]]), float(logits[order[0]] - second), float(np.sort(logits)[-3:].mean()),
            *(float(best[i]) for i in pick)]


def sentence_features(question: str, passages: Sequence[Passage], store, embedder) -> tuple[list, np.ndarray]:
    """The sentences of ``passages`` and their scorer features (stored sentence vectors when the index has
    them; embedded here for a format-1 index)."""
    from ..text import terms
    from .features import candidates, features

    store.fetch([p.chunk_id for p in passages])
    stored = [store.chunk(p.chunk_id) if store.has_sentence_vectors else None for p in passages]
    cands = candidates(passages, [c.sentences if c is not None else None for c in stored])
    if not cands:
        return [], np.zeros((0, 0))
    # Chunk vectors first: a remote store reads each chunk's sentence vectors in the same round trip.
    pvecs = store.chunk_vectors([p.chunk_id for p in passages])
    # Stored sentence vectors where the index has them; the other passages' sentences are embedded now.
    per_passage = [store.sentence_vectors(p.chunk_id) if c is not None else None for p, c in zip(passages, stored,
                                                                                                 strict=True)]
    missing = [x for x in cands if per_passage[x.passage] is None]
    fresh = iter(embedder.encode([x.text for x in missing]) if missing else [])
    vectors = np.vstack([next(fresh) if per_passage[x.passage] is None else per_passage[x.passage][x.position]
                         for x in cands])
    store.prefetch_idf(terms(question))  # the features weigh the question's words by their rarity
    x = features(question, embedder.encode_query(question), cands, vectors, passages, pvecs, store.idf)
    return cands, x
