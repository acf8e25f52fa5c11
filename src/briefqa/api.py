"""The Python API: :class:`BriefQA` ties an index, the embedder and an answerer together.

It is what the CLI and the chat page call; they hold no pipeline logic of their own. A ``BriefQA`` is safe to
share between threads for reading: it keeps no per-question state, and each call gets its own settings.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .answering.cite import check_citations
from .answering.extractive import first_per_passage, scored_answer, similarity_answer
from .errors import FilterError, QuestionError
from .records import Answer, Citation, CopyCluster, CopyDocument, IndexInfo, Passage, Timeline
from .relevance.expect import not_english
from .retrieval.retriever import Filters, Reranker, Retrieval, Retriever
from .settings import Settings, load_settings, pin_to_index
from .store.base import Store
from .store.location import open_store
from .text import content_words

if TYPE_CHECKING:
    from .retrieval.langchain import IndexRetriever


def newest_date(passages) -> str | None:
    """The publication day (YYYY-MM-DD) of the newest of ``passages``, or None when none is dated."""
    days = [p.metadata.get("published_at")[:10] for p in passages if p.metadata.get("published_at")]
    return max(days) if days else None


class AnswerStream:
    """Iterate for the answer's text as it is produced; ``.answer`` holds the checked :class:`Answer` after.

    With an LLM the tokens are the model's raw output; the checked answer (citations verified, unsupported
    sentences removed) may differ from their concatenation, and is what ``.answer.text`` holds.
    """

    def __init__(self, qa: BriefQA, question: str, settings: Settings, filters: Filters,
                 passages: list[Passage] | None = None, by_source: bool = False,
                 earlier_answers: Sequence[str] = ()) -> None:
        self._qa, self.question, self.settings, self._filters = qa, question, settings, filters
        self._given = passages
        self._by_source = by_source
        self._earlier = tuple(earlier_answers)
        self.answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        yield from self._tokens()
        self.answer.as_of = newest_date(c.passage for c in self.answer.citations)

    def _by_source_answer(self) -> Iterator[str]:
        from .news.outlets import by_source

        qa, s, t0 = self._qa, self.settings, time.perf_counter()
        answered = self._given if self._given is not None else qa.retriever.retrieve(self.question, s, self._filters)
        found = qa.retriever.explain(self.question, s, self._filters, k=s.news_passages)
        out = by_source(self.question, answered, found, qa.store, qa.embedder, qa.retriever, s, self._filters)
        citations = first_per_passage([Citation(q.marker, out.passages[q.marker - 1], q.sentence)
                                       for line in out.lines if line.covered for q in line.quotes])
        timings = {"retrieve": found.timings.get("total", 0.0), "total": time.perf_counter() - t0}
        # An abstaining answer keeps the passages it read, as related ones; a by-source answer lists those it cites.
        passages = answered if out.abstained else out.passages
        self.answer = Answer(self.question, out.text, citations, passages, not citations, timings=timings,
                             mode="extractive:by-source", raw=out.text, short_answer=out.short_answer,
                             by_source=out.lines)
        yield out.text

    def _tokens(self) -> Iterator[str]:
        if self._by_source:
            yield from self._by_source_answer()
            return
        qa, s, timings = self._qa, self.settings, {}
        t0 = time.perf_counter()
        passages = self._given if self._given is not None else qa.retriever.retrieve(self.question, s, self._filters)
        timings["retrieve"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        if s.answer_mode == "extractive":
            if s.answerer == "scored":
                ex = scored_answer(self.question, passages, qa.store, qa.embedder, s, earlier=self._earlier)
            else:
                ex = similarity_answer(self.question, passages, qa.embedder, s, qa.store.idf)
            timings["first_token"] = timings["generate"] = time.perf_counter() - t1
            timings["total"] = time.perf_counter() - t0
            self.answer = Answer(self.question, ex.text, ex.citations, passages, ex.abstained, ex.sentences,
                                 timings, f"extractive:{s.answerer}", raw=ex.text, short_answer=ex.short_answer,
                                 confidence=ex.confidence)
            yield ex.text
            return
        from .answering.generate import format_context, generation_chain  # LangChain's prompts load only for the LLM
        raw = []
        if passages:
            try:
                for token in generation_chain(s).stream({"question": self.question,
                                                         "context": format_context(passages)}):
                    if not raw:
                        timings["first_token"] = time.perf_counter() - t1
                    raw.append(token)
                    yield token
            except Exception as exc:
                from .answering.llm import backend_error  # LangChain's model classes load only for LLM answers

                raise backend_error(s, exc) from exc
        timings["generate"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        checked = check_citations("".join(raw), passages, qa.embedder, s.min_support)
        timings["cite"] = time.perf_counter() - t2
        timings["total"] = time.perf_counter() - t0
        timings.setdefault("first_token", timings["generate"])
        self.answer = Answer(self.question, checked.text, checked.citations, passages, checked.abstained,
                             checked.sentences, timings, f"llm:{s.backend}", raw="".join(raw),
                             dropped_markers=checked.dropped_markers, unsupported=checked.unsupported)
        if not raw:
            yield checked.text


class BriefQA:
    """Question answering over one index: ``BriefQA.open("index/").ask("Why ...?")``."""

    def __init__(self, store: Store, embedder, settings: Settings, reranker: Reranker | None = None) -> None:
        self.store = store
        self.embedder = embedder
        m = store.manifest
        #: What the index fixed when it was built: questions are searched the same way.
        self.built = {"chunk_size": m.chunk_size, "chunk_overlap": m.chunk_overlap, "embed_runtime": embedder.runtime,
                      "index_prefix": m.index_prefix, "lexical_stemmer": m.lexical_stemmer}
        self.settings = pin_to_index(settings, self.built, store.location)
        self.retriever = Retriever(store, embedder, reranker)
        self._warm: set[str] = set()  # what warm_up has loaded

    def with_settings(self, **overrides: Any) -> Settings:
        """This instance's settings with ``overrides`` (a conflict with the index is a :class:`ConfigError`)."""
        if not overrides:
            return self.settings
        return pin_to_index(self.settings.replace(**overrides), self.built, self.store.location)

    @classmethod
    def open(cls, index: str | Path | None = None, *, settings: Settings | None = None,
             config: str | Path | None = None, reranker: Reranker | None = None, **overrides: Any) -> BriefQA:
        """Open an index for questions; refuse a missing, damaged or mismatched one with a clear error.

        ``reranker`` re-scores the top passages (any object with ``score(question, texts)``); without it, the
        ``reranker_model`` setting names a local cross-encoder, if any.
        """
        from .models.embed import embedder_for_index

        settings = (settings or load_settings(config)).replace(**overrides)
        location = str(index if index is not None else settings.index)
        embedder = embedder_for_index(location)  # refuses a missing index or one of another model, before loading
        store = open_store(location, embedder=embedder.id)
        qa = cls(store, embedder, settings.replace(origin=settings.origin("index"), index=location), reranker)
        embedder.encode_query("warm-up")  # load the model now, not inside the first question's timings
        return qa

    def warm_up(self, settings: Settings | None = None) -> None:
        """Do once what a first question would do for the first time with ``settings`` (this instance's by
        default): a retrieval, and for scored extractive answers, loading the sentence scorer and the readers
        and reading a batch. The chat server and the evaluator call it before their first question, which
        otherwise waits 100-150 ms longer than the next ones. It is only a head start: whatever fails here is
        logged and left to the first question, which reports it as questions do."""
        try:
            self._warm_up(settings or self.settings)
        except Exception as exc:  # a head start must never stop a server from starting
            logging.getLogger(__name__).warning("could not load the answer models ahead of the first question "
                                                "(%s); the first question will load them", exc)

    def _warm_up(self, s: Settings) -> None:
        if "retrieval" not in self._warm:
            self.retriever.retrieve("Who opened the embassy?", s)
            self._warm.add("retrieval")
        if s.answer_mode == "extractive" and s.answerer == "scored" and "reader" not in self._warm:
            from .models.reader import Reader
            from .relevance.scorer import SentenceScorer

            scorer = SentenceScorer.packaged()
            # A full batch of long sentences, so that onnxruntime sizes its buffers for real questions.
            sentence = "The minister opened the embassy in the capital on Monday, " * 8
            Reader.packaged().read("Who opened the embassy?", [sentence] * 16, [""] * 16)
            if scorer.span_reader is not None:  # it reads one sentence at a time
                Reader.packaged(scorer.span_reader).read("Who opened the embassy?", [sentence], [""])
            self._warm.add("reader")

    # -- questions ----------------------------------------------------------------------------------------
    def _check_question(self, question: str, settings: Settings) -> str:
        question = (question or "").strip()
        if not question:
            raise QuestionError("The question is empty; type a question.")
        if len(question) > settings.max_question_chars:
            raise QuestionError(f"The question is {len(question)} characters long, more than the limit of "
                                f"{settings.max_question_chars}; shorten it.")
        if not content_words(question) and not not_english(question):  # a foreign one is told so by the answerer
            raise QuestionError(f"The question “{question}” names nothing to look for; ask about a person, a "
                                "place, an event or a subject.")
        return question

    def _filters(self, sources=None, date_from=None, date_to=None) -> Filters:
        """The filters asked for; a publication the index does not hold is an error that names those it does."""
        filters = Filters.of(sources, date_from, date_to)
        known = {s.casefold(): s for s in self.store.sources()}
        unknown = [s for s in filters.sources if s.casefold() not in known]
        if unknown:
            import difflib

            near = difflib.get_close_matches(unknown[0].casefold(), list(known), n=3, cutoff=0.5)
            hint = (f"did you mean {', '.join(repr(known[n]) for n in near)}?" if near
                    else "`briefqa info` lists the publications.")
            raise FilterError(f"No article in this index is from '{unknown[0]}'; {hint}")
        return filters

    def retrieve(self, question: str, k: int | None = None, *, sources=None, date_from=None,
                 date_to=None, **overrides: Any) -> list[Passage]:
        """The ``k`` passages that best match ``question``, best first, optionally filtered."""
        settings = self.with_settings(**overrides)
        question = self._check_question(question, settings)
        return self.retriever.retrieve(question, settings, self._filters(sources, date_from, date_to), k=k)

    def explain(self, question: str, k: int | None = None, *, sources=None, date_from=None, date_to=None,
                **overrides: Any) -> Retrieval:
        """Retrieve and say how: the question's recognised publications, dates and parts, the filters that
        fired or fell back, and each passage's dense, lexical and per-part ranks."""
        settings = self.with_settings(**overrides)
        question = self._check_question(question, settings)
        return self.retriever.explain(question, settings, self._filters(sources, date_from, date_to), k=k)

    def stream(self, question: str, *, sources=None, date_from=None, date_to=None,
               passages: list[Passage] | None = None, by_source: bool = False, earlier_answers: Sequence[str] = (),
               **overrides: Any) -> AnswerStream:
        """Stream the answer's text; the checked :class:`Answer` is ``.answer`` once iteration ends.

        ``passages`` answers from these passages instead of retrieving (the evaluator retrieves once for
        both its retrieval metrics and the answer). ``by_source`` answers with one cited line per
        publication that covers the question, newest first (:mod:`briefqa.news.outlets`).
        ``earlier_answers``: in a conversation, the short answers its earlier turns gave; a follow-up asks
        something new, so none of them is shown as this answer's bold one.
        """
        settings = self.with_settings(**overrides)
        question = self._check_question(question, settings)
        return AnswerStream(self, question, settings, self._filters(sources, date_from, date_to), passages,
                            by_source, earlier_answers)

    def ask(self, question: str, **kwargs: Any) -> Answer:
        """Answer ``question`` with checked citations; ``kwargs`` are filters and setting overrides."""
        stream = self.stream(question, **kwargs)
        for _ in stream:
            pass
        assert stream.answer is not None
        return stream.answer

    def timeline(self, query: str, *, sources=None, date_from=None, date_to=None, **overrides: Any) -> Timeline:
        """The articles on the story ``query`` describes, oldest first, copies collapsed, each with the
        sentence that says what it added (:mod:`briefqa.news.timeline`)."""
        from .news.timeline import build_timeline

        settings = self.with_settings(**overrides)
        query = self._check_question(query, settings)
        t0 = time.perf_counter()
        found = self.retriever.explain(query, settings, self._filters(sources, date_from, date_to),
                                       k=settings.news_passages)
        timeline = build_timeline(query, found.passages, self.store, self.embedder, settings)
        timeline.timings = {"retrieve": found.timings.get("total", 0.0), "total": time.perf_counter() - t0}
        return timeline

    def duplicates(self) -> list[CopyCluster]:
        """The story clusters of the index (wire copies and updates, two or more documents each)."""
        return self.duplicates_of(self.store)

    @staticmethod
    def duplicates_of(store: Store) -> list[CopyCluster]:
        """The story clusters of ``store``, oldest story first (for callers that have not loaded a model)."""
        docs = store.documents
        return [CopyCluster(label, [CopyDocument(d, docs[d].title, docs[d].source, docs[d].published_at,
                                                 (docs[d].origins or [""])[0]) for d in members])
                for label, members in sorted(store.clusters().items(),
                                             key=lambda kv: (docs[kv[1][0]].published_at or "", kv[0]))]

    # -- integration --------------------------------------------------------------------------------------
    def as_retriever(self, k: int | None = None, **filters: Any) -> IndexRetriever:
        """This index as a LangChain ``BaseRetriever``."""
        from .retrieval.langchain import IndexRetriever

        return IndexRetriever(qa=self, k=k or self.settings.k, **filters)

    def as_runnable(self):
        """``ask`` as a LangChain runnable: ``qa.as_runnable().invoke("question")`` returns an :class:`Answer`."""
        from langchain_core.runnables import RunnableLambda

        return RunnableLambda(self.ask, name="briefqa")

    def info(self, documents: bool = False) -> IndexInfo:
        return self.store.info(with_documents=documents)
