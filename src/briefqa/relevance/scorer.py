"""Score each sentence of the retrieved passages as the answer to a question.

MiniLM's cosine alone puts the sentence that answers a natural question first a quarter of the time: the
other sentences of the same article share its names and topic. The scorer adds what tells them apart —
the question's rare words in the sentence (weighted by rarity in the whole index), its word pairs, whether
the sentence holds the kind of thing asked for (a number for "how many", a name for "who", see
:mod:`briefqa.relevance.expect`) and the very thing asked about ("trips", not "revenue"), and how relevant the
sentence's passage is — and weighs them with a logistic model. The model is small (a weight per feature),
trained by ``scripts/train_scorer.py`` on the dev questions only, and committed as JSON beside this module.
Short questions as staff type them and long ones naming several reports get a model each, and each comes
with a question-level model of how likely it is that no sentence answers: what the answerer abstains on.

Sentence vectors come from the index (pooled from each chunk's own pass at ingest, see
:meth:`briefqa.models.embed.Embedder.encode_passages`); for a format-1 index they are embedded here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from ..records import Passage
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
def route_of(question: str) -> str:
    return "long" if len(question.split()) > LONG_WORDS else "short"


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


@dataclass
class Scored:
    """The passages' sentences with the scorer's verdict on each."""

    candidates: list  # scorer.Candidate
    probabilities: np.ndarray
    features: np.ndarray
    unanswerable: float = 1.0  # the scorer's probability that no sentence answers


def score_sentences(question: str, passages: Sequence[Passage], store, embedder, scorer) -> Scored:
    """Score every sentence of ``passages``."""
    cands, x = sentence_features(question, passages, store, embedder)
    if not cands:
        return Scored([], np.zeros(0), x)
    verdict = scorer.verdict(question, x)
    return Scored(cands, verdict.probabilities, x, verdict.unanswerable)
