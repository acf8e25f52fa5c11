"""The bold short answer: where the reader reads the answer in the best sentences, shown only when it is sure.

"How much revenue did Uber bring in for the third quarter?" is answered "$9.3 billion — …": the span comes
first, in bold in the chat, then the cited sentences. The span is the span reader's
(:mod:`briefqa.models.reader`, a start and an end over the sentence's word pieces, trained on the answers of
the natural training questions), which reads each of the answer's three best sentences alone. It is shown when
the question asks for a span (who, which, what, when, where, how many, how much, or a date, figure or name by
its wording) and the scorer's short-answer model (over :data:`~briefqa.relevance.scorer.SHORT_FEATURES`: how
sure the sentence and the span are, whether the span is the kind of thing asked for, how much of it the
question already says, where the sentence ranks and whether the other best sentences say the same; trained on
held-out training questions) gives the span it trusts most a probability of being right that reaches a
threshold chosen for precision. Its sentence is then quoted in the answer, so that the bold claim is cited too.
A bold answer that is wrong is worse than none: the cited sentences that follow answer anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..relevance.expect import SPAN_QUESTION_WORDS, expectation, question_word
from ..relevance.scorer import Scored


def asks_for_span(question: str) -> bool:
    """Whether a short span (a name, a date, a figure) can answer ``question``, as against a reason or a story."""
    return question_word(question) in SPAN_QUESTION_WORDS or expectation(question).wants_span


def short_answer(question: str, scored: Scored, i: int, threshold: float = 0.0) -> str | None:
    """The short answer read in candidate ``i``, or None when the question asks for none or the scorer's
    short-answer model is not sure enough: ``threshold`` (0: the one chosen on natural dev; 1: never)."""
    if not asks_for_span(question) or scored.route is None:
        return None  # before the span: the span reader need not read a sentence for nothing
    return _sure_span(question, scored, i, threshold)


def _sure_span(question: str, scored: Scored, i: int, threshold: float) -> str | None:
    """Candidate ``i``'s span as the bold answer shows it, if the short-answer model's probability reaches
    ``threshold`` (0: the trained one); the caller has checked that the question asks for a span and that the
    scorer has a route."""
    span = scored.span(i)
    if span is None:
        return None
    if scored.short_confidence(question, i) < (threshold or scored.route.short_answer_threshold):
        return None
    return bold_text(span.text) or None


def bold_text(span: str) -> str:
    """A span as the bold answer shows it (and the short-answer model is trained to judge it): without the
    punctuation and quotes a reader's span may take in at its ends."""
    return span.strip(" ,;:.\"“”‘’'()")


@dataclass(frozen=True)
class Bold:
    """The bold short answer and the sentence it is read in, which the answer quotes."""

    text: str
    index: int  # the candidate sentence, in the scorer's Scored


def bold_answer(question: str, scored: Scored, threshold: float = 0.0, earlier: Sequence[str] = ()) -> Bold | None:
    """The answer's bold short answer: the span the short-answer model trusts most among the best sentences'
    (:meth:`~briefqa.relevance.scorer.Scored.bold_choice`), or None as for :func:`short_answer`. A follow-up
    asks something new, so a short answer an ``earlier`` turn of the conversation gave is not its answer: "And
    which coach did he replace?" after "Antonio Pierce" is not answered "Antonio Pierce" (on the training, cal
    and dev conversations, each of the 4 second turns that repeated the first's bold answer was wrong)."""
    if not asks_for_span(question) or scored.route is None:
        return None
    i = scored.bold_choice(question, earlier)
    text = None if i is None else _sure_span(question, scored, i, threshold)
    return Bold(text, i) if text else None
