"""briefqa: question answering over news analyses, with citations that code checks. Offline.

The public API is the list below; everything else is importable from its module but may change.

>>> import briefqa
>>> briefqa.ingest(["corpus/"], index="index/")
>>> qa = briefqa.BriefQA.open("index/")
>>> qa.ask("Why did Baku open an embassy in Tel Aviv now?").text

Importing the package loads nothing and changes nothing in the host process: each name is imported from its
module on first use (PEP 562), so ``briefqa info`` or a worker process does not pay for LangChain or torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_EXPORTS = {
    "AnswerStream": "api", "BriefQA": "api",
    "BackendError": "errors", "BriefQAError": "errors", "ConfigError": "errors", "CorpusError": "errors",
    "DatasetError": "errors", "FetchError": "errors", "FilterError": "errors", "IndexBusyError": "errors",
    "IndexDamagedError": "errors", "IndexMismatchError": "errors", "IndexMissingError": "errors",
    "IndexWriteError": "errors", "QuestionError": "errors", "StoreUnavailableError": "errors",
    "EvalConfig": "evaluation.runner", "EvalReport": "evaluation.runner", "evaluate": "evaluation.runner",
    "IndexStore": "store.local",
    "ingest": "ingestion.pipeline",
    "clean_text": "ingestion.load", "load_file": "ingestion.load",
    "Answer": "records", "AnswerSentence": "records", "Citation": "records", "Document": "records",
    "IndexInfo": "records", "IngestReport": "records", "Passage": "records", "Skipped": "records",
    "CopyCluster": "records", "CopyDocument": "records", "Quote": "records", "SourceLine": "records",
    "Timeline": "records", "TimelineEntry": "records",
    "Filters": "store.base", "Store": "store.base", "open_store": "store.location",
    "IndexRetriever": "retrieval.langchain",
    "Settings": "settings", "load_settings": "settings",
}

__all__ = [
    "Answer",
    "AnswerSentence",
    "AnswerStream",
    "BackendError",
    "BriefQA",
    "BriefQAError",
    "Citation",
    "ConfigError",
    "CopyCluster",
    "CopyDocument",
    "CorpusError",
    "DatasetError",
    "Document",
    "EvalConfig",
    "EvalReport",
    "FetchError",
    "FilterError",
    "Filters",
    "IndexBusyError",
    "IndexDamagedError",
    "IndexInfo",
    "IndexMismatchError",
    "IndexMissingError",
    "IndexRetriever",
    "IndexStore",
    "IndexWriteError",
    "IngestReport",
    "Passage",
    "QuestionError",
    "Quote",
    "Settings",
    "Skipped",
    "SourceLine",
    "Store",
    "StoreUnavailableError",
    "Timeline",
    "TimelineEntry",
    "clean_text",
    "evaluate",
    "info",
    "ingest",
    "load_file",
    "load_settings",
    "open_store",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'briefqa' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def info(index: str = "index", documents: bool = False):
    """What an index holds (an :class:`IndexInfo`), without loading any model."""
    from .store.location import open_store

    return open_store(index).info(with_documents=documents)


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from .api import AnswerStream, BriefQA
    from .errors import (
        BackendError,
        BriefQAError,
        ConfigError,
        CorpusError,
        DatasetError,
        FilterError,
        IndexBusyError,
        IndexDamagedError,
        IndexMismatchError,
        IndexMissingError,
        IndexWriteError,
        QuestionError,
        StoreUnavailableError,
    )
    from .evaluation.runner import EvalConfig, EvalReport, evaluate
    from .ingestion.load import clean_text, load_file
    from .ingestion.pipeline import ingest
    from .records import (
        Answer,
        AnswerSentence,
        Citation,
        CopyCluster,
        CopyDocument,
        Document,
        IndexInfo,
        IngestReport,
        Passage,
        Quote,
        Skipped,
        SourceLine,
        Timeline,
        TimelineEntry,
    )
    from .retrieval.langchain import IndexRetriever
    from .settings import Settings, load_settings
    from .store.base import Filters, Store
    from .store.local import IndexStore
    from .store.location import open_store
