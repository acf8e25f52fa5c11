"""Loading and cleaning: the article and only the article, its characters untouched."""

import json

import pytest

from briefqa import CorpusError, Skipped, clean_text, load_file
from briefqa.ingestion.load import collect_files, parse_date
from conftest import SEED_ARTICLE, squash


def load_one(path):
    items = list(load_file(path))
    assert len(items) == 1, items
    return items[0]


def test_seed_scrape_loses_its_page_furniture_and_keeps_the_article(seed_queries):
    doc = load_one(SEED_ARTICLE)
    for furniture in ("Skip to main content", "Live Story", "[Getty]", "6 min read", "Follow him on Twitter"):
        assert furniture not in doc.text
    assert doc.text.count("Why Azerbaijan is moving closer to Israel") == 0  # the title lines are metadata
    assert doc.text.startswith("Analysis: The recent deepening")
    assert doc.text.endswith("Giorgio Cafiero is the CEO of Gulf State Analytics.")
    # Curly quotes stay curly and the scrape's no-break space stays too: evidence is matched as substrings.
    assert "Israel’s chief diplomat called\u00a0Azerbaijan “a close friend" in doc.text
    for q in seed_queries:
        for evidence in q["evidence"]:
            assert squash(evidence) in squash(doc.text), evidence


def test_seed_metadata_comes_from_the_sidecar():
    doc = load_one(SEED_ARTICLE)
    assert (doc.title, doc.author, doc.source, doc.published_at) == (
        "Why Azerbaijan is moving closer to Israel", "Giorgio Cafiero", "The New Arab", "2023-01-19")


def test_plain_text_without_metadata_takes_title_and_date_from_the_page(tmp_path):
    page = tmp_path / "page.txt"
    page.write_text("Skip to main content\n\nA Quiet Harbour\n4 min read\n3 March, 2021\n\nThe harbour was quiet. "
                    "Boats stayed in.\n\nA photo of the harbour. [AFP]\n", encoding="utf-8")
    doc = load_one(page)
    assert doc.title == "A Quiet Harbour"
    assert doc.published_at == "2021-03-03"
    assert doc.text == "The harbour was quiet. Boats stayed in."


@pytest.mark.parametrize(("raw", "iso"), [
    ("2023-11-27 08:45:59.000000000Z", "2023-11-27T08:45:59+00:00"),
    ("2023-09-28T12:00:00+00:00", "2023-09-28T12:00:00+00:00"),
    ("19 January, 2023", "2023-01-19"),
    ("2023-01-19", "2023-01-19"),
    ("not a date", None),
    (None, None),
])
def test_dates_are_parsed_to_iso_8601(raw, iso):
    assert parse_date(raw) == iso


def test_markdown_front_matter_is_metadata(tmp_path):
    md = tmp_path / "note.md"
    md.write_text("---\ntitle: Grain deal\nsource: Desk\npublished_at: 2023-07-17\nurl: https://example.org/g\n---\n"
                  "Russia left the grain deal. Prices rose.\n", encoding="utf-8")
    doc = load_one(md)
    assert (doc.title, doc.source, doc.published_at, doc.url) == (
        "Grain deal", "Desk", "2023-07-17", "https://example.org/g")
    assert doc.text == "Russia left the grain deal. Prices rose."


def test_html_keeps_the_main_text_and_drops_navigation(tmp_path):
    body = " ".join(f"Paragraph {i} explains the new tariff rules for steel imports in some detail." for i in range(8))
    page = tmp_path / "a.html"
    page.write_text(
        "<html><head><title>Steel tariffs explained</title><meta name='author' content='Ann Lee'>"
        "<meta property='og:site_name' content='Metal Weekly'></head><body>"
        "<nav><a href='/'>Home</a> <a href='/news'>News</a> <a href='/login'>Sign in</a></nav>"
        f"<article><h1>Steel tariffs explained</h1><p>{body}</p><p>Exporters expect talks in spring.</p></article>"
        "<footer>Share this article on Facebook. Copyright Metal Weekly.</footer></body></html>", encoding="utf-8")
    doc = load_one(page)
    assert "Exporters expect talks in spring." in doc.text
    assert "Sign in" not in doc.text and "Copyright" not in doc.text
    assert doc.title == "Steel tariffs explained"
    assert doc.source == "Metal Weekly"


def test_multihop_records_load_as_they_are(tmp_path):
    rec = {"title": "T", "author": None, "source": "The Verge", "published_at": "2023-11-27 08:45:59.000000000Z",
           "category": "tech", "url": "https://example.org/t", "body": "One fact. Another fact."}
    path = tmp_path / "corpus.json"
    path.write_text(json.dumps([rec, rec | {"title": "U", "body": "Third fact."}]), encoding="utf-8")
    docs = list(load_file(path))
    assert [d.title for d in docs] == ["T", "U"]
    assert docs[0].published_at == "2023-11-27T08:45:59+00:00" and docs[0].author is None
    assert docs[1].origin.endswith("corpus.json#1")


def test_a_malformed_jsonl_line_is_skipped_and_named(tmp_path):
    path = tmp_path / "more.jsonl"
    path.write_text('{"title": "A", "text": "Alpha text."}\n{oops\n{"title": "C"}\n', encoding="utf-8")
    items = list(load_file(path))
    assert items[0].title == "A"
    assert isinstance(items[1], Skipped) and "line 2" in items[1].reason
    assert isinstance(items[2], Skipped) and "no 'body' or 'text'" in items[2].reason


def test_unreadable_files_are_skipped_with_a_reason(tmp_path):
    binary = tmp_path / "x.txt"
    binary.write_bytes(b"\xff\xfe\x00bad")
    bad_json = tmp_path / "y.json"
    bad_json.write_text("[{", encoding="utf-8")
    for path, words in ((binary, "not UTF-8"), (bad_json, "not valid JSON")):
        (item,) = list(load_file(path))
        assert isinstance(item, Skipped) and words in item.reason and str(path) in item.reason


def test_collecting_an_empty_or_missing_corpus_is_an_error(tmp_path):
    with pytest.raises(CorpusError, match="No article files"):
        collect_files([tmp_path])
    with pytest.raises(CorpusError, match="does not exist"):
        collect_files([tmp_path / "nowhere"])


def test_cleaning_drops_lines_whole_and_never_edits_them():
    text, found = clean_text("Title here\n\nFirst line stays exactly “as is”.\nLive Story\nSecond stays.", "Title here")
    assert text == "First line stays exactly “as is”.\n\nSecond stays."
    assert found == {}
