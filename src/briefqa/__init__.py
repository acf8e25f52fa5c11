"""briefqa: question answering over news analyses, with citations that code checks. Offline.

The public API is the list below; everything else is importable from its module but may change.

>>> import briefqa
>>> briefqa.ingest(["corpus/"], index="index/")
>>> qa = briefqa.BriefQA.open("index/")
>>> qa.ask("Why did Baku open an embassy in Tel Aviv now?").text
"""

from . import _env  # noqa: F401  (offline switches first)
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
    QuestionError,
)
from .evaluate import EvalConfig, EvalReport, evaluate
from .index import IndexStore
from .ingest import ingest
from .load import clean_text, load_file
from .records import Answer, AnswerSentence, Citation, Document, IndexInfo, IngestReport, Passage, Skipped
from .retrieve import Filters, IndexRetriever
from .settings import Settings, load_settings


def info(index: str = "index", documents: bool = False) -> IndexInfo:
    """What an index holds, without loading any model."""
    return IndexStore.open(index).info(with_documents=documents)


__version__ = "0.1.0"

__all__ = [
    "Answer",
    "AnswerSentence",
    "AnswerStream",
    "BackendError",
    "BriefQA",
    "BriefQAError",
    "Citation",
    "ConfigError",
    "CorpusError",
    "DatasetError",
    "Document",
    "EvalConfig",
    "EvalReport",
    "FilterError",
    "Filters",
    "IndexBusyError",
    "IndexDamagedError",
    "IndexInfo",
    "IndexMismatchError",
    "IndexMissingError",
    "IndexRetriever",
    "IngestReport",
    "Passage",
    "QuestionError",
    "Settings",
    "Skipped",
    "clean_text",
    "evaluate",
    "info",
    "ingest",
    "load_file",
    "load_settings",
]
