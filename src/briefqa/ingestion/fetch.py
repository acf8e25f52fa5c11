"""Fetching web pages politely and safely: the one place briefqa talks HTTP.

Feeds and article URLs are fetched only because the user named them, and a fetch must never surprise the
sites or the machine: a named user agent; robots.txt obeyed (and its crawl delay); one request at a time with
a delay between two to the same host; timeouts; a size cap read as the body streams in; redirects followed a
bounded number of times; http and https only. Addresses on loopback, link-local and private ranges are
refused unless ``allow_private_urls`` is set (they reach this machine and the office network, not the news),
and that check is made again at every redirect. Conditional requests (ETag, Last-Modified) let a page that
did not change cost one short 304 reply.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from urllib.parse import urljoin, urlsplit

from ..errors import FetchError
from ..settings import Settings

#: What briefqa calls itself to the sites it fetches from.
USER_AGENT = f"briefqa/{version('briefqa')} (news-analysis archive; fetches only what its user names)"


@dataclass
class Response:
    """A fetched resource: ``status`` 304 means "not modified" and has no body."""

    url: str  # after redirects
    status: int
    body: bytes = b""
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class Fetcher:
    """One polite HTTP client for a run (a poll): it remembers each host's robots.txt and last request."""

    settings: Settings
    _robots: dict[str, object] = field(default_factory=dict)
    _last: dict[str, float] = field(default_factory=dict)
    _client: object = None

    def __enter__(self) -> Fetcher:
        import httpx

        s = self.settings
        self._client = httpx.Client(follow_redirects=False, timeout=httpx.Timeout(s.fetch_timeout),
                                    headers={"User-Agent": s.user_agent or USER_AGENT}, trust_env=False)
        return self

    def __exit__(self, *exc) -> None:
        self._client.close()

    def get(self, url: str, etag: str | None = None, last_modified: str | None = None) -> Response:
        """GET ``url`` (conditionally when ``etag`` or ``last_modified`` is given), following redirects.
        Raises :class:`FetchError` with one sentence naming what went wrong."""
        seen = [url]
        for _ in range(self.settings.fetch_max_redirects + 1):
            self.check_url(url)
            if not self._allowed(url):
                raise FetchError(f"{url} is disallowed by robots.txt of {_origin(url)}; briefqa does not fetch it.")
            headers = {}
            if etag:
                headers["If-None-Match"] = etag
            if last_modified:
                headers["If-Modified-Since"] = last_modified
            response = self._request(url, headers)
            if response.status not in (301, 302, 303, 307, 308):
                return response
            url = urljoin(url, response.url)  # a redirect's Location
            seen.append(url)
        raise FetchError(f"{seen[0]} redirects more than {self.settings.fetch_max_redirects} times (last to "
                         f"{seen[-1]}); is it a redirect loop?")

    def check_url(self, url: str) -> None:
        """Refuse what is not http(s), and addresses on private ranges unless allowed."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError(f"{url} is not an http(s) URL; give one that starts with https://.")
        if self.settings.allow_private_urls:
            return
        for address in _addresses(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80), url):
            ip = ipaddress.ip_address(address.split("%")[0])
            if not ip.is_global or ip.is_multicast:
                raise FetchError(f"{url} points at {ip}, a loopback, link-local or private address; briefqa "
                                 "fetches only public addresses unless allow_private_urls is set.")

    # -- politeness ------------------------------------------------------------------------------------
    def _wait(self, host: str, delay: float) -> None:
        last = self._last.get(host)
        if last is not None:
            time.sleep(max(0.0, last + delay - time.monotonic()))
        self._last[host] = time.monotonic()

    def _allowed(self, url: str) -> bool:
        origin = _origin(url)
        if origin not in self._robots:
            self._robots[origin] = self._read_robots(origin)
        robots = self._robots[origin]
        return robots is None or robots.can_fetch(url, self.settings.user_agent or USER_AGENT)

    def _read_robots(self, origin: str):
        """The site's robots.txt rules; None (everything allowed) when it has none. A robots.txt that cannot
        be read for another reason (a server error, a timeout) is read as "disallow all", as Google does."""
        from protego import Protego

        try:
            response = self._request(f"{origin}/robots.txt", {}, robots=True)
        except FetchError:
            return Protego.parse("User-agent: *\nDisallow: /")
        if response.status >= 500:
            return Protego.parse("User-agent: *\nDisallow: /")
        if response.status != 200:
            return None  # 4xx: no rules
        return Protego.parse(response.body.decode("utf-8", errors="replace"))

    def _delay(self, host_origin: str) -> float:
        robots = self._robots.get(host_origin)
        crawl = robots.crawl_delay(self.settings.user_agent or USER_AGENT) if robots is not None else None
        return max(self.settings.fetch_delay, float(crawl or 0.0))

    # -- one request ------------------------------------------------------------------------------------
    def _request(self, url: str, headers: dict, robots: bool = False) -> Response:
        import httpx

        origin = _origin(url)
        self._wait(origin, self.settings.fetch_delay if robots else self._delay(origin))
        cap = int(self.settings.fetch_max_mb * 1e6)
        try:
            with self._client.stream("GET", url, headers=headers) as r:
                if r.status_code in (301, 302, 303, 307, 308):
                    return Response(r.headers.get("location", url), r.status_code)
                if r.status_code == 304:
                    return Response(url, 304, etag=r.headers.get("etag"),
                                    last_modified=r.headers.get("last-modified"))
                if r.status_code >= 400 and not robots:
                    raise FetchError(f"{url} answered {r.status_code} {r.reason_phrase}; check the URL.")
                declared = int(r.headers.get("content-length") or 0)
                if declared > cap:
                    raise FetchError(f"{url} is {declared / 1e6:.0f} MB, more than fetch_max_mb "
                                     f"({self.settings.fetch_max_mb:g}); briefqa did not download it.")
                body = bytearray()
                for chunk in r.iter_bytes():
                    body += chunk
                    if len(body) > cap:
                        raise FetchError(f"{url} is larger than fetch_max_mb ({self.settings.fetch_max_mb:g} "
                                         "MB); briefqa stopped downloading it.")
                return Response(str(r.url), r.status_code, bytes(body),
                                r.headers.get("content-type", "").split(";")[0].strip().lower(),
                                r.headers.get("etag"), r.headers.get("last-modified"))
        except httpx.TimeoutException:
            raise FetchError(f"{url} did not answer within {self.settings.fetch_timeout:g} s "
                             "(fetch_timeout); it is tried again at the next poll.") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"{url} could not be fetched ({type(exc).__name__}: {exc}); check the URL "
                             "and the network.") from None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _addresses(host: str, port: int, url: str) -> list[str]:
    try:
        return sorted({info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})
    except socket.gaierror:
        raise FetchError(f"The host of {url} ({host}) is not known; check the URL.") from None
