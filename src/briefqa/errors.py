"""The errors a user can cause, each carrying one sentence that names the thing and what to do.

Interfaces (CLI, chat) show ``str(error)`` as it is and never a traceback; anything that is not a
``BriefQAError`` is a bug in briefqa and is allowed to surface as one.
"""


class BriefQAError(Exception):
    """Base class: the message is meant for the person who caused it."""


class ConfigError(BriefQAError):
    """A setting or configuration file is wrong."""


class CorpusError(BriefQAError):
    """Nothing usable to ingest (missing paths, empty corpus)."""


class DocumentError(BriefQAError):
    """One file or record cannot be read; ingest skips it and counts it."""


class IndexMissingError(BriefQAError):
    """No index where one was expected."""


class IndexDamagedError(BriefQAError):
    """The index on disk is incomplete or altered; it is refused rather than half-read."""


class IndexBusyError(BriefQAError):
    """Another process is writing the same index."""


class IndexWriteError(BriefQAError):
    """The index cannot be written (no space left, read-only directory); the previous state is kept."""


class IndexMismatchError(BriefQAError):
    """The index was built with another embedder or other chunking parameters."""


class QuestionError(BriefQAError):
    """The question is empty or too long."""


class FilterError(BriefQAError):
    """A filter is impossible (for example a date range that ends before it starts)."""


class BackendError(BriefQAError):
    """The language-model backend cannot be reached or failed."""


class DatasetError(BriefQAError):
    """An evaluation dataset cannot be read."""


class StoreUnavailableError(BriefQAError):
    """The engine holding an index (a Milvus server, a Ray cluster) cannot be reached or used."""


class FetchError(BriefQAError):
    """A feed or page cannot be fetched or used (refused, unreachable, too large, not an article), or a feeds
    file is wrong."""
