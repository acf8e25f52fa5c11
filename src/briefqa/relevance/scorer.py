"""Score each sentence of the retrieved passages as the answer to a question, and the question as unanswerable.

Two models read the sentences. The feature model (:mod:`briefqa.relevance.features`: the question's rare words
in the sentence, its word pairs, the kind of thing asked for, the passage's relevance; a weight per feature)
is cheap and scores every sentence. The reader (:mod:`briefqa.models.reader`) reads the question and a
sentence together, so it tells the sentence that answers from the ones that share its subject, and says
where in it the answer lies; it costs a few milliseconds a sentence, so it reads the feature model's best
``prefilter`` only. The bold short answer's span is the span reader's (``span_reader.npz``), which reads only
the few sentences a short answer is looked for in (:data:`BOLD_CANDIDATES`), when one is asked for. Per
question style:

* ``short`` (questions as staff type them): a combiner, a logistic model over the reader's logit, the feature
  model's and a few features, gives each sentence read its probability of answering, and an abstention model
  over the best of them gives the probability that none does;
* ``long`` (questions naming several reports, as MultiHop-RAG's): the feature model alone, with its own
  abstention model over :data:`~briefqa.relevance.features.QUESTION_FEATURES`.

Every model is small and committed as JSON beside this module (``scorer.json``), written by
``scripts/train_scorer.py``: the short style's on the natural training questions (the combiner on the fifth
the reader was not trained on, the abstention model on that fifth and every unanswerable training question),
its thresholds chosen on natural dev; the long style's on the MultiHop-RAG dev questions. Each style also has a
passage model, retrieval's reranker.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np

from ..records import Passage
from ..text import normalise
from .features import (
    FEATURES,
    PASSAGE_FEATURES,
    QUESTION_FEATURES,
    Candidate,
    passage_features,
    question_features,
    sentence_features,
)

#: The committed model, in this package.
MODEL_FILE = "scorer.json"

ROUTES = ("short", "long")
#: Questions longer than this many words are "long".
LONG_WORDS = 20
#: What the combiner reads of a sentence the reader read: the reader's logit and the feature model's, each also
#: against the best of the question's, the answer span's probability, and a few features.
COMBINE_FEATURES = ("reader", "reader_rel", "features", "features_rel", "span", "lex", "rarest_missing", "context",
                    "inv_rank", "kind_held", "kind_missing")
#: What the abstention model of a style with the reader reads of a question: its best sentence's combined logit,
#: how far that stands out, the reader's best logit, the best sentence's span, what it holds of the question and
#: how close its passage is; and, over every sentence read, the least any lacks of the question's rarest words
#: and the most any holds of its words: how near the passages come to the question at best.
ABSTAIN_FEATURES = ("best", "gap", "reader_best", "span", "rarest_missing", "rarest_missing_context", "lex",
                    "context", "kind_missing", "kind_held", "passage_cos", "rarest_missing_least", "lex_most")
#: The features of the best sentence among ABSTAIN_FEATURES, as named in FEATURES.
_ABSTAIN_TOP = ABSTAIN_FEATURES[4:11]
#: What the short-answer model reads of a sentence's span (the span reader's, where the model names one): the
#: sentence's probability and how far it stands out, the span's probability, the reader's logit, the probability
#: that no sentence answers, the span's length in words, whether it is of the kind the question asks for (1, -1
#: not, 0 when the question names no kind), the share of its words the question already says, the sentence's
#: place among the :data:`BOLD_CANDIDATES` best (0 the best; that many when it is not among them) and how many of
#: the others' spans say the same.
SHORT_FEATURES = ("sentence", "gap", "span", "reader", "unanswerable", "span_words", "kind_match", "asked_share",
                  "rank", "agree")
#: The best sentences the bold short answer is looked for in: the span reader reads each, and the short-answer
#: model takes the span it trusts most. Where two of them say the same, it is surer; and the answering sentence
#: is often the second (docs/answers.md, "The bold answer from the best three sentences").
BOLD_CANDIDATES = 3
#: The abstention threshold of a question style whose model records none (one trained without unanswerable
#: questions).
DEFAULT_THRESHOLD = 0.8


def route_of(question: str) -> str:
    return "long" if len(question.split()) > LONG_WORDS else "short"


def combine_features(x: np.ndarray, flog: np.ndarray, rel: np.ndarray, span: np.ndarray) -> np.ndarray:
    """A row of :data:`COMBINE_FEATURES` per sentence read: its features ``x``, the feature model's logits
    ``flog``, the reader's ``rel`` and its span probabilities ``span``."""
    pick = [FEATURES.index(n) for n in COMBINE_FEATURES[5:]]
    return np.column_stack([rel, rel - rel.max(), flog, flog - flog.max(), span, x[:, pick]])


def abstain_features(x: np.ndarray, logits: np.ndarray, rel: np.ndarray, span: np.ndarray) -> np.ndarray:
    """The question's row of :data:`ABSTAIN_FEATURES`, from the sentences read (combined ``logits``)."""
    order = np.argsort(-logits, kind="stable")
    top = order[0]
    second = logits[order[1]] if len(order) > 1 else logits[top] - 5
    pick = [FEATURES.index(n) for n in _ABSTAIN_TOP]
    return np.array([logits[top], logits[top] - second, rel.max(), span[top], *x[top, pick],
                     x[:, FEATURES.index("rarest_missing")].min(), x[:, FEATURES.index("lex")].max()])


def short_features(question: str, scored: Scored, i: int) -> np.ndarray:
    """The row of :data:`SHORT_FEATURES` for the span of candidate ``i`` (one the reader read)."""
    from .expect import expectation, holds, word_prefixes

    span = scored.span(i)
    others = np.delete(scored.probabilities, i)
    second = float(others.max()) if len(others) else 0.0
    exp = expectation(question)
    kind = (1.0 if holds(exp.kind, span.text, question) else -1.0) if exp.wants_span else 0.0
    said = word_prefixes(span.text)
    asked = len(said & word_prefixes(question)) / len(said) if said else 0.0
    best = scored.bold_candidates()
    same = normalise(span.text)
    agree = sum(1 for j in best if j != i and normalise(scored.span(j).text) == same)
    return np.array([scored.probabilities[i], scored.probabilities[i] - second, span.probability,
                     scored.relevance[i], scored.unanswerable, np.log1p(len(span.text.split())), kind, asked,
                     best.index(i) if i in best else len(best), agree])


class _Linear:
    def __init__(self, m: dict) -> None:
        self.mean = np.asarray(m["mean"], dtype=np.float64)
        self.scale = np.asarray(m["scale"], dtype=np.float64)
        self.coef = np.asarray(m["coef"], dtype=np.float64)
        self.intercept = float(m["intercept"])

    def logits(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


@dataclass
class Route:
    """The models of one question style."""

    sentence: _Linear  # the feature model, over FEATURES
    abstain: _Linear | None  # over ABSTAIN_FEATURES with the reader, else QUESTION_FEATURES
    passage: _Linear | None  # the reranker, over PASSAGE_FEATURES
    combine: _Linear | None  # over COMBINE_FEATURES; None: this style does not use the reader
    prefilter: int = 0  # sentences the reader reads: the feature model's best
    threshold: float = DEFAULT_THRESHOLD  # the abstention threshold
    short_answer: _Linear | None = None  # over SHORT_FEATURES: that the bold span is right
    short_answer_threshold: float = 1.0  # its probability from which on the span is shown (1: never)

    @classmethod
    def of(cls, r: dict) -> Route:
        reader = r.get("reader") or {}

        def linear(m):
            return _Linear(m) if m else None

        return cls(_Linear(r["sentence"]), linear(r.get("abstain")), linear(r.get("passage")),
                   linear(reader.get("combine")), int(reader.get("prefilter", 0)),
                   float(r.get("abstain_threshold", DEFAULT_THRESHOLD)), linear(r.get("short_answer")),
                   float(r.get("short_answer_threshold", 1.0)))


@dataclass
class Scored:
    """The passages' sentences with the scorer's verdict on each."""

    candidates: list  # features.Candidate
    probabilities: np.ndarray  # that each sentence answers (0 for a sentence the reader did not read)
    features: np.ndarray
    unanswerable: float = 1.0  # the scorer's probability that no sentence answers
    spans: list = field(default_factory=list)  # the reader's AnswerSpan of each sentence it read, else None
    relevance: np.ndarray = field(default_factory=lambda: np.zeros(0))  # the reader's logits (NaN: not read)
    route: Route | None = None
    #: The span reader's AnswerSpan of sentence i, where the short-answer model was trained on its spans.
    bold: Callable[[int], object] | None = field(default=None, repr=False)

    def span(self, i: int):
        """The bold short answer's span in sentence ``i``: the span reader's where there is one, else the
        reader's; None for a sentence the reader did not read."""
        if i >= len(self.spans) or self.spans[i] is None:
            return None
        return self.bold(i) if self.bold is not None else self.spans[i]

    def bold_candidates(self) -> list[int]:
        """The best :data:`BOLD_CANDIDATES` sentences the reader read, best first: where the bold span is looked
        for."""
        order = np.argsort(-self.probabilities, kind="stable")[:BOLD_CANDIDATES]
        return [int(i) for i in order if self.span(int(i)) is not None]

    def bold_choice(self, question: str, said: Sequence[str] = ()) -> int | None:
        """The sentence among :meth:`bold_candidates` whose span the short-answer model trusts most (the better
        ranked of two it trusts alike), leaving out spans ``said`` already (after SQuAD's normalisation); None
        when no other is left."""
        gone = {normalise(a) for a in said}
        left = [i for i in self.bold_candidates() if normalise(self.span(i).text) not in gone]
        return max(left, key=lambda i: self.short_confidence(question, i), default=None)

    def short_confidence(self, question: str, i: int) -> float:
        """The probability that the span of candidate ``i`` is the right short answer (0 without a model)."""
        model = self.route.short_answer if self.route else None
        if model is None or self.span(i) is None:
            return 0.0
        return float(_sigmoid(model.logits(short_features(question, self, i)[None])[0]))


class SentenceScorer:
    """The models of every question style, from ``scorer.json``."""

    def __init__(self, model: dict) -> None:
        if (tuple(model["features"]) != FEATURES or tuple(model["question_features"]) != QUESTION_FEATURES
                or tuple(model.get("passage_features", PASSAGE_FEATURES)) != PASSAGE_FEATURES
                or tuple(model.get("combine_features", COMBINE_FEATURES)) != COMBINE_FEATURES
                or tuple(model.get("abstain_features", ABSTAIN_FEATURES)) != ABSTAIN_FEATURES
                or tuple(model.get("short_features", SHORT_FEATURES)) != SHORT_FEATURES):
            raise ValueError("the scorer model was trained on other features; retrain it with scripts/train_scorer.py")
        self.routes = {name: Route.of(r) for name, r in model["routes"].items()}
        #: The trained file whose spans the short-answer models were fitted on (None: the reader's own).
        self.span_reader: str | None = model.get("span_reader")
        self.model = model

    @classmethod
    @lru_cache(maxsize=1)
    def packaged(cls) -> SentenceScorer:
        return cls(json.loads(resources.files(__package__).joinpath(MODEL_FILE).read_text(encoding="utf-8")))

    def route(self, question: str) -> Route:
        return self.routes[route_of(question)]

    def uses_reader(self, question: str) -> bool:
        return self.route(question).combine is not None

    def score(self, question: str, cands: Sequence[Candidate], x: np.ndarray, passages: Sequence[Passage],
              reader=None) -> Scored:
        """Every candidate's probability of answering, and the question's of being unanswerable."""
        route = self.route(question)
        if not len(x):
            return Scored([], np.zeros(0), x, 1.0, [], route=route)
        flog = route.sentence.logits(x)
        if route.combine is None:
            return self._by_features(route, cands, x, flog)
        scored = self._by_reader(route, question, cands, x, flog, passages, reader)
        if self.span_reader is not None:
            scored.bold = SpanReading(self.span_reader, question, cands, passages)
        return scored

    @staticmethod
    def _by_features(route: Route, cands: Sequence[Candidate], x: np.ndarray, flog: np.ndarray) -> Scored:
        unanswerable = 0.0
        if route.abstain is not None:
            unanswerable = float(_sigmoid(route.abstain.logits(np.asarray(question_features(x, flog))[None])[0]))
        return Scored(list(cands), _sigmoid(flog), x, unanswerable, [None] * len(cands),
                      np.full(len(cands), np.nan), route)

    @staticmethod
    def _by_reader(route: Route, question: str, cands: Sequence[Candidate], x: np.ndarray, flog: np.ndarray,
                   passages: Sequence[Passage], reader) -> Scored:
        """The feature model's best ``prefilter`` sentences read by the reader and combined; the others score 0."""
        read, reading, span_p = read_best(question, cands, flog, passages, route.prefilter, reader)
        logits = route.combine.logits(combine_features(x[read], flog[read], reading.relevance, span_p))
        probabilities = np.zeros(len(cands))
        probabilities[read] = _sigmoid(logits)
        spans: list = [None] * len(cands)
        relevance = np.full(len(cands), np.nan)
        relevance[read] = reading.relevance
        for i, span in zip(read, reading.spans, strict=True):
            spans[i] = span
        unanswerable = 1.0
        if route.abstain is not None:
            q = abstain_features(x[read], logits, reading.relevance, span_p)[None]
            unanswerable = float(_sigmoid(route.abstain.logits(q)[0]))
        return Scored(list(cands), probabilities, x, unanswerable, spans, relevance, route)

    def abstain_threshold(self, question: str) -> float:
        """From which probability of "no sentence answers" on the answer to ``question`` is an abstention:
        chosen per question style (see ``scripts/train_scorer.py``)."""
        return self.route(question).threshold

    def passage_scores(self, question: str, cands: Sequence[Candidate], x: np.ndarray,
                       passages: Sequence[Passage]) -> np.ndarray | None:
        """A score per passage for re-ranking, or None when this style of question has no reranker."""
        route = self.route(question)
        if route.passage is None or not len(x):
            return None
        return route.passage.logits(passage_features(cands, x, route.sentence.logits(x), passages))


class SpanReading:
    """The span reader's spans of one question's sentences, each read alone when first asked for: an answer
    looks for its bold span in its best three sentences (a by-source answer also in each publication's best),
    so reading every sentence would double the answer's time for nothing. Alone, as ``scripts/train_scorer.py``
    reads them: int8 scales activations per batch, so a batch's neighbours would move the span's probability."""

    def __init__(self, trained: str, question: str, cands: Sequence[Candidate], passages: Sequence[Passage]) -> None:
        self.trained, self.question, self.cands, self.passages = trained, question, cands, passages
        self.read: dict[int, object] = {}

    def __call__(self, i: int):
        if i not in self.read:
            from ..models.reader import Reader

            title = title_of(self.cands[i], self.passages)
            self.read[i] = Reader.packaged(self.trained).read(self.question, [self.cands[i].text], [title]).spans[0]
        return self.read[i]


def title_of(cand: Candidate, passages: Sequence[Passage]) -> str:
    """The title a reader reads before candidate ``cand``'s sentence: its passage's article's."""
    return passages[cand.passage].metadata.get("title") or ""


def read_best(question: str, cands: Sequence[Candidate], flog: np.ndarray, passages: Sequence[Passage],
              prefilter: int, reader=None):
    """The indices of the ``prefilter`` candidates the feature model (logits ``flog``) rates best, the reader's
    :class:`~briefqa.models.reader.Reading` of them, and their span probabilities. What the scorer's combiner
    reads, here and in ``scripts/train_scorer.py``."""
    if reader is None:
        from ..models.reader import Reader

        reader = Reader.packaged()
    read = np.argsort(-flog, kind="stable")[:prefilter]
    reading = reader.read(question, [cands[i].text for i in read], [title_of(cands[i], passages) for i in read])
    return read, reading, np.array([s.probability if s else 0.0 for s in reading.spans])


def score_sentences(question: str, passages: Sequence[Passage], store, embedder, scorer=None) -> Scored:
    """Score every sentence of ``passages`` (with the packaged scorer unless one is given)."""
    scorer = scorer or SentenceScorer.packaged()
    cands, x = sentence_features(question, passages, store, embedder)
    return scorer.score(question, cands, x, passages)
