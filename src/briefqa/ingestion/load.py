"""Load articles from files into clean :class:`~briefqa.records.Document` records.

Analysts bring scraped pages, Markdown notes and JSON dumps. Whatever the format, what gets indexed must be
the article and only the article: page furniture ("Skip to main content", reading times, "Live Story",
photo captions with their credits, "Follow him on Twitter") would otherwise be retrieved and cited. Cleaning
drops whole furniture lines and never rewrites the article's own characters, because evidence and citations
are matched against passages as exact substrings.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import CorpusError, DocumentError
from ..records import Document, Skipped

log = logging.getLogger(__name__)

#: File types ingest reads; anything else under a directory is ignored (and named when given explicitly).
SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl")
#: Metadata sidecar for a plain-text file: ``article.txt`` + ``article.meta.json``.
META_SUFFIX = ".meta.json"

_BODY_KEYS = ("body", "text", "content")
_DATE_KEYS = ("published_at", "published", "date", "pubDate")

# Lines that are page furniture wherever they appear (compared lower-cased, without trailing punctuation).
_FURNITURE = {
    "skip to main content", "skip to content", "skip to navigation", "live story", "advertisement",
    "share", "share this article", "share this", "read more", "related", "related articles", "most read",
    "sign up", "subscribe", "newsletter", "comments", "print", "email", "menu", "search", "close",
    "listen to this article", "continue reading", "back to top", "open in app",
}
_FURNITURE_RES = [
    re.compile(r"^\d+\s*(min|mins|minute|minutes)\s+read$", re.I),  # "6 min read"
    re.compile(r"^(follow|find) (him|her|them|us|me) on (twitter|x|facebook|instagram|linkedin|mastodon)\b",
               re.I),
    re.compile(r"^(photo|image|picture)( credit)?:", re.I),
    re.compile(r"^(updated|published|last updated)\s*:?\s*\d", re.I),
]
# A caption is a short line that ends with a bracketed photo credit: "... in the war. [Getty]".
_CAPTION_RE = re.compile(r"\[(?:[A-Z][\w.&/' -]{0,40})\]\s*$")
_CAPTION_MAX_WORDS = 40


def parse_date(value: Any) -> str | None:
    """ISO 8601 for any usual way of writing a publication date; ``None`` when there is none.

    A date alone stays a date (``2023-01-19``); a time keeps its offset, UTC when the source says ``Z``.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value).strip()
    # MultiHop-RAG writes nanoseconds ("08:45:59.000000000Z"), which no parser takes: keep microseconds.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    text = re.sub(r"Z$", "+00:00", text)
    from dateutil import parser as dateparser

    try:
        parsed = dateparser.parse(text, dayfirst=False, default=datetime(1900, 1, 1))
    except (ValueError, OverflowError):
        return None
    if parsed.year == 1900 and "1900" not in text:
        return None
    has_time = bool(re.search(r"\d{1,2}:\d{2}", text))
    if not has_time:
        return parsed.date().isoformat()
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.isoformat()


def _norm_line(line: str) -> str:
    return re.sub(r"\s+", " ", line).strip().strip(".:|").strip().lower()


def _is_date_line(line: str) -> bool:
    stripped = line.strip()
    return (len(stripped) <= 40 and bool(re.search(r"\d{4}", stripped))
            and not re.search(r"[.!?]\s", stripped) and parse_date(stripped) is not None
            and len(re.findall(r"[A-Za-z]+", stripped)) <= 3)


def is_furniture(line: str, title: str = "") -> bool:
    """Whether a whole line is page furniture rather than article text."""
    norm = _norm_line(line)
    if not norm:
        return False
    if norm in _FURNITURE or any(r.search(norm) for r in _FURNITURE_RES):
        return True
    if title and norm == _norm_line(title.lstrip("#")):
        return True
    return bool(_CAPTION_RE.search(line) and len(line.split()) <= _CAPTION_MAX_WORDS)


def clean_text(raw: str, title: str = "") -> tuple[str, dict[str, str]]:
    """The article without its page furniture, paragraphs separated by blank lines, and what the removed
    lines told about the article (a title, a date) for metadata the caller lacks.

    Lines are dropped whole or kept whole: kept characters are never altered.
    """
    raw = raw.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    lines = [ln.rstrip() for ln in raw.split("\n")]
    found: dict[str, str] = {}
    if not title:
        # A scraped page starts with its title, often twice; the first real line is the best guess.
        first = next((ln for ln in lines if ln.strip() and not is_furniture(ln)), "")
        if first and len(first.split()) <= 25 and not first.rstrip().endswith("."):
            title = first.strip().lstrip("#").strip()
            found["title"] = title
    kept: list[str] = []
    seen_text = False
    for line in lines:
        if not line.strip():
            kept.append("")
            continue
        if is_furniture(line, title):
            continue
        if not seen_text and _is_date_line(line):
            # The dateline near the top of a scrape is metadata, not prose.
            found.setdefault("published_at", parse_date(line) or "")
            continue
        seen_text = True
        kept.append(line.strip())
    text = "\n".join(kept)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    # Paragraphs are separated by a blank line even where the scrape had single newlines between them.
    text = re.sub(r"(?<=\S)\n(?=\S)", "\n\n", text)
    return text, {k: v for k, v in found.items() if v}


def _record_to_document(rec: dict[str, Any], origin: str, defaults: dict[str, Any] | None = None) -> Document:
    if not isinstance(rec, dict):
        raise DocumentError(f"{origin} is not a JSON object; records need a 'body' or 'text' field.")
    meta = {**(defaults or {}), **rec}
    body = next((meta[k] for k in _BODY_KEYS if isinstance(meta.get(k), str) and meta[k].strip()), None)
    if body is None:
        raise DocumentError(f"{origin} has no 'body' or 'text'; add the article text under one of them.")
    title = str(meta.get("title") or "").strip()
    text, found = clean_text(body, title)
    if not text:
        raise DocumentError(f"{origin} has no article text after cleaning; check that it holds an article.")
    date_raw = next((meta[k] for k in _DATE_KEYS if meta.get(k)), None)
    return Document(
        text=text,
        title=title or found.get("title", ""),
        author=(str(meta["author"]).strip() or None) if meta.get("author") else None,
        source=str(meta.get("source") or meta.get("sitename") or "").strip(),
        published_at=parse_date(date_raw) or found.get("published_at"),
        url=str(meta.get("url")).strip() if meta.get("url") else None,
        origin=origin,
        fetched_at=str(meta["fetched_at"]) if meta.get("fetched_at") else None,
    )


def _load_json(path: Path) -> list[Document]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DocumentError(f"{path} is not valid JSON (line {exc.lineno}: {exc.msg}); fix or remove it.") \
            from None
    records = data if isinstance(data, list) else data.get("documents", [data]) if isinstance(data, dict) else None
    if records is None:
        raise DocumentError(f"{path} holds neither a JSON object nor a list of them; fix or remove it.")
    return [_record_to_document(rec, f"{path}#{i}") for i, rec in enumerate(records)]


def _load_jsonl(path: Path) -> Iterator[Document | Skipped]:
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            origin = f"{path}#{lineno - 1}"
            try:
                yield _record_to_document(json.loads(line), origin)
            except json.JSONDecodeError as exc:
                yield Skipped(origin, f"line {lineno} of {path} is not valid JSON ({exc.msg})")
            except DocumentError as exc:
                yield Skipped(origin, str(exc))


def _load_markdown(path: Path) -> Document:
    import frontmatter

    try:
        post = frontmatter.loads(path.read_text(encoding="utf-8"))
    except Exception as exc:  # the YAML parser raises many types; all mean "front matter is broken"
        raise DocumentError(f"{path} has unreadable front matter ({type(exc).__name__}); fix its YAML.") \
            from None
    meta = dict(post.metadata)
    meta["body"] = post.content
    return _record_to_document(meta, str(path))


def _load_html(path: Path) -> Document:
    import trafilatura

    html = path.read_text(encoding="utf-8", errors="replace")
    text = trafilatura.extract(html, include_comments=False, include_tables=False, include_images=False,
                               favor_precision=True, output_format="txt")
    if not text or not text.strip():
        raise DocumentError(f"{path} has no main text that trafilatura could find; is it an article page?")
    meta = trafilatura.extract_metadata(html)
    rec: dict[str, Any] = {"body": text}
    if meta is not None:
        rec.update(title=meta.title, author=meta.author, source=meta.sitename, published_at=meta.date,
                   url=meta.url)
    rec = {k: v for k, v in rec.items() if v}
    # A page fetched from the web (briefqa.ingestion.web) has what its feed and its fetch said beside it.
    return _record_to_document({**rec, **_sidecar(path)}, str(path))


def _sidecar(path: Path) -> dict[str, Any]:
    """The metadata in ``article.meta.json`` beside ``article.txt`` or ``article.html``, if any."""
    sidecar = path.with_name(path.name.removesuffix(path.suffix) + META_SUFFIX)
    if not sidecar.is_file():
        return {}
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        log.warning("ignoring %s: not valid JSON", sidecar)
        return {}
    return {k: v for k, v in meta.items() if k not in _BODY_KEYS} if isinstance(meta, dict) else {}


def _load_text(path: Path) -> Document:
    meta = _sidecar(path)
    meta["body"] = path.read_text(encoding="utf-8")
    return _record_to_document(meta, str(path))


def load_file(path: str | Path, max_bytes: int | None = None) -> Iterator[Document | Skipped]:
    """The documents of one file, or one :class:`Skipped` naming why the file cannot be used."""
    path = Path(path).resolve()
    suffix = path.suffix.lower()
    try:
        if max_bytes is not None and path.stat().st_size > max_bytes:
            raise DocumentError(f"{path} is larger than {max_bytes / 1e6:.0f} MB; raise max_file_mb or split it.")
        if suffix == ".jsonl":
            yield from _load_jsonl(path)
            return
        if suffix == ".json":
            yield from _load_json(path)
            return
        if suffix in (".md", ".markdown"):
            yield _load_markdown(path)
        elif suffix in (".html", ".htm"):
            yield _load_html(path)
        elif suffix == ".txt":
            yield _load_text(path)
        else:
            raise DocumentError(f"{path} is not a supported type; use one of {', '.join(SUFFIXES)}.")
    except UnicodeDecodeError:
        yield Skipped(str(path), f"{path} is not UTF-8 text; convert it to UTF-8.")
    except OSError as exc:
        yield Skipped(str(path), f"{path} cannot be read ({exc.strerror or exc}).")
    except DocumentError as exc:
        yield Skipped(str(path), str(exc))


def collect_files(paths: Iterable[str | Path]) -> list[Path]:
    """The article files named by ``paths`` (files, or directories searched recursively), sorted, deduplicated.

    Raises :class:`CorpusError` when a path does not exist or no article file is found at all.
    """
    files: dict[Path, None] = {}
    paths = [Path(p) for p in paths]
    if not paths:
        raise CorpusError("No corpus path given; name files or directories of articles to ingest.")
    for p in paths:
        if not p.exists():
            raise CorpusError(f"Corpus path {p} does not exist; check the path.")
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if (f.is_file() and f.suffix.lower() in SUFFIXES and not f.name.endswith(META_SUFFIX)
                        and not any(part.startswith(".") for part in f.relative_to(p).parts)):
                    files[f.resolve()] = None
        else:
            files[p.resolve()] = None
    if not files:
        raise CorpusError(f"No article files ({', '.join(SUFFIXES)}) under {', '.join(map(str, paths))}; "
                          "add some or name another path.")
    return list(files)


def origin_file(origin: str) -> str:
    """The file part of a document origin (``path#record`` → ``path``)."""
    return origin.split("#", 1)[0]
