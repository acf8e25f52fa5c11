"""Score each sentence of the retrieved passages as the answer to a question.

MiniLM's cosine alone puts the sentence that answers a natural question first a quarter of the time: the
other sentences of the same article share its names and topic. The scorer adds what tells them apart —
the question's rare words in the sentence (weighted by rarity in the whole index), its word pairs, whether
the sentence holds the kind of thing asked for (a number for "how many", a name for "who", see
:mod:`briefqa.expect`) and the very thing asked about ("trips", not "revenue"), and how relevant the
sentence's passage is — and weighs them with a logistic model. The model is small (a weight per feature),
trained by ``scripts/train_scorer.py`` on the dev questions only, and committed as JSON beside this module.
Short questions as staff type them and long ones naming several reports get a model each, and each comes
with a question-level model of how likely it is that no sentence answers: what the answerer abstains on.

Sentence vectors come from the index (pooled from each chunk's own pass at ingest, see
:meth:`briefqa.embed.Embedder.encode_passages`); for a format-1 index they are embedded here.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from .chunk import split_sentences
from .expect import expectation, holds
from .records import Passage

#: The committed model, in this package.
MODEL_FILE = "scorer.json"

FEATURES = ("cos", "cos_rel", "passage_cos", "lex", "lex_rel", "local", "context", "bigram", "kind_held",
            "kind_missing", "focus_held", "focus_missing", "inv_rank", "first", "log_words", "short", "question",
            "lex_x_kind", "rarest_missing", "rarest_missing_context")

#: Words that carry no content: question words, auxiliaries, function words.
_STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between both
but by can could did do does doing down during each few for from further had has have having he her here hers
him his how i if in into is it its itself just me more most my no nor not now of off on once only or other our
out over own same she should so some such than that the their them then there these they this those through to
too under until up very was we were what when where which while who whom why will with would you your
according said say says tell told many much kind way
""".split())


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english").stemWords


def content_words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOPWORDS and len(w) > 1]


@lru_cache(maxsize=8192)
def terms(text: str) -> tuple[str, ...]:
    """Content words, stemmed: what question and sentence are compared on. Cached: the reranker and then the
    answerer score the same sentences of the same passages for one question."""
    return tuple(_stemmer()(content_words(text.replace("’", "'"))))


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
ROUTES = ("short", "long")
#: Questions longer than this many words are "long".
LONG_WORDS = 20
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


def route_of(question: str) -> str:
    return "long" if len(question.split()) > LONG_WORDS else "short"


def question_features(x: np.ndarray, logits: np.ndarray) -> list[float]:
    """What the abstention model sees of a question: its best sentence's logit and evidence, and how far the
    best stands out."""
    order = np.argsort(-logits)
    best = x[order[0]]
    second = logits[order[1]] if len(order) > 1 else logits[order[0]] - 5
    pick = [FEATURES.index(n) for n in QUESTION_FEATURES[3:]]
    return [float(logits[order[0]]), float(logits[order[0]] - second), float(np.sort(logits)[-3:].mean()),
            *(float(best[i]) for i in pick)]


class _Linear:
    def __init__(self, m: dict) -> None:
        self.mean = np.asarray(m["mean"], dtype=np.float64)
        self.scale = np.asarray(m["scale"], dtype=np.float64)
        self.coef = np.asarray(m["coef"], dtype=np.float64)
        self.intercept = float(m["intercept"])

    def logits(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept


@dataclass
class Verdict:
    """The scorer's view of a question's sentences."""

    probabilities: np.ndarray  # per sentence: that it answers the question
    unanswerable: float  # that no sentence does


#: The abstention threshold of a question style whose model records none (one trained without unanswerable
#: questions).
DEFAULT_THRESHOLD = 0.8


class SentenceScorer:
    """Per question style, a logistic model over :data:`FEATURES` and one over :data:`QUESTION_FEATURES`."""

    def __init__(self, model: dict) -> None:
        if (tuple(model["features"]) != FEATURES or tuple(model["question_features"]) != QUESTION_FEATURES
                or tuple(model.get("passage_features", PASSAGE_FEATURES)) != PASSAGE_FEATURES):
            raise ValueError("the scorer model was trained on other features; retrain it with scripts/train_scorer.py")
        self.routes = {name: (_Linear(r["sentence"]), _Linear(r["abstain"]) if r.get("abstain") else None)
                       for name, r in model["routes"].items()}
        self.rerankers = {name: _Linear(r["passage"]) for name, r in model["routes"].items() if r.get("passage")}
        self.thresholds = {name: float(r.get("abstain_threshold", DEFAULT_THRESHOLD))
                           for name, r in model["routes"].items()}
        self.model = model

    @classmethod
    @lru_cache(maxsize=1)
    def packaged(cls) -> SentenceScorer:
        return cls(json.loads(resources.files(__package__).joinpath(MODEL_FILE).read_text(encoding="utf-8")))

    def verdict(self, question: str, x: np.ndarray) -> Verdict:
        if not len(x):
            return Verdict(np.zeros(0), 1.0)
        sentence, abstain = self.routes[route_of(question)]
        logits = sentence.logits(x)
        unanswerable = 0.0
        if abstain is not None:
            q = np.asarray(question_features(x, logits))[None, :]
            unanswerable = float(1 / (1 + np.exp(-abstain.logits(q)[0])))
        return Verdict(1 / (1 + np.exp(-logits)), unanswerable)

    def abstain_threshold(self, question: str) -> float:
        """From which probability of "no sentence answers" on the answer to ``question`` is an abstention:
        chosen per question style in cross-validation (see ``scripts/train_scorer.py``)."""
        return self.thresholds.get(route_of(question), DEFAULT_THRESHOLD)

    def passage_scores(self, question: str, cands: Sequence[Candidate], x: np.ndarray,
                       passages: Sequence[Passage]) -> np.ndarray | None:
        """A score per passage for re-ranking, or None when this style of question has no reranker."""
        route = route_of(question)
        if route not in self.rerankers or not len(x):
            return None
        logits = self.routes[route][0].logits(x)
        return self.rerankers[route].logits(passage_features(cands, x, logits, passages))
