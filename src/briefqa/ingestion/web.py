"""Feeds and article pages as ingest sources: fetch what is new, keep it on disk, hand it to ingest as files.

An analyst's news arrives as RSS/Atom feeds and article URLs. This module turns them into archived HTML files
that :mod:`briefqa.ingestion.pipeline` ingests like any other file, so a page fetched from the web and the
same page saved by hand give the same text, and an index can be rebuilt from the archive without the
network.

The archive (``web_dir``, by default ``corpus/web``) holds one directory per article, named after a hash of
its canonical URL (its identity): each distinct version of the page as ``<content hash>.html`` with a
``.meta.json`` sidecar (URL, when and where it was fetched, what the feed said of it), and a hidden
``.state.json`` with the validators (ETag, Last-Modified) for the next conditional request. A page that
changed gets a new version beside the old one, and both are ingested: the old stays as an update in the
story cluster (:mod:`briefqa.news.copies`). A feed's state (its validators, and the entries already seen
with their dates) sits in ``.feeds/``. An entry whose link and date the feed already showed is not fetched
again; a page asked for by URL is fetched conditionally. Nothing is written where a URL or a name chooses:
every file name is a hash.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import re
import tomllib
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import FetchError
from ..records import SourceReport
from ..settings import Settings
from ..store.local import atomic_write
from .fetch import Fetcher, Response
from .load import META_SUFFIX

log = logging.getLogger(__name__)

_FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/xml",
               "text/xml", "application/x-rss+xml")
_PAGE_TYPES = ("text/html", "application/xhtml+xml")


class FeedSource(BaseModel):
    """One entry of a feeds file: a feed or a page, the publication's name, which items to take."""

    model_config = ConfigDict(extra="forbid")

    url: str
    name: str | None = None  # the publication, in place of the site's own name
    include: list[str] = []  # glob patterns over an item's URL or title; none: every item
    exclude: list[str] = []


def is_url(text: str) -> bool:
    return bool(re.match(r"^[a-z][a-z0-9+.-]*://", str(text), re.I))


def read_feeds_file(path: str | Path) -> list[FeedSource]:
    """The sources of a TOML feeds file: ``[[feed]]`` tables of ``url``, ``name``, ``include``, ``exclude``."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FetchError(f"The feeds file {path} does not exist; check the path.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FetchError(f"The feeds file {path} is not valid TOML ({exc}); fix it.") from None
    unknown = sorted(set(data) - {"feed"})
    if unknown:
        raise FetchError(f"The feeds file {path} has an unknown key '{unknown[0]}'; list sources as [[feed]] "
                         "tables with url, name, include and exclude.")
    sources = []
    for i, entry in enumerate(data.get("feed", []), 1):
        try:
            source = FeedSource.model_validate(entry)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "entry"
            raise FetchError(f"Feed {i} of {path}: {where}: {err['msg']}; a feed has url, name, include and "
                             "exclude.") from None
        if not is_url(source.url) or urlsplit(source.url).scheme not in ("http", "https"):
            raise FetchError(f"Feed {i} of {path} has the URL '{source.url}', which is not http(s); fix it.")
        sources.append(source)
    if not sources:
        raise FetchError(f"The feeds file {path} lists no [[feed]]; add one with a url.")
    return sources


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _write_json(path: Path, data: dict) -> None:
    atomic_write(path, json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8"))


@dataclass
class Page:
    """One article page as fetched: its HTML and what is known of it besides."""

    url: str  # canonical
    html: bytes
    meta: dict[str, Any]


@dataclass
class Poll:
    """What one run over the sources fetched: the new archive files to ingest, and a report per source."""

    files: list[Path] = field(default_factory=list)
    reports: list[SourceReport] = field(default_factory=list)
    commit: list = field(default_factory=list)  # state writes to make once the files are ingested


class Archive:
    """The web archive under ``root`` (see the module's docstring)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._canonical: dict[str, str] | None = None  # urls.json, read once per run

    def article_dir(self, canonical: str) -> Path:
        host = re.sub(r"[^a-z0-9.-]", "_", (urlsplit(canonical).hostname or "host").lower())[:80]
        return self.root / host / _key(canonical)

    def page_state(self, canonical: str) -> dict:
        return _read_json(self.article_dir(canonical) / ".state.json")

    def feed_state_path(self, url: str) -> Path:
        return self.root / ".feeds" / f"{_key(url)}.json"

    def canonical_of(self, url: str) -> str | None:
        """The canonical URL a fetched ``url`` turned out to have, if it was fetched before."""
        if self._canonical is None:
            self._canonical = _read_json(self.root / ".feeds" / "urls.json")
        return self._canonical.get(url)

    def store(self, page: Page, response: Response) -> tuple[Path | None, str, list]:
        """Keep ``page`` as a version of its article unless that exact text is kept already: the new file
        (or None), "added", "updated" or "unchanged", and the state writes to make once it is ingested."""
        folder = self.article_dir(page.url)
        state = self.page_state(page.url)
        digest = hashlib.sha256(page.html).hexdigest()[:16]
        versions = state.get("versions", [])
        new_state = {"url": page.url, "etag": response.etag, "last_modified": response.last_modified,
                     "fetched_at": page.meta["fetched_at"],
                     "versions": versions + ([digest] if digest not in versions else [])}
        writes = [(folder / ".state.json", new_state)]
        if digest in versions:
            return None, "unchanged", writes
        target = folder / f"{digest}.html"
        atomic_write(target, page.html)
        _write_json(folder / f"{digest}{META_SUFFIX}", page.meta)
        return target, "updated" if versions else "added", writes

    def remember_url(self, url: str, canonical: str, writes: list) -> None:
        path = self.root / ".feeds" / "urls.json"
        writes.append((path, {url: canonical}))

    @staticmethod
    def commit(writes: list) -> None:
        """Write the states once the pages are in the index: an ingest that failed fetches them again."""
        merged: dict[Path, dict] = {}
        for path, data in writes:
            if path.name == "urls.json":
                merged.setdefault(path, _read_json(path)).update(data)
            else:
                merged[path] = data
        for path, data in merged.items():
            _write_json(path, data)


# -- pages ----------------------------------------------------------------------------------------------
def extract_meta(html: bytes, url: str) -> dict[str, Any]:
    """What trafilatura reads of a page: its title, author, date, site name and canonical URL."""
    import trafilatura

    meta = trafilatura.extract_metadata(html.decode("utf-8", errors="replace"), default_url=url)
    if meta is None:
        return {}
    return {k: v for k, v in {"title": meta.title, "author": meta.author, "published_at": meta.date,
                              "source": meta.sitename, "url": meta.url}.items() if v}


def fetch_page(fetcher: Fetcher, archive: Archive, url: str, hint: dict[str, Any], name: str | None,
               poll: Poll) -> str:
    """Fetch one article page into the archive (conditionally, when it was fetched before); returns "added",
    "updated" or "unchanged"."""
    known = archive.canonical_of(url)
    state = archive.page_state(known) if known else {}
    response = fetcher.get(url, state.get("etag"), state.get("last_modified"))
    if response.status == 304:
        return "unchanged"
    return keep_page(archive, url, response, hint, name, poll)


def keep_page(archive: Archive, url: str, response: Response, hint: dict[str, Any], name: str | None,
              poll: Poll) -> str:
    """Keep the page ``response`` (asked for as ``url``) in the archive; returns "added", "updated" or
    "unchanged". :class:`FetchError` when it is not an HTML page."""
    kind = response.content_type
    if kind == "application/pdf" or response.body[:5] == b"%PDF-":
        raise FetchError(f"{url} is a PDF, not an HTML page; save its text as a file and ingest that.")
    if kind and kind not in _PAGE_TYPES:
        raise FetchError(f"{url} is {kind}, neither an HTML page nor a feed; briefqa ingests article pages and "
                         "RSS or Atom feeds.")
    found = extract_meta(response.body, response.url)
    canonical = found.get("url") or response.url
    # The page's own metadata first; the feed's fills what the page lacks; a name from the user wins.
    meta = {**{k: v for k, v in hint.items() if v}, **found, "url": canonical, "fetched_from": url,
            "fetched_at": _now()}
    if name:
        meta["source"] = name
    path, outcome, writes = archive.store(Page(canonical, response.body, meta), response)
    archive.remember_url(url, canonical, writes)
    poll.commit.extend(writes)
    if path is not None:
        poll.files.append(path)
    return outcome


# -- feeds ----------------------------------------------------------------------------------------------
def _looks_like_feed(response: Response) -> bool:
    head = response.body[:400].lstrip().lower()
    return (response.content_type in _FEED_TYPES or head.startswith(b"<?xml") or head.startswith(b"<rss")
            or head.startswith(b"<feed") or b"<rdf:rdf" in head)


def _entries(url: str, body: bytes) -> tuple[str, list[dict[str, Any]]]:
    """The feed's title and its items (link, title, date, author), or :class:`FetchError` for a broken feed."""
    import feedparser

    parsed = feedparser.parse(body)
    items = []
    for e in parsed.entries:
        link = e.get("link")
        if not link:
            continue
        with warnings.catch_warnings():  # feedparser warns that "updated" may fall back to "published": wanted
            warnings.simplefilter("ignore", DeprecationWarning)
            date = e.get("updated") or e.get("published")
            published = e.get("published") or e.get("updated")
        items.append({"url": link, "title": e.get("title"), "author": e.get("author"), "published_at": published,
                      "date": date})
    if parsed.bozo and not items:  # feedparser reads what it can of a broken feed; nothing usable is an error
        exc = parsed.get("bozo_exception")
        reason = getattr(exc, "getMessage", lambda: str(exc))()
        raise FetchError(f"{url} is not a well-formed RSS or Atom feed ({reason}); check the feed's URL.")
    return parsed.feed.get("title", ""), items


def _wanted(item: dict, source: FeedSource) -> bool:
    fields = [item["url"], item.get("title") or ""]

    def hit(patterns):
        return any(fnmatch.fnmatch(f, p) for p in patterns for f in fields)

    return (not source.include or hit(source.include)) and not hit(source.exclude)


def poll_source(fetcher: Fetcher, archive: Archive, source: FeedSource, poll: Poll) -> SourceReport:
    """Fetch one feed's new items, or one page, into the archive; never raises for what a site does."""
    report = SourceReport(source.url)
    try:
        _poll(fetcher, archive, source, poll, report)
    except FetchError as exc:
        report.failed.append(str(exc))
    return report


def _poll(fetcher: Fetcher, archive: Archive, source: FeedSource, poll: Poll, report: SourceReport) -> None:
    state_path = archive.feed_state_path(source.url)
    state = _read_json(state_path)
    response = fetcher.get(source.url, state.get("etag"), state.get("last_modified"))
    if response.status == 304:
        report.unchanged += 1 if state.get("page") else len(state.get("seen", {}))
        return
    if not _looks_like_feed(response):  # an article page given by its URL
        _page_by_url(archive, source, response, poll, report)
        return
    title, items = _entries(source.url, response.body)
    seen = dict(state.get("seen", {}))
    for item in (i for i in items if _wanted(i, source)):
        if item["url"] in seen and seen[item["url"]] == item["date"]:
            report.unchanged += 1
            continue
        try:
            hint = {"title": item["title"], "author": item["author"], "published_at": item["published_at"],
                    "source": title}
            outcome = fetch_page(fetcher, archive, item["url"], hint, source.name, poll)
        except FetchError as exc:
            report.failed.append(str(exc))
            continue
        setattr(report, outcome, getattr(report, outcome) + 1)
        seen[item["url"]] = item["date"]
    poll.commit.append((state_path, {"url": source.url, "etag": response.etag,
                                     "last_modified": response.last_modified, "fetched_at": _now(),
                                     "title": title, "seen": seen}))


def _page_by_url(archive: Archive, source: FeedSource, response: Response, poll: Poll,
                 report: SourceReport) -> None:
    """An article page given by its URL (not found in a feed), already fetched as ``response``."""
    outcome = keep_page(archive, source.url, response, {}, source.name, poll)
    # The next run asks for the page conditionally, with these validators.
    poll.commit.append((archive.feed_state_path(source.url), {"url": source.url, "etag": response.etag,
                                                             "last_modified": response.last_modified,
                                                             "fetched_at": _now(), "page": True}))
    setattr(report, outcome, getattr(report, outcome) + 1)


def fetch_sources(sources: list[FeedSource], settings: Settings) -> Poll:
    """Fetch every source into the archive at ``settings.web_dir``: what to ingest, and a report per source."""
    archive = Archive(settings.web_dir)
    poll = Poll()
    with Fetcher(settings) as fetcher:
        for source in sources:
            report = poll_source(fetcher, archive, source, poll)
            poll.reports.append(report)
            log.info("%s", report.line())
    return poll
