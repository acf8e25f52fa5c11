"""briefqa's retrieval as a LangChain ``BaseRetriever``, in a module of its own so that asking a question
never imports LangChain (a second of start-up for a one-shot ``briefqa ask``); ``BriefQA.as_retriever`` and
``briefqa.IndexRetriever`` load it when asked for.
"""

from __future__ import annotations

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict


class IndexRetriever(BaseRetriever):
    """briefqa's retrieval as a LangChain retriever: ``IndexRetriever(qa=qa, k=5).invoke("question")``.

    Returns LangChain ``Document`` objects whose ``metadata`` is the passage metadata plus its ``score``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    qa: object
    k: int = 5
    sources: list[str] | None = None
    date_from: str | None = None
    date_to: str | None = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun
                                ) -> list[LCDocument]:
        passages = self.qa.retrieve(query, k=self.k, sources=self.sources, date_from=self.date_from,
                                    date_to=self.date_to)
        return [LCDocument(page_content=p.text, metadata={**p.metadata, "score": p.score}) for p in passages]
