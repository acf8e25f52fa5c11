"""Keeping an index current: poll a feeds file on a schedule and ingest what is new.

``briefqa watch --feeds feeds.toml --every 30m`` runs :func:`briefqa.ingest` on the feeds at every poll and
logs one line per poll. A poll that fails (a site down, the disk full, another writer busy) leaves the index
as it was and is tried again at the next one: ingest commits atomically and the web archive records a page
as seen only once the index holds it. One watcher per index: a second is refused, as a second writer is.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from ..errors import BriefQAError, ConfigError
from ..records import IngestReport
from ..settings import Settings
from ..store.local import lock_or_refuse

log = logging.getLogger(__name__)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_every(text: str) -> float:
    """Seconds in a duration such as ``90s``, ``30m``, ``1h30m`` or ``2h``."""
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([smhd])", text.strip().lower())
    if not parts or re.sub(r"(\d+(?:\.\d+)?)\s*([smhd])", "", text.strip().lower()).strip():
        raise ConfigError(f"'{text}' is not a duration; write it as 30m, 2h, 1h30m or 90s.")
    seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds < 1:
        raise ConfigError(f"'{text}' is shorter than a second; poll at most once a second.")
    return seconds


@contextlib.contextmanager
def watcher_lock(settings: Settings):
    """Be the only watcher of this index until the block ends, or raise :class:`IndexBusyError`."""
    key = hashlib.sha256(str(Path(settings.index).resolve() if "://" not in settings.index and not
                             settings.index.startswith("milvus-lite:") else settings.index).encode()).hexdigest()
    path = Path(settings.web_dir) / f".watch-{key[:16]}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        lock_or_refuse(fh, f"Another `briefqa watch` is keeping the index at {settings.index} current; stop it "
                           "first, or watch another index.")
        yield


def poll_line(report: IngestReport | None, error: str | None, seconds: float) -> str:
    """One line for one poll."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if error:
        return f"{stamp} poll failed after {seconds:.1f}s: {error} The index is as it was; retrying at the next poll."
    s = report.sources
    failed = sum(len(r.failed) for r in s)
    return (f"{stamp} poll: {len(s)} sources, {sum(r.added for r in s)} added, {sum(r.updated for r in s)} "
            f"updated, {sum(r.unchanged for r in s)} unchanged, {failed} failed; {report.documents} documents "
            f"in {seconds:.1f}s")


def watch(feeds: str | Path, settings: Settings, every: float, once: bool = False,
          echo: Callable[[str], None] = print, stop: Callable[[], bool] = lambda: False) -> int:
    """Poll ``feeds`` every ``every`` seconds (once with ``once``) until ``stop()``; returns the number of
    polls that failed."""
    from .pipeline import ingest
    from .web import read_feeds_file

    read_feeds_file(feeds)  # a broken feeds file is an error now, not at every poll
    failures = 0
    with watcher_lock(settings):
        while True:
            started = time.monotonic()
            try:
                report = ingest(settings=settings, feeds=feeds, progress=False)
                echo(poll_line(report, None, time.monotonic() - started))
                for r in report.sources:
                    if r.failed:
                        log.warning("%s", r.line())
            except BriefQAError as exc:
                failures += 1
                echo(poll_line(None, str(exc), time.monotonic() - started))
            if once:
                return failures
            while time.monotonic() < started + every:
                if stop():
                    return failures
                time.sleep(min(1.0, max(0.0, started + every - time.monotonic())))
