"""The chat page: Gradio over :class:`~briefqa.api.BriefQA`, served on 127.0.0.1 by default.

Staff judge briefqa by whether they can check an answer in a click. Each answer streams in, its ``[n]``
markers link to source cards under it (title, publication, date, link), and each card opens on the cited
passage with the supporting sentence highlighted; passages retrieved but not cited are one click away. A
follow-up is rewritten into a standalone question, and the rewrite is shown. Filters and answer settings
default to the library's settings. Staff can add articles (stored under names the server makes, then
ingested incrementally) and rate answers (kept in a JSON-lines file for evaluators).

The page holds no state between sessions: each browser session keeps its own conversation in ``gr.State``;
the loaded index is shared read-only and swapped whole after an upload.
"""


import hashlib
import html
import logging
import os
import re
import shutil
import sys
import threading
from pathlib import Path
from typing import Any

from ..answering.followup import standalone_question
from ..errors import BriefQAError, ConfigError
from ..ingestion.load import META_SUFFIX, SUFFIXES
from ..records import Answer
from ..settings import Settings
from .env import offline
from .feedback import append_feedback, feedback_record

log = logging.getLogger(__name__)

TITLE = "briefqa"
EXAMPLES = ["Why did Baku open an embassy in Tel Aviv now?", "And how did Tehran react?"]
CSS = """
.bq-src { border: 1px solid var(--border-color-primary); border-radius: 6px; padding: 4px 8px; margin: 4px 0; }
.bq-src summary { cursor: pointer; }
.bq-src mark { background: #fde68a; color: inherit; padding: 0 2px; }
.bq-passage { white-space: pre-wrap; font-size: 0.92em; margin: 6px 0; }
.bq-meta { color: var(--body-text-color-subdued); font-size: 0.85em; }
.bq-timeline li { margin: 10px 0; }
.bq-tl-said { margin: 4px 0 2px 0; }
"""
# A marker [n] opens and shows its source card in the same answer (ids repeat across answers, so the card is
# looked up next to the marker, not by id). Inline and local: the page loads nothing from elsewhere.
HEAD = """<script>
document.addEventListener("click", (event) => {
  const link = event.target.closest && event.target.closest("a.bq-cite");
  if (!link) return;
  event.preventDefault();
  const n = link.textContent.replace(/\\D/g, "");
  let scope = link.parentElement;
  while (scope && !scope.querySelector("details.bq-src")) scope = scope.parentElement;
  const card = scope && scope.querySelector("details.bq-src-" + n);
  if (card) { card.open = true; card.scrollIntoView({behavior: "smooth", block: "nearest"}); }
}, true);
</script>"""


# -- rendering ------------------------------------------------------------------------------------------------
def _highlight(passage_text: str, sentence: str) -> str:
    """The passage, escaped, with the supporting sentence wrapped in <mark>."""
    i = passage_text.find(sentence) if sentence else -1
    if i < 0:
        return html.escape(passage_text)
    j = i + len(sentence)
    return (html.escape(passage_text[:i]) + "<mark>" + html.escape(passage_text[i:j]) + "</mark>"
            + html.escape(passage_text[j:]))


def _card(marker: int, passage, sentence: str, open_: bool = False) -> str:
    m = passage.metadata
    date = (m.get("published_at") or "")[:10]
    link = f' · <a href="{html.escape(m["url"])}" target="_blank" rel="noopener">link</a>' if m.get("url") else ""
    head = (f"<b>[{marker}]</b> {html.escape(m.get('title') or 'Untitled')} "
            f"<span class='bq-meta'>— {html.escape(m.get('source') or '')}{', ' + date if date else ''}</span>")
    copies = ", ".join(f"{html.escape(c['source'])} ({(c.get('published_at') or 'undated')[:10]})"
                       for c in m.get("also_published_by", []))
    also = f"<div class='bq-meta bq-also'>Also published by {copies}</div>" if copies else ""
    return (f"<details class='bq-src bq-src-{marker}' id='src-{marker}'{' open' if open_ else ''}>"
            f"<summary>{head}</summary>{also}"
            f"<div class='bq-passage'>{_highlight(passage.text, sentence)}</div>{link}</details>")


def render_answer(answer: Answer) -> str:
    """The answer with linked markers, its cited sources, then the retrieved passages it did not cite."""
    text = html.escape(answer.text)
    short = html.escape(answer.short_answer or "")
    if short and text.startswith(short):  # the span asked for, first and in bold
        text = f"<b class='bq-short'>{short}</b>{text[len(short):]}"
    text = re.sub(r"\[(\d+)\]", r"<a href='#src-\1' class='bq-cite'>[\1]</a>", text)
    parts = [text.replace("\n", "<br>")]  # a by-source answer has a line per publication
    if answer.as_of:
        parts.append(f"<span class='bq-meta bq-asof'>As of {answer.as_of}.</span>")
    cited = {c.marker for c in answer.citations}
    if answer.citations:
        parts.append("\n\n**Sources**\n")
        parts += [_card(c.marker, c.passage, c.sentence) for c in answer.citations]
    others = [(i, p) for i, p in enumerate(answer.passages, 1) if i not in cited]
    if others:
        inner = "".join(_card(i, p, "") for i, p in others)
        label = "Related passages" if answer.abstained else "Other retrieved passages"
        parts.append(f"\n<details class='bq-others'><summary>{label} ({len(others)})</summary>"
                     f"{inner}</details>")
    return "\n".join(parts)


# -- the session logic (plain functions, so they can be tested without a browser) -------------------------------
class ChatBackend:
    """What the page calls: one shared, swappable :class:`BriefQA` and the settings it was opened with."""

    def __init__(self, qa, settings: Settings) -> None:
        self.qa = qa
        self.settings = settings
        # Two uploads in this server wait for each other; a writer in another process is refused by the index.
        self._ingest_lock = threading.Lock()

    def reload(self) -> None:
        """Swap in the index as saved; a question already running keeps the BriefQA it started with."""
        self.qa = _ready(self.settings)

    def respond(self, message: str, state: dict, sources=None, date_from=None, date_to=None, k=None,
                answer_mode=None, backend=None, by_source=False):
        """Yield (reply markdown, rewrite note) as the answer grows; record the turn in ``state``."""
        rewrite = standalone_question(message or "", state.get("questions", []))
        note = f"Searched for: *{html.escape(rewrite.question)}*" if rewrite.rewritten else ""
        overrides = {"k": int(k) if k else None, "answer_mode": answer_mode or None, "backend": backend or None}
        qa = self.qa
        # A follow-up asks something new: the bold answers the conversation gave are not its answer.
        earlier = [t["answer"].short_answer for t in state.get("turns", []) if t["answer"].short_answer] \
            if rewrite.rewritten else []
        try:
            stream = qa.stream(rewrite.question, sources=sources or None, date_from=date_from or None,
                               date_to=date_to or None, by_source=bool(by_source), earlier_answers=earlier,
                               **overrides)
            text = ""
            for token in stream:
                text += token
                yield html.escape(text), note
            answer = stream.answer
        except BriefQAError as exc:
            yield f"⚠️ {html.escape(str(exc))}", note
            return
        except Exception:  # a bug of ours: the user gets a sentence, the log gets the traceback
            log.exception("answering %r failed", rewrite.question)
            yield "⚠️ Something went wrong while answering; the server log has the details.", note
            return
        if not answer.passages:
            reply = "⚠️ Nothing relevant was found; try other words or fewer filters."
        else:
            reply = render_answer(answer)
        state.setdefault("questions", []).append(rewrite.question)
        state.setdefault("turns", []).append({"asked": message, "answer": answer,
                                              "settings": {**overrides, "sources": sources, "date_from": date_from,
                                                           "date_to": date_to}})
        yield reply, note

    def feedback(self, state: dict, turn: int, rating: str, comment: str = "") -> str:
        turns = state.get("turns", [])
        if not turns:
            return "Ask a question first; feedback is about an answer."
        t = turns[turn if -len(turns) <= turn < len(turns) else -1]
        append_feedback(self.settings.feedback_file,
                        feedback_record(t["answer"], rating, comment, asked=t["asked"], settings=t["settings"]))
        return f"Thanks: feedback saved ({rating})."

    def add_files(self, paths: list[str], progress=None) -> str:
        """Copy uploads under content-derived names, ingest them, and swap in the updated index."""
        from ..ingestion.pipeline import ingest

        if not paths:
            return "Choose one or more files first."
        limit = int(self.settings.max_upload_mb * 1e6)
        target = Path(self.settings.uploads_dir)
        target.mkdir(parents=True, exist_ok=True)
        stored, refused = [], []
        for p in paths:
            src = Path(p)
            suffix = src.suffix.lower()
            if suffix not in SUFFIXES or src.name.endswith(META_SUFFIX):
                refused.append(f"{src.name}: not one of {', '.join(SUFFIXES)}")
                continue
            if src.stat().st_size > limit:
                refused.append(f"{src.name}: larger than {self.settings.max_upload_mb:g} MB")
                continue
            digest = hashlib.sha256(src.read_bytes()).hexdigest()[:16]
            # The server names the file: an uploaded name never chooses where anything is written.
            dest = target / f"upload-{digest}{suffix}"
            tmp = dest.with_name(f".{dest.name}.part")
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
            stored.append(dest)
        lines = [f"refused {r}" for r in refused]
        if stored:
            with self._ingest_lock:
                try:
                    report = ingest(stored, settings=self.settings, progress=progress is not None)
                except BriefQAError as exc:
                    return "\n".join([*lines, f"⚠️ {exc}"])
                self.reload()
            lines.insert(0, f"Added {report.added} article(s), {len(report.skipped)} skipped; the index now "
                            f"holds {report.documents} documents.")
            lines += [f"skipped {s.reason}" for s in report.skipped]
        return "\n".join(lines)

    def add_url(self, url: str) -> str:
        """Fetch a feed's new items, or one article page, ingest them, and swap in the updated index."""
        from ..ingestion.pipeline import ingest

        url = (url or "").strip()
        if not url:
            return "Type the URL of an RSS or Atom feed, or of an article page."
        with self._ingest_lock:
            try:
                report = ingest([url], settings=self.settings, progress=False)
            except BriefQAError as exc:
                return f"⚠️ {exc}"
            self.reload()
        return "\n\n".join([*(s.line() for s in report.sources),
                             f"The index now holds {report.documents} documents."])

    def watch_in_background(self, feeds: str | Path, every: float) -> threading.Event:
        """Poll ``feeds`` every ``every`` seconds in a thread, swapping in the index after each poll; set the
        returned event to stop."""
        from ..ingestion.watch import watch

        stop = threading.Event()

        def echo(line: str) -> None:
            print(f"briefqa: {line}", file=sys.stderr)
            with self._ingest_lock:
                self.reload()

        thread = threading.Thread(target=watch, args=(feeds, self.settings, every),
                                  kwargs={"echo": echo, "stop": stop.is_set}, daemon=True, name="briefqa-watch")
        thread.start()
        return stop

    def documents(self) -> list[list[Any]]:
        info = self.qa.info(documents=True)
        return [[d.title, d.source, (d.published_at or "")[:10], d.chunks] for d in info.documents_list]

    def copies(self) -> list[list[Any]]:
        """One row per copy: its story cluster's number, then the copy, earliest first within a cluster."""
        return [[n, d.title, d.source, (d.published_at or "")[:10]]
                for n, c in enumerate(self.qa.duplicates(), 1) for d in c.documents]

    def timeline(self, query: str, sources=None, date_from=None, date_to=None) -> str:
        """The story's timeline as HTML, or one sentence saying why there is none."""
        try:
            t = self.qa.timeline(query or "", sources=sources or None, date_from=date_from or None,
                                 date_to=date_to or None)
        except BriefQAError as exc:
            return f"⚠️ {html.escape(str(exc))}"
        except Exception:
            log.exception("timeline of %r failed", query)
            return "⚠️ Something went wrong while building the timeline; the server log has the details."
        if not t.entries:
            return html.escape(" ".join(t.notes))
        rows = []
        for i, e in enumerate(t.entries, 1):
            day = html.escape((e.published_at or "undated")[:10])
            also = (f"<div class='bq-meta'>Also published by {html.escape(', '.join(e.also_published_by))}</div>"
                    if e.also_published_by else "")
            rows.append(f"<li class='bq-tl'><b>{day}</b> · {html.escape(e.source)} — {html.escape(e.title)}{also}"
                        f"<div class='bq-tl-said'>{html.escape(e.sentence)} <a href='#src-{i}' class='bq-cite'>"
                        f"[{i}]</a></div>{_card(i, e.passage, e.sentence)}</li>")
        return f"<ol class='bq-timeline'>{''.join(rows)}</ol>"


# -- the page -------------------------------------------------------------------------------------------------
def build_app(backend: ChatBackend):
    import gradio as gr

    s = backend.settings
    info = backend.qa.info()

    with gr.Blocks(title=TITLE) as app:
        gr.Markdown(f"## {TITLE}\nAsk about the {info.documents} articles in this index. Every claim cites the "
                    "passage it comes from: click a marker or a source to see the passage.")
        state = gr.State({})
        with gr.Tab("Chat"), gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(label="Conversation", height=560, sanitize_html=True,
                                     feedback_options=("Like", "Dislike"), elem_id="bq-chat")
                rewritten = gr.Markdown(elem_id="bq-rewrite")
                question = gr.Textbox(placeholder="Ask a question, e.g. " + EXAMPLES[0], show_label=False,
                                      max_length=s.max_question_chars, elem_id="bq-question", submit_btn=True)
                with gr.Row():
                    comment = gr.Textbox(placeholder="Optional comment on the last answer", show_label=False,
                                         scale=4, elem_id="bq-comment")
                    send = gr.Button("Send comment", scale=1)
                feedback_note = gr.Markdown(elem_id="bq-feedback")
                gr.Examples(EXAMPLES, inputs=question)
            with gr.Column(scale=1, min_width=260):
                gr.Markdown("### Filters and settings")
                sources = gr.Dropdown(info.sources, multiselect=True, label="Publications", value=[])
                date_from = gr.Textbox("", label="Published from (YYYY-MM-DD)", elem_id="bq-from")
                date_to = gr.Textbox("", label="Published until (YYYY-MM-DD)", elem_id="bq-to")
                k = gr.Slider(1, 20, value=s.k, step=1, label="Passages")
                by_source = gr.Checkbox(False, label="What each outlet said", elem_id="bq-by-source")
                mode = gr.Radio(["extractive", "llm"], value=s.answer_mode, label="Answer mode")
                llm_backend = gr.Radio(["embedded", "openai"], value=s.backend, label="LLM backend")
                clear = gr.Button("New conversation")
        with gr.Tab("Timeline"):
            with gr.Row():
                story = gr.Textbox(placeholder="A story, e.g. Azerbaijan embassy in Israel", show_label=False,
                                   scale=4, elem_id="bq-story", submit_btn=True)
            story_view = gr.HTML(elem_id="bq-timeline")
        with gr.Tab("Corpus"):
            docs = gr.Dataframe(backend.documents(), headers=["title", "publication", "date", "chunks"],
                                interactive=False, elem_id="bq-docs")
            gr.Markdown("**Wire copies and updates** (one copy of each story is shown among passages)")
            copies = gr.Dataframe(backend.copies(), headers=["story", "title", "publication", "date"],
                                  interactive=False, elem_id="bq-copies")
            files = gr.File(file_count="multiple", file_types=list(SUFFIXES), label="Add articles", elem_id="bq-files")
            add = gr.Button("Ingest", elem_id="bq-ingest")
            added = gr.Markdown(elem_id="bq-added")
            with gr.Row():
                url = gr.Textbox(placeholder="https://… an RSS or Atom feed, or an article page", scale=4,
                                 show_label=False, elem_id="bq-url")
                fetch = gr.Button("Fetch", scale=1, elem_id="bq-fetch")
            fetched = gr.Markdown(elem_id="bq-fetched")

        def chat(message, history, st, sources, date_from, date_to, k, answer_mode, backend_name, per_source):
            history = [*history, {"role": "user", "content": message},
                       {"role": "assistant", "content": ""}]
            for reply, note in backend.respond(message, st, sources, date_from, date_to, k, answer_mode,
                                               backend_name, per_source):
                history[-1]["content"] = reply
                yield history, note, st, ""

        question.submit(chat, [question, chatbot, state, sources, date_from, date_to, k, mode, llm_backend,
                               by_source], [chatbot, rewritten, state, question], api_name="chat")
        story.submit(backend.timeline, [story, sources, date_from, date_to], story_view, api_name="timeline")

        def on_like(st, data: gr.LikeData):
            # Each turn adds a user and an assistant message, so message i belongs to turn i // 2.
            index = data.index[0] if isinstance(data.index, list | tuple) else data.index
            return backend.feedback(st, int(index) // 2 if index is not None else -1,
                                    "up" if data.liked else "down")

        chatbot.like(on_like, [state], feedback_note, api_visibility="private")
        def comment_fn(st, text):
            return backend.feedback(st, -1, "comment", text), ""

        send.click(comment_fn, [state, comment], [feedback_note, comment], api_name="comment")
        clear.click(lambda: ([], {}, ""), None, [chatbot, state, rewritten], api_visibility="private")

        def ingest_files(files, progress=gr.Progress(track_tqdm=True)):  # noqa: B008  (how Gradio asks for it)
            message = backend.add_files([str(p) for p in files or []], progress)
            return message, backend.documents(), backend.copies(), gr.update(choices=backend.qa.info().sources)

        add.click(ingest_files, [files], [added, docs, copies, sources], api_name="ingest")

        def fetch_url(text):
            message = backend.add_url(text)
            return message, backend.documents(), backend.copies(), gr.update(choices=backend.qa.info().sources)

        fetch.click(fetch_url, [url], [fetched, docs, copies, sources], api_name="fetch")
    return app


def ensure_index(settings: Settings, corpus: str | Path | None) -> None:
    """Build the index from ``corpus`` when there is none yet (the first run of ``python app.py``)."""
    from ..ingestion.pipeline import ingest
    from ..store.location import store_exists

    if corpus and not store_exists(settings.index):
        report = ingest([corpus], settings=settings)
        print(report.summary())


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def exposure_check(settings: Settings) -> str | None:
    """Refuse to serve beyond this machine without a login unless asked to; the warning to print, if any."""
    if settings.host in LOOPBACK or settings.host.startswith("127.") or settings.auth_user:
        return None
    if not settings.public_without_login:
        raise ConfigError(f"Serving on {settings.host} would let anyone who reaches port {settings.port} read the "
                          "index and add articles without a login; set auth_user and auth_password, or pass "
                          "--public-without-login if that is what you want.")
    return (f"warning: serving on {settings.host}:{settings.port} without a login (--public-without-login): "
            "anyone who reaches this port can read the index and add articles.")


def _ready(settings: Settings):
    """The index opened and warmed up, so that the first staff question waits no longer than the next ones."""
    from ..api import BriefQA

    qa = BriefQA.open(settings.index, settings=settings)
    qa.warm_up()
    return qa


def serve(settings: Settings, corpus: str | Path | None = None, block: bool = True,
          feeds: str | Path | None = None, every: float = 1800.0):
    """Serve the chat; returns the Gradio app (already launched) when ``block`` is false. With ``feeds``, a
    background job polls them every ``every`` seconds and the chat answers from what it adds."""
    offline()
    warning = exposure_check(settings)
    if warning:
        print(f"briefqa: {warning}", file=sys.stderr)
    auth = (settings.auth_user, settings.auth_password.get_secret_value()) if settings.auth_user else None
    ensure_index(settings, corpus)
    backend = ChatBackend(_ready(settings), settings)
    if feeds:
        from ..ingestion.web import read_feeds_file

        read_feeds_file(feeds)  # a broken feeds file stops the server before it starts
        backend.watcher = backend.watch_in_background(feeds, every)
    app = build_app(backend)
    app.queue(default_concurrency_limit=settings.chat_concurrency)
    app.launch(server_name=settings.host, server_port=settings.port, prevent_thread_lock=not block, auth=auth,
               css=CSS, head=HEAD, max_file_size=f"{settings.max_upload_mb:g}mb", show_error=False, footer_links=[])
    return app
