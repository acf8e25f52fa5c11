"""The process that runs llama.cpp, so that a native crash kills only itself.

llama.cpp is native code: an instruction the CPU cannot run (SIGILL), a segfault or an out-of-memory kill
ends whatever process it runs in. briefqa therefore never loads it into the caller's process (the chat
server, the CLI, a notebook); :mod:`briefqa.answering.llm` starts this module as a child process and talks to it over
a pipe, one JSON object per line::

    worker -> {"ready": true, "model": PATH, "n_ctx": N}          once, after loading the model
    parent -> {"messages": [...], "max_tokens": N, "temperature": T, "stop": [...]}
    worker -> {"token": "..."} ... then {"done": true, "finish_reason": "stop"}
           or {"error": "...", "kind": "context" | "load" | "generate" | "missing"}

The protocol uses a private copy of the original stdout; file descriptor 1 itself is pointed at stderr, so
whatever llama.cpp prints from C cannot corrupt it. The worker exits when its stdin closes (the parent is
done) and within a second of its parent's death, even in the middle of a generation.

Run by hand for a check: ``python -m briefqa.answering.llm_worker MODEL.gguf`` and type a request line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from typing import IO, Any

#: Seconds between two checks that the parent process is still there.
PARENT_CHECK_SECONDS = 1.0


def _die_with_parent() -> None:
    """End this process soon after its parent's end, even in the middle of a generation.

    Linux's PR_SET_PDEATHSIG would be immediate, but it fires when the *thread* that started the worker exits,
    and the chat starts workers from short-lived request threads; so a watchdog notices the re-parenting
    instead. (llama.cpp releases the GIL while it computes, so the watchdog runs during generations.)
    """
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(PARENT_CHECK_SECONDS)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, daemon=True, name="parent-watchdog").start()


def _protocol_stream() -> IO[str]:
    """A private text stream on the original stdout; fd 1 then goes to stderr, for C code's prints."""
    fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(fd, "w", encoding="utf-8", buffering=1)


def _load(model: str, n_ctx: int, n_threads: int):
    import llama_cpp
    import llama_cpp.llama_cpp as native

    defaults = native.llama_model_default_params

    def params():
        # Extra buffer types are llama.cpp's repacked and AMX weight layouts. A build compiled natively on a
        # Xeon runs AMX tile instructions through them, which some virtual machines advertise but do not
        # allow (SIGILL); without them the same build runs on the plain CPU kernels.
        p = defaults()
        p.use_extra_bufts = False
        return p

    native.llama_model_default_params = params
    return llama_cpp.Llama(model_path=model, n_ctx=n_ctx, n_threads=n_threads, verbose=False)


def _send(out: IO[str], message: dict[str, Any]) -> None:
    out.write(json.dumps(message, ensure_ascii=False) + "\n")


def _generate(llm, request: dict[str, Any], out: IO[str]) -> None:
    try:
        stream = llm.create_chat_completion(
            messages=request["messages"], max_tokens=int(request.get("max_tokens", 200)),
            temperature=float(request.get("temperature", 0.0)), stop=request.get("stop") or None, stream=True)
        reason = None
        for part in stream:
            choice = part["choices"][0]
            token = choice["delta"].get("content") or ""
            if token:
                _send(out, {"token": token})
            reason = choice.get("finish_reason") or reason
        _send(out, {"done": True, "finish_reason": reason})
    except ValueError as exc:  # llama-cpp-python's way of saying the prompt exceeds the context
        _send(out, {"error": str(exc), "kind": "context"})
    except Exception as exc:  # anything else is reported to the parent, and the worker carries on
        _send(out, {"error": f"{type(exc).__name__}: {exc}", "kind": "generate"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m briefqa.answering.llm_worker", description=__doc__.split("\n")[0])
    parser.add_argument("model", help="a GGUF file")
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--n-threads", type=int, default=0, help="0: one per core")
    args = parser.parse_args(argv)
    _die_with_parent()
    out = _protocol_stream()
    threads = args.n_threads or len(os.sched_getaffinity(0))
    try:
        import llama_cpp  # noqa: F401  (not there while scripts/install.py still compiles it)
    except ImportError as exc:
        _send(out, {"error": str(exc), "kind": "missing"})
        return 1
    try:
        llm = _load(args.model, args.n_ctx, threads)
    except Exception as exc:
        _send(out, {"error": f"{type(exc).__name__}: {exc}", "kind": "load"})
        return 1
    _send(out, {"ready": True, "model": args.model, "n_ctx": args.n_ctx, "n_threads": threads})
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
        except json.JSONDecodeError as exc:
            _send(out, {"error": f"not a JSON request: {exc}", "kind": "generate"})
            continue
        _generate(llm, request, out)
    llm.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
