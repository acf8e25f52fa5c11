"""Time from submitting the demo question in the chat to the first streamed token, default answer mode.

    python benchmarks/bench_chat.py corpus/ [--runs 20]

Ingests the corpus into a temporary index, serves the chat on 127.0.0.1, and submits the demo question through
gradio_client, timing the first streamed update that carries answer text, and the whole answer. Each run is a
new conversation. Prints p50 and p95.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import time
from pathlib import Path

DEMO_QUESTION = "Why did Baku open an embassy in Tel Aviv now?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--answer-mode", default=None, help="default: the setting's default")
    args = ap.parse_args()

    from gradio_client import Client

    import briefqa
    from briefqa.chat import serve
    from briefqa.metrics import percentile

    work = Path(tempfile.mkdtemp(prefix="briefqa-chat-"))
    briefqa.ingest(args.corpus, index=work / "index", progress=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = briefqa.load_settings(index=str(work / "index"), port=port, uploads_dir=str(work / "up"),
                                     feedback_file=str(work / "fb.jsonl"))
    app = serve(settings, block=False)
    mode = args.answer_mode or settings.answer_mode
    first, total = [], []
    try:
        for i in range(args.runs + 1):
            client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            t0 = time.perf_counter()
            job = client.submit(DEMO_QUESTION, [], [], "", "", settings.k, mode, settings.backend, api_name="/chat")
            t_first = None
            for update in job:
                content = update[0][-1]["content"] if update and update[0] else ""
                if content and t_first is None:
                    t_first = time.perf_counter() - t0
            t_total = time.perf_counter() - t0
            if i:  # the first run warms the server up
                first.append(t_first or t_total)
                total.append(t_total)
    finally:
        app.close()
    print(f"chat, demo question, answer mode {mode}, {args.runs} runs after one warm-up:")
    print("| | p50 s | p95 s | mean s |\n|---|---|---|---|")
    for name, xs in (("first streamed token", first), ("whole answer", total)):
        print(f"| {name} | {percentile(xs, 50):.2f} | {percentile(xs, 95):.2f} | {statistics.mean(xs):.2f} |")


if __name__ == "__main__":
    main()
