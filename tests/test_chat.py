"""The chat page, served for real on 127.0.0.1: through gradio_client and through headless Chromium."""

import socket
import threading
import time
from pathlib import Path

import pytest

from briefqa import load_settings
from briefqa.chat import serve

CHROMIUM = Path("/usr/bin/chromium")
DOCS = Path(__file__).parent.parent / "docs"
DEMO_QUESTION = "Why did Baku open an embassy in Tel Aviv now?"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def chat_url(demo_index):
    port = free_port()
    app = serve(load_settings(index=str(demo_index), port=port), block=False)
    yield f"http://127.0.0.1:{port}/"
    app.close()


def test_chat_endpoint_answers_with_sources(chat_url):
    from gradio_client import Client

    client = Client(chat_url, verbose=False)
    reply = client.predict(DEMO_QUESTION, api_name="/chat_fn")
    assert "[1]" in reply or "[2]" in reply
    assert "**Sources**" in reply and "Caspian Brief" in reply


def test_chat_errors_are_friendly(chat_url):
    from gradio_client import Client

    reply = Client(chat_url, verbose=False).predict("   ", api_name="/chat_fn")
    assert reply.startswith("⚠️") and "empty" in reply and "Traceback" not in reply


def test_two_conversations_at_once_get_their_own_answers(chat_url):
    from gradio_client import Client

    questions = {"a": "Who won the women's World Cup in 2023?", "b": "Why did heat pump sales slow in 2023?"}
    replies = {}

    def ask(key):
        replies[key] = Client(chat_url, verbose=False).predict(questions[key], api_name="/chat_fn")

    threads = [threading.Thread(target=ask, args=(k,)) for k in questions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert "Spain" in replies["a"] and "heat pump" not in replies["a"].lower()
    assert "heat" in replies["b"].lower() and "Spain" not in replies["b"]


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (apt-get install chromium)")
def test_the_page_in_a_real_browser_stays_on_this_machine(chat_url):
    from playwright.sync_api import sync_playwright

    requests = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("request", lambda r: requests.append(r.url))
        page.goto(chat_url)
        box = page.get_by_role("textbox").first
        box.fill(DEMO_QUESTION)
        box.press("Enter")
        page.get_by_text("Sources").first.wait_for(timeout=60_000)
        time.sleep(0.5)
        page.screenshot(path=str(DOCS / "chat.png"), full_page=True)
        assert page.get_by_text("Caspian Brief").first.is_visible()
        browser.close()
    assert requests and all(u.startswith(("http://127.0.0.1", "data:", "blob:")) for u in requests), \
        [u for u in requests if not u.startswith("http://127.0.0.1")]
