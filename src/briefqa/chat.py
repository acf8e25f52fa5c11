"""The chat page: Gradio over :class:`~briefqa.api.BriefQA`, served on 127.0.0.1 by default.

Staff ask a question, watch the answer arrive, and check each ``[n]`` against the source listed under the
answer with the sentence that supports it. Errors a user can cause arrive as a friendly line in the chat, not
a traceback. Nothing is loaded from a CDN and analytics are off (see ``_env``).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Iterator
from pathlib import Path

from . import _env  # noqa: F401
from .errors import BriefQAError
from .records import Answer
from .settings import Settings

log = logging.getLogger(__name__)

TITLE = "briefqa"
EXAMPLES = ["Why did Baku open an embassy in Tel Aviv now?", "How did Tehran react to the embassy?"]


def render_sources(answer: Answer) -> str:
    """Markdown under the answer: each cited source with its supporting sentence, then uncited passages."""
    if answer.abstained and not answer.passages:
        return ""
    lines = []
    cited = {c.marker for c in answer.citations}
    if answer.citations:
        lines.append("\n\n**Sources**")
        for c in answer.citations:
            meta = c.passage.metadata
            link = f" · [link]({meta['url']})" if meta.get("url") else ""
            lines.append(f"\n<a id='src-{c.marker}'></a>**[{c.marker}]** {html.escape(c.passage.label())}{link}"
                         f"\n> {html.escape(c.sentence)}")
    others = [(i, p) for i, p in enumerate(answer.passages, 1) if i not in cited]
    if others:
        lines.append("\n<details><summary>Other retrieved passages</summary>\n")
        lines.extend(f"- [{i}] {html.escape(p.label())}" for i, p in others)
        lines.append("\n</details>")
    return "\n".join(lines)


def respond(qa, message: str, settings: Settings) -> Iterator[str]:
    """The chat's reply to one message, as growing text; errors become a friendly sentence."""
    try:
        stream = qa.stream(message, **{k: getattr(settings, k) for k in ("k", "answer_mode", "backend")})
        text = ""
        for token in stream:
            text += token
            yield text
        answer = stream.answer
        yield answer.text + render_sources(answer)
    except BriefQAError as exc:
        yield f"⚠️ {exc}"


def build_app(qa, settings: Settings):
    import gradio as gr

    def chat_fn(message, history):
        yield from respond(qa, message, settings)

    info = qa.info()
    description = (f"Ask about the {info.documents} articles in this index. "
                   "Every claim cites the passage it comes from.")
    return gr.ChatInterface(chat_fn, title=TITLE, description=description, examples=EXAMPLES,
                            cache_examples=False)


def ensure_index(settings: Settings, corpus: str | Path | None) -> None:
    """Build the index from ``corpus`` when there is none yet (the first run of ``python app.py``)."""
    from .index import IndexStore
    from .ingest import ingest

    if corpus and not IndexStore.exists(settings.index):
        report = ingest([corpus], settings=settings)
        print(report.summary())


def serve(settings: Settings, corpus: str | Path | None = None, block: bool = True):
    from .api import BriefQA

    ensure_index(settings, corpus)
    qa = BriefQA.open(settings=settings)
    app = build_app(qa, settings)
    app.queue(default_concurrency_limit=4)
    app.launch(server_name=settings.host, server_port=settings.port, prevent_thread_lock=not block)
    return app
