"""Feeds and article pages as ingest sources (briefqa.ingestion.web, fetch, watch), against a real HTTP server
the tests start on 127.0.0.1, serving hand-written RSS and Atom feeds and article pages."""

import json
import subprocess
import sys

import pytest
from webserver import FERRY, STRIKE, VOLCANO, page, rss

import briefqa
from briefqa.errors import FetchError, IndexBusyError
from briefqa.ingestion.watch import parse_every, watcher_lock
from briefqa.ingestion.web import read_feeds_file
from briefqa.settings import load_settings
from briefqa.store.location import open_store
from conftest import one_clear_error


@pytest.fixture
def opts(tmp_path):
    return {"index": str(tmp_path / "ix"), "web_dir": str(tmp_path / "web"), "allow_private_urls": True,
            "fetch_delay": 0.0, "fetch_timeout": 1.0, "embed_runtime": "onnx-int8"}


def documents(index: str) -> dict:
    return open_store(index).documents


def test_a_feed_ingests_each_items_page_with_its_url_and_fetch_time_and_a_second_poll_fetches_nothing(site, opts):
    site.set("/feed.xml", rss(site.base, [("/strike", "Harbour strike ends", "Sun, 05 Nov 2023 10:00:00 GMT"),
                                          ("/ferry", "Ferries go electric", "Tue, 07 Nov 2023 09:00:00 GMT")]),
             kind="application/rss+xml")
    site.set("/strike", page("Harbour strike ends", "Ana Berg", "2023-11-05", STRIKE))
    site.set("/ferry", page("Ferries go electric", "", "2023-11-07", FERRY))
    report = briefqa.ingest([f"{site.base}/feed.xml"], **opts)
    assert [(s.added, s.updated, s.unchanged, s.failed) for s in report.sources] == [(2, 0, 0, [])]
    assert report.summary().splitlines()[0] == f"{site.base}/feed.xml: 2 added, 0 updated, 0 unchanged"
    docs = {d.title: d for d in documents(opts["index"]).values()}
    assert set(docs) == {"Harbour strike ends", "Ferries go electric"}
    assert docs["Harbour strike ends"].url == f"{site.base}/strike" and docs["Harbour strike ends"].fetched_at
    assert docs["Harbour strike ends"].author == "Ana Berg" and docs["Harbour strike ends"].source == "Harbour Times"
    assert docs["Ferries go electric"].published_at.startswith("2023-11-07")
    # A named user agent asked; robots.txt was read once.
    assert all(h.get("User-Agent", "").startswith("briefqa/") for _, h in site.requests)
    assert site.asked("/robots.txt") == 1

    again = briefqa.ingest([f"{site.base}/feed.xml"], **opts)
    assert [(s.added, s.unchanged) for s in again.sources] == [(0, 2)] and again.chunks_embedded == 0
    assert site.asked("/strike") == 1 and site.asked("/ferry") == 1


def test_a_new_item_is_added_and_a_changed_page_is_kept_beside_its_earlier_version(site, opts):
    feed = [("/strike", "Harbour strike ends", "Sun, 05 Nov 2023 10:00:00 GMT")]
    site.set("/feed.xml", rss(site.base, feed), kind="application/rss+xml")
    site.set("/strike", page("Harbour strike ends", "Ana Berg", "2023-11-05", STRIKE))
    briefqa.ingest([f"{site.base}/feed.xml"], **opts)
    site.set("/strike", page("Harbour strike ends", "Ana Berg", "2023-11-05",
                             [*STRIKE, "Update: the first ferry left at six in the morning, full of lorries."]))
    site.set("/volcano", page("Volcano erupts", "Jon Olafsson", "2023-12-19", VOLCANO))
    feed = [("/strike", "Harbour strike ends", "Mon, 06 Nov 2023 08:00:00 GMT"),
            ("/volcano", "Volcano erupts", "Tue, 19 Dec 2023 22:00:00 GMT")]
    site.set("/feed.xml", rss(site.base, feed), kind="application/rss+xml")
    report = briefqa.ingest([f"{site.base}/feed.xml"], **opts)
    assert [(s.added, s.updated, s.unchanged) for s in report.sources] == [(1, 1, 0)]
    docs = documents(opts["index"])
    strike = [d for d in docs.values() if d.title == "Harbour strike ends"]
    assert len(strike) == 2 and strike[0].cluster and strike[0].cluster == strike[1].cluster  # one story
    assert len(docs) == 3


def test_a_page_by_url_is_asked_for_conditionally_and_an_etag_answers_304(site, opts):
    site.set("/strike", page("Harbour strike ends", "Ana Berg", "2023-11-05", STRIKE), headers={"ETag": '"v1"'})
    first = briefqa.ingest([f"{site.base}/strike"], **opts)
    assert first.sources[0].added == 1
    second = briefqa.ingest([f"{site.base}/strike"], **opts)
    assert [(s.added, s.unchanged) for s in second.sources] == [(0, 1)]
    assert site.requests[-1][1].get("If-None-Match") == '"v1"'


def test_an_atom_feed_is_read_too(site, opts):
    atom = (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Nordic '
            f'Post</title><id>urn:np</id><updated>2023-12-19T22:00:00Z</updated><entry><title>Volcano erupts'
            f'</title><link href="{site.base}/volcano"/><id>urn:v</id><updated>2023-12-19T22:00:00Z</updated>'
            f"</entry></feed>")
    site.set("/atom.xml", atom, kind="application/atom+xml")
    site.set("/volcano", page("Volcano erupts", "Jon Olafsson", "2023-12-19", VOLCANO))
    report = briefqa.ingest([f"{site.base}/atom.xml"], **opts)
    assert report.sources[0].added == 1 and report.documents == 1


def test_a_page_fetched_gives_the_text_the_same_html_gives_as_a_file(site, opts, tmp_path):
    html = page("Volcano erupts", "Jon Olafsson", "2023-12-19", VOLCANO)
    site.set("/volcano", html)
    briefqa.ingest([f"{site.base}/volcano"], **opts)
    saved = tmp_path / "volcano.html"
    saved.write_text(html, encoding="utf-8")
    briefqa.ingest([saved], **{**opts, "index": str(tmp_path / "files")})
    assert set(documents(opts["index"])) == set(documents(str(tmp_path / "files")))  # ids are text hashes


@pytest.mark.parametrize(("path", "setup", "reason"), [
    ("/gone", None, "answered 404"),
    ("/slow", None, "did not answer within 1 s"),
    ("/huge", None, "50 MB, more than fetch_max_mb"),
    ("/report.pdf", ("%PDF-1.7 binary", "application/pdf"), "is a PDF"),
    ("/private/memo", (page("Memo", "", "2023-11-01", STRIKE), "text/html"), "robots.txt"),
    ("/loop", None, "redirects more than 5 times"),
])
def test_each_failing_item_gives_one_line_and_the_others_are_ingested(site, opts, path, setup, reason):
    if setup:
        site.set(path, setup[0], kind=setup[1])
    site.set("/loop", "", status=302, headers={"Location": "/loop"})
    site.set("/strike", page("Harbour strike ends", "Ana Berg", "2023-11-05", STRIKE))
    site.set("/feed.xml", rss(site.base, [("/strike", "Harbour strike ends", "Sun, 05 Nov 2023 10:00:00 GMT"),
                                          (path, "Other", "Sun, 05 Nov 2023 11:00:00 GMT")]),
             kind="application/rss+xml")
    report = briefqa.ingest([f"{site.base}/feed.xml"], **opts)
    (source,) = report.sources
    assert source.added == 1 and len(source.failed) == 1 and reason in source.failed[0], source.failed
    assert f"failed: {site.base}{path}" in source.line()


def test_a_malformed_feed_fails_alone_and_keeps_the_index_as_it_was(site, opts):
    site.set("/strike", page("Harbour strike ends", "Ana Berg", "2023-11-05", STRIKE))
    briefqa.ingest([f"{site.base}/strike"], **opts)
    before = set(documents(opts["index"]))
    site.set("/bad.xml", '<?xml version="1.0"?><rss><channel><title>Broken</title><item><title>x</chan',
             kind="application/rss+xml")
    with pytest.raises(FetchError, match="not a well-formed RSS or Atom feed"):
        briefqa.ingest([f"{site.base}/bad.xml"], **opts)
    assert set(documents(opts["index"])) == before


def test_private_addresses_are_refused_unless_allowed(site, opts):
    site.set("/strike", page("Harbour strike ends", "Ana Berg", "2023-11-05", STRIKE))
    with pytest.raises(FetchError, match="loopback, link-local or private address"):
        briefqa.ingest([f"{site.base}/strike"], **{**opts, "allow_private_urls": False})
    assert site.requests == []  # refused before any request
    with pytest.raises(FetchError, match="not an http"):
        briefqa.ingest(["ftp://127.0.0.1/feed.xml"], **opts)


def test_a_feeds_file_names_publications_and_filters_items(site, opts, tmp_path):
    site.set("/feed.xml", rss(site.base, [("/strike", "Harbour strike ends", "Sun, 05 Nov 2023 10:00:00 GMT"),
                                          ("/ferry", "Ferries go electric", "Tue, 07 Nov 2023 09:00:00 GMT")]),
             kind="application/rss+xml")
    site.set("/strike", page("Harbour strike ends", "Ana Berg", "2023-11-05", STRIKE))
    site.set("/ferry", page("Ferries go electric", "", "2023-11-07", FERRY))
    feeds = tmp_path / "feeds.toml"
    feeds.write_text(f'[[feed]]\nurl = "{site.base}/feed.xml"\nname = "The Harbour"\nexclude = ["*ferry*"]\n')
    briefqa.ingest(feeds=feeds, **opts)
    assert [(d.title, d.source) for d in documents(opts["index"]).values()] == [("Harbour strike ends",
                                                                                 "The Harbour")]
    assert site.asked("/ferry") == 0


@pytest.mark.parametrize(("text", "message"), [
    ('[[feed]]\nurl = "https://example.org/feed.xml"\ncolour = "red"\n', "colour"),
    ('[[feed]]\nurl = "example.org/feed.xml"\n', "which is not http"),
    ('[[feeds]]\nurl = "https://example.org/feed.xml"\n', "unknown key 'feeds'"),
    ("[[feed]\n", "not valid TOML"),
])
def test_a_wrong_feeds_file_is_one_clear_error(tmp_path, text, message):
    feeds = tmp_path / "feeds.toml"
    feeds.write_text(text)
    with pytest.raises(FetchError, match=message):
        read_feeds_file(feeds)


def run_cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "briefqa.ui.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def cli_opts(opts: dict) -> list[str]:
    return ["--index", opts["index"], "--web-dir", opts["web_dir"], "--allow-private-urls", "--fetch-delay", "0",
            "--embed-runtime", "onnx-int8"]


def test_the_cli_ingests_a_url_lists_its_documents_and_fails_with_one_line(site, opts, tmp_path):
    site.set("/strike", page("Harbour strike ends", "Ana Berg", "2023-11-05", STRIKE))
    out = run_cli("ingest", f"{site.base}/strike", *cli_opts(opts))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == f"{site.base}/strike: 1 added, 0 updated, 0 unchanged"
    info = run_cli("info", "--index", opts["index"], "--documents", "--json")
    (doc,) = json.loads(info.stdout)["documents_list"]
    assert doc["url"] == f"{site.base}/strike" and doc["fetched_at"].startswith("20")
    one_clear_error(run_cli("ingest", f"{site.base}/gone", *cli_opts(opts)), "Nothing was ingested: ", "404")
    unknown = tmp_path / "feeds.toml"
    unknown.write_text('[[feed]]\nurl = "https://example.org/x"\nevery = "5m"\n')
    one_clear_error(run_cli("watch", "--feeds", str(unknown), "--once", *cli_opts(opts)), "every")
    assert len(documents(opts["index"])) == 1  # what was indexed stays


def test_watch_polls_once_logging_one_line_and_a_second_watcher_is_refused(site, opts, tmp_path):
    site.set("/feed.xml", rss(site.base, [("/strike", "Harbour strike ends", "Sun, 05 Nov 2023 10:00:00 GMT")]),
             kind="application/rss+xml")
    site.set("/strike", page("Harbour strike ends", "Ana Berg", "2023-11-05", STRIKE))
    feeds = tmp_path / "feeds.toml"
    feeds.write_text(f'[[feed]]\nurl = "{site.base}/feed.xml"\n')
    out = run_cli("watch", "--feeds", str(feeds), "--once", *cli_opts(opts))
    assert out.returncode == 0, out.stderr
    assert " poll: 1 sources, 1 added, 0 updated, 0 unchanged, 0 failed; 1 documents" in out.stdout
    settings = load_settings(None).replace(**opts)
    with watcher_lock(settings):
        busy = run_cli("watch", "--feeds", str(feeds), "--once", *cli_opts(opts))
    assert busy.returncode == 1 and "Another `briefqa watch`" in busy.stderr


def test_a_poll_that_fails_keeps_the_index_and_the_next_one_catches_up(site, opts, tmp_path):
    from briefqa.ingestion.watch import watch

    feeds = tmp_path / "feeds.toml"
    feeds.write_text(f'[[feed]]\nurl = "{site.base}/feed.xml"\n')
    lines: list[str] = []
    settings = load_settings(None).replace(**opts)
    assert watch(feeds, settings, 1.0, once=True, echo=lines.append) == 1  # the feed is not there yet
    assert "poll failed" in lines[-1] and "retrying at the next poll" in lines[-1]
    site.set("/feed.xml", rss(site.base, [("/strike", "Harbour strike ends", "Sun, 05 Nov 2023 10:00:00 GMT")]),
             kind="application/rss+xml")
    site.set("/strike", page("Harbour strike ends", "Ana Berg", "2023-11-05", STRIKE))
    assert watch(feeds, settings, 1.0, once=True, echo=lines.append) == 0
    assert " 1 added," in lines[-1] and len(documents(opts["index"])) == 1


def test_durations_read_as_people_write_them():
    assert (parse_every("30m"), parse_every("1h30m"), parse_every("90s"), parse_every("2h")) == (1800, 5400, 90,
                                                                                               7200)
    with pytest.raises(briefqa.ConfigError, match="not a duration"):
        parse_every("soon")


def test_two_watchers_of_one_index_cannot_both_hold_the_lock(opts):
    settings = load_settings(None).replace(**opts)
    with watcher_lock(settings), pytest.raises(IndexBusyError), watcher_lock(settings):
        pass
