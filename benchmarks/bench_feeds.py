"""Feeds and pages: what fetching costs over ingesting the same pages saved as files.

    python benchmarks/bench_feeds.py ../shared/data/multihop-rag/ [--pages 100] [--runs 3]

A local HTTP server (127.0.0.1, the standard library's) serves ``--pages`` MultiHop-RAG articles as HTML pages
and an RSS feed listing them, with ETags. Per run, alternating:

1. **files**: the same pages saved as ``.html`` files, ``briefqa.ingest`` into a new index (the baseline);
2. **feed**: ``briefqa.ingest(FEED_URL)`` into a new index: the feed, then each page fetched, archived and
   ingested (no delay between requests: the server is ours);
3. **poll**: the same feed again, nothing changed: its time, and how many pages were fetched again (0 is the
   target: the feed's items are known by link and date).

Prints a table of medians over ``--runs`` and the ratio feed / files of pages per second. Both ingests embed
with onnx-int8 so that only the fetching differs.
"""

from __future__ import annotations

import argparse
import html
import json
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def page_html(article: dict) -> str:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in article["body"].split("\n") if p.strip())
    title = html.escape(article["title"])
    return (f"<!doctype html><html><head><title>{title}</title><meta property='og:title' content='{title}'>"
            f"<meta property='og:site_name' content='{html.escape(article.get('source', ''))}'>"
            f"<meta property='article:published_time' content='{article.get('published_at', '')}'></head>"
            f"<body><article><h1>{title}</h1>{body}</article></body></html>")


def serve(pages: dict[str, bytes], fetched: list[str]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            fetched.append(self.path)
            body = pages.get(self.path)
            if body is None:
                self.send_response(404)
                self.end_headers()
                return
            etag = f'"{hash(body) & 0xFFFFFFFF:x}"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.end_headers()
                return
            self.send_response(200)
            kind = "application/rss+xml" if self.path.endswith(".xml") else "text/html; charset=utf-8"
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", help="the MultiHop-RAG directory (corpus.json)")
    ap.add_argument("--pages", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    import briefqa

    articles = json.loads((Path(args.data) / "corpus.json").read_text(encoding="utf-8"))[:args.pages]
    pages = {f"/a/{i}": page_html(a).encode() for i, a in enumerate(articles)}
    fetched: list[str] = []
    server = serve(pages, fetched)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    stamp = format_datetime(datetime(2023, 11, 1, tzinfo=UTC))
    items = "".join(f"<item><title>{html.escape(a['title'])}</title><link>{base}/a/{i}</link>"
                    f"<pubDate>{stamp}</pubDate></item>" for i, a in enumerate(articles))
    pages["/feed.xml"] = (f"<?xml version='1.0'?><rss version='2.0'><channel><title>Bench</title>{items}"
                          "</channel></rss>").encode()
    common = {"embed_runtime": "onnx-int8", "allow_private_urls": True, "fetch_delay": 0.0}
    rows: dict[str, list[float]] = {"files": [], "feed": [], "poll": []}
    refetched = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "saved"
        folder.mkdir()
        for path, body in pages.items():
            if path.startswith("/a/"):
                (folder / f"{path.rsplit('/', 1)[1]}.html").write_bytes(body)
        # Warm-up: load the embedder and trafilatura once, outside the timings.
        briefqa.ingest([next(folder.iterdir())], index=f"{tmp}/warm", progress=False, **common)
        for run in range(args.runs):
            t = time.perf_counter()
            briefqa.ingest([folder], index=f"{tmp}/files-{run}", progress=False, **common)
            rows["files"].append(time.perf_counter() - t)
            opts = {**common, "index": f"{tmp}/feed-{run}", "web_dir": f"{tmp}/web-{run}"}
            t = time.perf_counter()
            report = briefqa.ingest([f"{base}/feed.xml"], progress=False, **opts)
            rows["feed"].append(time.perf_counter() - t)
            assert report.sources[0].added == len(articles), report.sources[0].line()
            before = len(fetched)
            t = time.perf_counter()
            briefqa.ingest([f"{base}/feed.xml"], progress=False, **opts)
            rows["poll"].append(time.perf_counter() - t)
            refetched.append(sum(1 for p in fetched[before:] if p.startswith("/a/")))
            print(f"run {run + 1}/{args.runs}: files {rows['files'][-1]:.1f}s, feed {rows['feed'][-1]:.1f}s, "
                  f"poll {rows['poll'][-1]:.2f}s", file=sys.stderr)
    server.shutdown()
    n = len(articles)
    files, feed, poll = (statistics.median(rows[k]) for k in ("files", "feed", "poll"))
    print(f"\n{n} pages, medians of {args.runs} runs, 2 cores\n")
    print("| what | seconds | pages/s |\n|---|---|---|")
    print(f"| ingest of the pages saved as .html files (baseline) | {files:.2f} | {n / files:.1f} |")
    print(f"| ingest of the feed: fetch, archive, extract, ingest | {feed:.2f} | {n / feed:.1f} |")
    print(f"| poll of the unchanged feed ({max(refetched)} pages fetched again) | {poll:.2f} | – |")
    print(f"\nfeed / files, pages per second: {files / feed:.2f} (the fetch's overhead: {feed / files - 1:+.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
