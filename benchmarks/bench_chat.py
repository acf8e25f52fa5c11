"""The chat under load, served for real on 127.0.0.1 and driven through gradio_client.

    python benchmarks/bench_chat.py corpus/ [--runs 20]                    first-token latency, one session
    python benchmarks/bench_chat.py corpus/ --sessions 32 [--llm-every 4] [--kill-llm SIGILL]

The first form times the demo question from submission to the first streamed update carrying answer text,
and to the whole answer, each run a new conversation (p50, p95). The second runs ``--sessions`` conversations
at once, three questions each about the demo corpus; every ``--llm-every``-th session asks in answer mode
"llm". With ``--kill-llm`` the embedded LLM's worker process is sent that signal once it is mid-answer,
which is what a native crash looks like. It reports how many extractive answers were on topic (they name
the expected fact), what the LLM sessions got (a checked answer, or the one-sentence error), the latency
of each, and whether the server still answers afterwards.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

DEMO_QUESTION = "Why did Baku open an embassy in Tel Aviv now?"
#: Questions about the demo corpus, each with a word its answer must contain to be on topic.
QUESTIONS = [
    ("Why did Baku open an embassy in Tel Aviv now?", "Baku"),
    ("Who won the women's World Cup in 2023?", "Spain"),
    ("Why did heat pump sales slow in 2023?", "heat pump"),
    ("What did the European Central Bank decide about interest rates?", "rate"),
    ("How did Tehran react to the embassy?", "Tehran"),
    ("What do the October 2023 chip rules change?", "chip"),
]


def serve_corpus(corpus: Path):
    import briefqa
    from briefqa.ui.chat import serve

    work = Path(tempfile.mkdtemp(prefix="briefqa-chat-"))
    briefqa.ingest(corpus, index=work / "index", progress=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = briefqa.load_settings(index=str(work / "index"), port=port, uploads_dir=str(work / "up"),
                                     feedback_file=str(work / "fb.jsonl"))
    return settings, serve(settings, block=False), f"http://127.0.0.1:{port}/"


def reply_text(history) -> str:
    content = history[-1]["content"] if history else ""
    return content if isinstance(content, str) else " ".join(c.get("text", "") for c in content)


def latency(args) -> None:
    from gradio_client import Client

    from briefqa.evaluation.metrics import percentile

    settings, app, url = serve_corpus(args.corpus)
    mode = args.answer_mode or settings.answer_mode
    first, total = [], []
    try:
        for i in range(args.runs + 1):
            client = Client(url, verbose=False)
            t0 = time.perf_counter()
            job = client.submit(DEMO_QUESTION, answer_mode=mode, api_name="/chat")
            t_first = None
            for update in job:
                if update and update[0] and update[0][-1]["content"] and t_first is None:
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


def killer(settings, sig: int, done: threading.Event, log: list[str]) -> None:
    """Send ``sig`` to the LLM worker once it is producing tokens."""
    from briefqa.answering.llm import gguf_model, llama_worker

    worker = llama_worker(gguf_model(settings.llm_model), settings.llm_context, settings.llm_threads)
    while not done.is_set():
        if worker.pid is not None and worker.tokens > 0:
            pid = worker.pid
            os.kill(pid, sig)
            log.append(f"sent {signal.Signals(sig).name} to worker {pid} after {worker.tokens} tokens")
            return
        time.sleep(0.01)


def load(args) -> None:
    from gradio_client import Client

    from briefqa.evaluation.metrics import percentile

    settings, app, url = serve_corpus(args.corpus)
    Client(url, verbose=False).predict(DEMO_QUESTION, api_name="/chat")  # warm-up
    results: list[tuple[str, bool, float, str]] = []  # (mode, on topic or clear, seconds, reply)
    lock = threading.Lock()

    def session(i: int) -> None:
        mode = "llm" if args.llm_every and i % args.llm_every == 0 else "extractive"
        client = Client(url, verbose=False)
        for j in range(3):
            question, word = QUESTIONS[(i + j) % len(QUESTIONS)]
            t0 = time.perf_counter()
            history, _, _ = client.predict(question, answer_mode=mode, api_name="/chat")
            reply = reply_text(history)
            if mode == "extractive":
                good = word.lower() in reply.lower() and not reply.startswith("⚠️")
            else:  # a checked answer, or the one sentence that the LLM stopped
                good = not reply.startswith("⚠️") or reply.startswith("⚠️ The embedded LLM")
            with lock:
                results.append((mode, good, time.perf_counter() - t0, reply))

    done, log = threading.Event(), []
    threads = [threading.Thread(target=session, args=(i,)) for i in range(args.sessions)]
    if args.kill_llm:
        threads.append(threading.Thread(target=killer, args=(settings, signal.Signals[args.kill_llm], done, log)))
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads[:args.sessions]:
        t.join()
    done.set()
    wall = time.perf_counter() - started
    after, _, _ = Client(url, verbose=False).predict(DEMO_QUESTION, api_name="/chat")
    alive = "Caspian Brief" in reply_text(after)
    app.close()

    print(f"{args.sessions} sessions at once, 3 questions each, every {args.llm_every or 'no'}th session in llm "
          f"mode; {'; '.join(log) or 'no worker killed'}; {wall:.0f} s in all")
    print("| answers | count | on topic / clear | p50 s | p95 s |\n|---|---|---|---|---|")
    for mode in ("extractive", "llm"):
        rows = [r for r in results if r[0] == mode]
        if rows:
            secs = [r[2] for r in rows]
            print(f"| {mode} | {len(rows)} | {sum(r[1] for r in rows)} | {percentile(secs, 50):.2f} | "
                  f"{percentile(secs, 95):.2f} |")
    stopped = sum(r[3].startswith("⚠️ The embedded LLM stopped") for r in results)
    print(f"\nLLM answers cut by the kill: {stopped}; server answering afterwards: {'yes' if alive else 'NO'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--runs", type=int, default=20, help="latency mode: runs after one warm-up")
    ap.add_argument("--answer-mode", default=None, help="latency mode: default the setting's default")
    ap.add_argument("--sessions", type=int, default=0, help="load mode: conversations at once")
    ap.add_argument("--llm-every", type=int, default=4, help="load mode: every Nth session asks the LLM (0: none)")
    ap.add_argument("--kill-llm", choices=["SIGILL", "SIGKILL", "SIGSEGV"], help="load mode: kill the worker once")
    args = ap.parse_args()
    from briefqa.ui.env import offline

    offline()
    (load if args.sessions else latency)(args)


if __name__ == "__main__":
    main()
