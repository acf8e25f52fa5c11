"""A real HTTP server on 127.0.0.1 for the tests of feeds and pages: hand-written RSS feeds and article pages,
with ETags, robots.txt, a slow page, a 50 MB one and redirects, and a record of what it was asked."""

import contextlib
import http.server
import threading
import time


def page(title: str, author: str, date: str, paragraphs: list[str], canonical: str = "") -> str:
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (f"<!doctype html><html><head><title>{title} | Harbour Times</title>{link}"
            f'<meta property="og:title" content="{title}"><meta name="author" content="{author}">'
            f'<meta property="article:published_time" content="{date}">'
            f'<meta property="og:site_name" content="Harbour Times"></head><body><nav>Home | World | Sport</nav>'
            f"<article><h1>{title}</h1>{body}</article><footer>© Harbour Times</footer></body></html>")


STRIKE = ["The harbour strike ended on Sunday after nine days of talks between the union and the port authority.",
          "Dock workers accepted a pay rise of six percent over two years, the union's leader Maria Lindqvist said.",
          "Ferries to the islands resumed on Monday morning, and shops expected fresh food by the evening.",
          "The port authority said the deal would cost it about four million euros a year."]
FERRY = ["The island ferry company ordered two electric ships from a yard in Turku on Tuesday.",
         "The ships will carry four hundred passengers each and enter service in the spring of 2026.",
         "The company said the order would halve its fuel bill and its emissions within three years.",
         "Unions welcomed the order, which keeps the crews' jobs on the island routes."]
VOLCANO = ["A volcano erupted on the Reykjanes peninsula late on Monday, lighting the night sky.",
           "Lava flowed towards the fishing town of Grindavik, which had been evacuated in November.",
           "Scientists said the eruption could last for weeks and that flights were not affected.",
           "The blue lagoon spa nearby closed its doors until further notice."]


def rss(base: str, items: list[tuple[str, str, str]]) -> str:
    entries = "".join(f"<item><title>{t}</title><link>{base}{path}</link><pubDate>{d}</pubDate>"
                      f"<author>desk@harbour.example (News desk)</author></item>" for path, t, d in items)
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Harbour Times</title>'
            f"<link>{base}/</link><description>News</description>{entries}</channel></rss>")


class Site:
    """What the server serves: path -> (status, content type, body, headers), and what it was asked."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple] = {}
        self.requests: list[tuple[str, dict]] = []

    def set(self, path, body, kind="text/html; charset=utf-8", status=200, headers=None):
        self.routes[path] = (status, kind, body.encode() if isinstance(body, str) else body, headers or {})

    def asked(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)


@contextlib.contextmanager
def serve_site():
    """Serve a :class:`Site` on a free port of 127.0.0.1 until the block ends."""
    state = Site()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def do_GET(self):
            state.requests.append((self.path, dict(self.headers)))
            if self.path == "/slow":
                time.sleep(3)
            if self.path == "/huge":  # announces 50 MB; briefqa must not download it
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(50_000_000))
                self.end_headers()
                try:
                    for _ in range(50):
                        self.wfile.write(b"x" * 1_000_000)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                return
            status, kind, body, headers = state.routes.get(self.path, (404, "text/plain", b"not found", {}))
            etag = headers.get("ETag")
            if etag and self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client that gave up
                self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    state.set("/robots.txt", "User-agent: *\nDisallow: /private/\n", kind="text/plain")
    yield state
    server.shutdown()


