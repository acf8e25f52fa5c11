"""The chat page, served for real on 127.0.0.1: its backend, its API through gradio_client, and the page in
headless Chromium (Debian's chromium driven by Playwright)."""

import json
import os
import shutil
import signal
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import briefqa
from briefqa import ConfigError, load_settings
from briefqa.answering.llm import gguf_model, llama_worker
from briefqa.ui.chat import ChatBackend, exposure_check, render_answer, serve
from conftest import DEMO_CORPUS, free_port

CHROMIUM = Path("/usr/bin/chromium")
DEMO_QUESTION = "Why did Baku open an embassy in Tel Aviv now?"
NEW_ARTICLE = """---
title: Harbour cranes return to Valletta
source: Island Courier
published_at: 2023-12-02
---
Malta's main container port reopened its northern quay after a three-month refit of its cranes. The port
authority said the new cranes move forty boxes an hour, twice as many as before.
"""


@pytest.fixture(scope="module")
def chat_env(tmp_path_factory):
    """A private copy of the demo index (uploads change it), served on a free port."""
    root = tmp_path_factory.mktemp("chat")
    briefqa.ingest(DEMO_CORPUS, index=root / "index")
    settings = load_settings(index=str(root / "index"), port=free_port(), uploads_dir=str(root / "uploads"),
                             feedback_file=str(root / "feedback.jsonl"))
    app = serve(settings, block=False)
    yield settings, f"http://127.0.0.1:{settings.port}/"
    app.close()


def client(url):
    from gradio_client import Client

    return Client(url, verbose=False)


def reply_text(history) -> str:
    content = history[-1]["content"]
    return content if isinstance(content, str) else " ".join(c.get("text", "") for c in content)


# -- the backend, without a browser ------------------------------------------------------------------------------
def test_rendered_answers_link_markers_to_cards_with_the_sentence_marked(demo_index):
    qa = briefqa.BriefQA.open(demo_index)
    ans = qa.ask(DEMO_QUESTION)
    out = render_answer(ans)
    first = ans.citations[0]
    assert f"<a href='#src-{first.marker}' class='bq-cite'>[{first.marker}]</a>" in out
    assert f"bq-src-{first.marker}" in out and "<mark>" in out
    assert "Other retrieved passages" in out  # k=5 passages, fewer cited


def test_the_short_answer_is_bold_and_an_abstention_keeps_its_passages_as_related(demo_index):
    qa = briefqa.BriefQA.open(demo_index)
    ans = qa.ask("Who won the women's World Cup in 2023?", short_answer_threshold=0.01)
    assert ans.short_answer and render_answer(ans).startswith(f"<b class='bq-short'>{ans.short_answer}</b> — ")
    none = qa.ask("How many tourists visited the Caspian aquarium in 2019?")
    out = render_answer(none)
    assert none.abstained and "do not say" in out and "Related passages" in out


def test_a_follow_up_is_answered_knowing_the_bold_answers_of_the_conversation(demo_index):
    qa = briefqa.BriefQA.open(demo_index, short_answer_threshold=0.01)  # every span shown
    backend = ChatBackend(qa, load_settings(index=str(demo_index)))
    asked: list[tuple] = []
    stream = qa.stream
    qa.stream = lambda question, **kw: asked.append((question, kw["earlier_answers"])) or stream(question, **kw)
    state: dict = {}
    list(backend.respond("Who won the women's World Cup in 2023?", state))
    first = state["turns"][-1]["answer"].short_answer
    list(backend.respond("And who did they beat in the final?", state))
    list(backend.respond("Why did heat pump sales slow in 2023?", state))
    assert first and [earlier for _, earlier in asked] == [[], [first], []]  # only the follow-up is told
    assert state["turns"][1]["answer"].short_answer != first


def test_uploads_are_named_by_the_server_and_checked(tmp_path, demo_index):
    index = tmp_path / "index"
    shutil.copytree(demo_index, index)
    s = load_settings(index=str(index), uploads_dir=str(tmp_path / "up"), max_upload_mb=0.001)
    backend = ChatBackend(briefqa.BriefQA.open(index), s)
    evil = tmp_path / "..%2F..%2Fevil.md"
    evil.write_text(NEW_ARTICLE)
    big = tmp_path / "big.md"
    big.write_text(NEW_ARTICLE * 20)
    exe = tmp_path / "run.sh"
    exe.write_text("echo hi")
    msg = backend.add_files([str(evil), str(big), str(exe)])
    assert "Added 1 article" in msg and "big.md: larger than" in msg and "run.sh: not one of" in msg
    stored = list((tmp_path / "up").iterdir())
    assert len(stored) == 1 and stored[0].name.startswith("upload-") and "evil" not in stored[0].name
    assert any(row[1] == "Island Courier" for row in backend.documents())


def test_a_feed_or_page_url_typed_in_the_corpus_tab_is_fetched_and_ingested(tmp_path, demo_index, site):
    from webserver import STRIKE, page

    index = shutil.copytree(demo_index, tmp_path / "index")
    s = load_settings(environ={}, index=str(index), web_dir=str(tmp_path / "web"), allow_private_urls=True,
                      fetch_delay=0.0)
    backend = ChatBackend(briefqa.BriefQA.open(index), s)
    site.set("/strike", page("Harbour strike ends", "Ana Berg", "2023-11-05", STRIKE))
    msg = backend.add_url(f"{site.base}/strike")
    assert msg.startswith(f"{site.base}/strike: 1 added, 0 updated, 0 unchanged") and "now holds" in msg
    assert any(row[0] == "Harbour strike ends" for row in backend.documents())
    assert backend.qa.ask("How long did the harbour strike last?").citations  # the swapped-in index answers
    gone = backend.add_url(f"{site.base}/gone")
    assert gone.startswith("⚠️ Nothing was ingested: ") and "404" in gone and "\n" not in gone
    refused = ChatBackend(backend.qa, s.replace(allow_private_urls=False)).add_url(f"{site.base}/strike")
    assert "private address" in refused


# -- through gradio_client ----------------------------------------------------------------------------------------
def test_chat_endpoint_answers_with_sources_and_errors_are_friendly(chat_env):
    _, url = chat_env
    history, note, _ = client(url).predict(DEMO_QUESTION, api_name="/chat")
    text = reply_text(history)
    assert "bq-cite" in text and "Sources" in text and "Caspian Brief" in text and note == ""
    history, _, _ = client(url).predict("   ", api_name="/chat")
    assert reply_text(history).startswith("⚠️") and "empty" in reply_text(history)


def test_two_conversations_at_once_keep_their_own_context(chat_env):
    _, url = chat_env
    firsts = {"a": "Who won the women's World Cup in 2023?", "b": "Why did heat pump sales slow in 2023?"}
    notes: dict[str, str] = {}
    replies: dict[str, str] = {}

    def converse(key):
        c = client(url)
        history, _, _ = c.predict(firsts[key], api_name="/chat")
        history, note, _ = c.predict("and what about the final?" if key == "a" else "and why?", history,
                                     api_name="/chat")
        notes[key], replies[key] = note, reply_text(history)

    threads = [threading.Thread(target=converse, args=(k,)) for k in firsts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert "World Cup" in notes["a"] and "heat" not in notes["a"].lower()
    assert "heat" in notes["b"].lower() and "World Cup" not in notes["b"]
    assert "Spain" in replies["a"] and "heat pump" in replies["b"].lower()


def test_comments_are_stored_with_the_answer(chat_env):
    settings, url = chat_env
    c = client(url)
    c.predict("When did Turkey and Israel restore full diplomatic relations?", api_name="/chat")
    assert "saved" in c.predict("useful, thanks", api_name="/comment")[0]
    row = [json.loads(x) for x in Path(settings.feedback_file).read_text().splitlines()][-1]
    assert row["comment"] == "useful, thanks" and row["citations"] and row["answer"]


# -- in a real browser --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def page(chat_env):
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    _, url = chat_env
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        pg = browser.new_page(viewport={"width": 1300, "height": 1000})
        pg.on("request", lambda r: requests.append(r.url))
        pg.goto(url)
        pg.requests = requests
        yield pg
        browser.close()
    # Offline and private: every request the page made stayed on this machine.
    outside = [u for u in requests if not u.startswith(("http://127.0.0.1", "data:", "blob:"))]
    assert requests and not outside, outside


def ask(pg, question: str, answers_before: int):
    box = pg.locator("#bq-question textarea")
    box.fill(question)
    box.press("Enter")
    # Each answer ends with its source cards or a warning; wait for this answer's.
    pg.wait_for_function(
        "n => document.querySelectorAll('#bq-chat .bq-others, #bq-chat .bq-src-1').length > n "
        "|| document.querySelector('#bq-chat')?.innerText.includes('⚠️')", arg=answers_before, timeout=60_000)


def test_in_the_browser_ask_check_a_citation_follow_up_filter_and_upload(page, tmp_path):
    # The README's screenshots come from this test: BRIEFQA_SCREENSHOTS=docs python -m pytest tests/ui/test_chat.py
    shots = Path(os.environ.get("BRIEFQA_SCREENSHOTS") or tmp_path)
    pg = page
    ask(pg, DEMO_QUESTION, 0)
    assert "Caspian Brief" in pg.locator("#bq-chat").inner_text()
    # Open a citation: its card opens on the passage with the supporting sentence highlighted.
    assert not pg.locator("#bq-chat mark").first.is_visible()
    pg.locator("#bq-chat a.bq-cite").first.click()
    pg.locator("#bq-chat mark").first.wait_for(state="visible", timeout=5_000)
    pg.screenshot(path=str(shots / "chat.png"))

    # A follow-up is rewritten, and the rewrite is shown.
    count = pg.locator("#bq-chat .bq-others, #bq-chat .bq-src-1").count()
    ask(pg, "And how did Tehran react?", count)
    assert "Searched for" in pg.locator("#bq-rewrite").inner_text()
    assert "Baku" in pg.locator("#bq-rewrite").inner_text()
    pg.screenshot(path=str(shots / "chat-followup.png"))

    # A date filter: only articles published from 2023-09-01 on may be cited.
    pg.locator("#bq-from input, #bq-from textarea").first.fill("2023-09-01")
    count = pg.locator("#bq-chat .bq-others, #bq-chat .bq-src-1").count()
    ask(pg, "What did the European Central Bank decide about interest rates?", count)
    last = pg.locator("#bq-chat .message-row, #bq-chat [data-testid='bot']").last.inner_text()
    assert "2023-10-27" in last and "2023-01-24" not in last
    pg.locator("#bq-from input, #bq-from textarea").first.fill("")

    # Upload a new article on the Corpus tab, then ask about it.
    pg.get_by_role("tab", name="Corpus").click()
    article = tmp_path / "cranes.md"
    article.write_text(NEW_ARTICLE)
    pg.locator("#bq-docs").wait_for()
    pg.locator("#bq-files input[type=file]").set_input_files(str(article))
    time.sleep(1)
    pg.locator("#bq-ingest").click()
    pg.get_by_text("Added 1 article").wait_for(timeout=60_000)
    assert "Island Courier" in pg.locator("#bq-docs").inner_text()
    pg.screenshot(path=str(shots / "corpus.png"))
    pg.get_by_role("tab", name="Chat").click()
    count = pg.locator("#bq-chat .bq-others, #bq-chat .bq-src-1").count()
    ask(pg, "How many boxes an hour do the new cranes in Valletta move?", count)
    assert "forty boxes an hour" in pg.locator("#bq-chat").inner_text()


def test_in_the_browser_a_timeline_what_each_outlet_said_and_a_wire_copy(page, tmp_path):
    shots = Path(os.environ.get("BRIEFQA_SCREENSHOTS") or tmp_path)
    pg = page
    pg.get_by_role("tab", name="Timeline").click()
    box = pg.locator("#bq-story textarea")
    box.fill("Azerbaijan embassy in Israel")
    box.press("Enter")
    pg.locator("#bq-timeline li").first.wait_for(timeout=30_000)
    days = [li.inner_text()[:10] for li in pg.locator("#bq-timeline li.bq-tl").all()]
    assert len(days) >= 2 and days == sorted(days), days
    pg.screenshot(path=str(shots / "timeline.png"))

    # A republished copy of one article, uploaded, is listed with its original on the Corpus tab.
    original = (DEMO_CORPUS / "07-chip-export-controls.md").read_text(encoding="utf-8")
    copy = tmp_path / "copy.md"
    copy.write_text(original.replace("source: Tech Policy Notes", "source: Wire Daily")
                    .replace("published_at: 2023-10-20", "published_at: 2023-10-21")
                    .replace("---\nOn 17", "---\nWire Daily, independent news every day.\n\nOn 17"))
    pg.get_by_role("tab", name="Corpus").click()
    pg.locator("#bq-files input[type=file]").set_input_files(str(copy))
    time.sleep(1)
    pg.locator("#bq-ingest").click()
    pg.get_by_text("Added 1 article").wait_for(timeout=60_000)
    pg.locator("#bq-copies").get_by_text("Wire Daily").first.wait_for(timeout=30_000)
    listed = pg.locator("#bq-copies").inner_text()
    assert "Wire Daily" in listed and "Tech Policy Notes" in listed

    # What each outlet said: one line per publication, each cited.
    pg.get_by_role("tab", name="Chat").click()
    pg.locator("#bq-by-source input").check()
    count = pg.locator("#bq-chat .bq-others, #bq-chat .bq-src-1").count()
    ask(pg, "What did Caspian Brief and Levant Monitor report about the embassy in Tel Aviv?", count)
    last = pg.locator("#bq-chat .message-row, #bq-chat [data-testid='bot']").last.inner_text()
    assert "Caspian Brief, 20" in last and "Levant Monitor, 20" in last and "As of 20" in last
    pg.locator("#bq-by-source input").uncheck()


# -- exposure and login ---------------------------------------------------------------------------------------
def test_serving_beyond_loopback_without_a_login_needs_an_explicit_flag():
    with pytest.raises(ConfigError, match=r"without a login; set auth_user .* --public-without-login"):
        exposure_check(load_settings(environ={}, host="0.0.0.0"))
    warning = exposure_check(load_settings(environ={}, host="0.0.0.0", public_without_login=True))
    assert "without a login" in warning and "anyone who reaches this port" in warning
    assert exposure_check(load_settings(environ={}, host="0.0.0.0", auth_user="staff", auth_password="pw")) is None
    assert exposure_check(load_settings(environ={})) is None


def test_with_a_login_set_uploads_and_the_ingest_endpoint_need_it(demo_index, tmp_path):
    from gradio_client import Client, handle_file

    index = shutil.copytree(demo_index, tmp_path / "index")
    settings = load_settings(environ={}, index=str(index), port=free_port(), uploads_dir=str(tmp_path / "up"),
                             feedback_file=str(tmp_path / "fb.jsonl"), auth_user="staff", auth_password="pw")
    app = serve(settings, block=False)
    base = f"http://127.0.0.1:{settings.port}"
    try:
        body = b'--x\r\nContent-Disposition: form-data; name="files"; filename="a.md"\r\n\r\nhello\r\n--x--\r\n'
        for path, data, kind in [("/gradio_api/upload", body, "multipart/form-data; boundary=x"),
                                 ("/gradio_api/call/ingest", b'{"data": [[]]}', "application/json"),
                                 ("/gradio_api/call/fetch", b'{"data": ["https://example.org/feed.xml"]}',
                                  "application/json")]:
            request = urllib.request.Request(base + path, data=data, headers={"Content-Type": kind})
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=10)
            assert refused.value.code == 401, path
        with pytest.raises(Exception, match="credentials were not provided"):
            Client(base + "/", verbose=False)
        article = tmp_path / "cranes.md"
        article.write_text(NEW_ARTICLE)
        signed_in = Client(base + "/", auth=("staff", "pw"), verbose=False)
        assert "Added 1 article" in signed_in.predict([handle_file(str(article))], api_name="/ingest")[0]
        assert not any((tmp_path / "up").glob("*a.md*"))  # the refused upload was not stored
    finally:
        app.close()


# -- the embedded LLM dying under the chat ------------------------------------------------------------------------
@pytest.mark.slow
def test_the_llm_worker_dying_mid_answer_costs_that_answer_one_sentence_and_every_session_carries_on(chat_env):
    settings, url = chat_env
    worker = llama_worker(gguf_model(settings.llm_model), settings.llm_context, settings.llm_threads)
    before = worker.tokens
    replies: dict[str, str] = {}

    def converse(name, **kwargs):
        history, _, _ = client(url).predict(DEMO_QUESTION, api_name="/chat", **kwargs)
        replies[name] = reply_text(history)

    llm = threading.Thread(target=converse, args=("llm",), kwargs={"answer_mode": "llm"})
    llm.start()
    deadline = time.monotonic() + 120
    while worker.tokens == before and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(worker.pid, signal.SIGILL)  # what an AMX build gets on a host that advertises but forbids AMX
    other = threading.Thread(target=converse, args=("extractive",))  # another session, meanwhile
    other.start()
    for t in (llm, other):
        t.join(180)
    assert replies["llm"].startswith("⚠️ The embedded LLM stopped (signal 4: illegal instruction"), replies["llm"]
    assert "extractive answers still work" in replies["llm"]
    assert "Caspian Brief" in replies["extractive"]
    converse("again", answer_mode="llm")  # the worker is back for the next question
    assert not replies["again"].startswith("⚠️"), replies["again"]
