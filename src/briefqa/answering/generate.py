"""Write an answer from numbered passages with an LLM (embedded or OpenAI-compatible).

The path is a LangChain runnable, ``PROMPT | chat model | StrOutputParser()``, so it streams tokens and
accepts any LangChain chat model; :mod:`briefqa.answering.llm` provides the two backends, and
:func:`briefqa.answering.cite.check_citations` then keeps only what the passages support. It is imported only for
``answer_mode = "llm"``: the extractive default (:mod:`briefqa.answering.extractive`) needs neither LangChain nor a
model beyond the embedder.
"""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from ..records import Passage
from ..settings import Settings
from .llm import chat_model

SYSTEM_PROMPT = (
    "You answer questions about news articles using only the numbered passages given. "
    "Answer in one to three short sentences. After each sentence, cite the passage it comes from as [1], [2], "
    "and so on. If the passages do not contain the answer, reply exactly: Insufficient information."
)
PROMPT = ChatPromptTemplate.from_messages([
    ("system", SYSTEM_PROMPT),
    ("human", "Passages:\n{context}\n\nQuestion: {question}"),
])

def format_context(passages: Sequence[Passage]) -> str:
    """Passages numbered from 1, each with its title, source and date, as the prompt shows them."""
    return "\n\n".join(f"[{i}] {p.label()}\n{p.text}" for i, p in enumerate(passages, 1))



# -- generation ---------------------------------------------------------------------------------------------
def generation_chain(settings: Settings):
    """``{"question", "context"} -> str``, streaming: the prompt, the backend's chat model, plain text out."""
    return PROMPT | chat_model(settings) | StrOutputParser()
