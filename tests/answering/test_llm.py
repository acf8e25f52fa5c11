"""The embedded LLM runs in a worker process: a native crash, a kill or a hang costs one answer one sentence.

Real llama.cpp, real signals: SIGILL is what an AMX build gets on hosts that advertise but forbid AMX, SIGKILL
what the kernel's out-of-memory killer sends, SIGSTOP a stand-in for a hang.
"""

import json
import os
import shutil
import signal
import threading
import time

import pytest

from briefqa import BackendError, ConfigError
from briefqa.answering.llm import gguf_model, llama_worker, packaged_gguf

pytestmark = pytest.mark.slow
QUESTION = "What spyware is Azerbaijan suspected of buying from an Israeli company?"


def worker_of(qa, **overrides):
    s = qa.with_settings(**overrides)
    return llama_worker(gguf_model(s.llm_model), s.llm_context, s.llm_threads)


def stream_then(qa, action, **overrides):
    """Start an LLM answer, run ``action(worker)`` after its first token, and return what the rest raised."""
    stream = iter(qa.stream(QUESTION, answer_mode="llm", llm_max_tokens=300, **overrides))
    next(stream)
    action(worker_of(qa, **overrides))
    with pytest.raises(BackendError) as caught:
        for _ in stream:
            pass
    return str(caught.value)


def test_the_model_runs_in_a_child_process_and_answers(seed_qa):
    ans = seed_qa.ask(QUESTION, answer_mode="llm", llm_max_tokens=60)
    worker = worker_of(seed_qa)
    assert worker.pid is not None and worker.pid != os.getpid()
    assert ans.mode == "llm:embedded" and ans.raw
    assert ans.abstained or ans.citations


@pytest.mark.parametrize(("sig", "said"), [(signal.SIGILL, "signal 4: illegal instruction"),
                                            (signal.SIGKILL, "signal 9: killed")])
def test_a_worker_killed_mid_answer_is_one_sentence_and_the_next_question_is_answered(seed_qa, sig, said):
    message = stream_then(seed_qa, lambda w: os.kill(w.pid, sig))
    assert f"The embedded LLM stopped ({said}" in message
    assert "restarts with the next question" in message and "extractive answers still work" in message
    starts = worker_of(seed_qa).starts
    ans = seed_qa.ask(QUESTION, answer_mode="llm", llm_max_tokens=40)
    assert ans.raw and worker_of(seed_qa).starts == starts + 1
    assert not seed_qa.ask(QUESTION).abstained  # extractive answers never needed it


def test_a_hang_past_the_timeout_stops_the_worker_and_the_next_question_is_answered(seed_qa):
    message = stream_then(seed_qa, lambda w: os.kill(w.pid, signal.SIGSTOP), llm_timeout=2)
    assert "did not answer within 2 s (llm_timeout)" in message
    assert seed_qa.ask(QUESTION, answer_mode="llm", llm_max_tokens=30).raw


def test_sessions_waiting_for_the_worker_get_their_answers_when_it_dies_under_another(seed_qa):
    # Each question runs in its own thread, as the chat's sessions do; the worker outlives the thread that
    # started it.
    results: dict[int, str] = {}

    def ask(i):
        try:
            # A long wait is allowed: on a loaded 2-core machine the queue behind a restart can pass 60 s.
            results[i] = seed_qa.ask(QUESTION, answer_mode="llm", llm_max_tokens=40, llm_timeout=300).mode
        except BackendError as exc:
            results[i] = str(exc)

    worker = worker_of(seed_qa)
    seed_qa.ask(QUESTION, answer_mode="llm", llm_max_tokens=5)  # started
    before = worker.tokens
    threads = [threading.Thread(target=ask, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while worker.tokens == before and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(worker.pid, signal.SIGKILL)  # one of the three is mid-answer; two wait for the worker
    for t in threads:
        t.join(120)
    assert sorted(results.values()).count("llm:embedded") == 2, results
    assert sum("signal 9" in r for r in results.values()) == 1, results


def test_your_own_gguf_file_is_what_the_worker_loads(seed_qa, tmp_path):
    own = tmp_path / "my-model.gguf"
    shutil.copy(packaged_gguf(), own)
    ans = seed_qa.ask(QUESTION, answer_mode="llm", llm_model=str(own), llm_max_tokens=30)
    assert ans.raw and worker_of(seed_qa, llm_model=str(own)).model == own


def test_files_that_are_not_usable_gguf_models_are_one_clear_error(seed_qa, tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        seed_qa.ask(QUESTION, answer_mode="llm", llm_model=str(tmp_path / "missing.gguf"))
    text = tmp_path / "notes.gguf"
    text.write_text("not a model")
    with pytest.raises(ConfigError, match="is not a GGUF file"):
        seed_qa.ask(QUESTION, answer_mode="llm", llm_model=str(text))
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + os.urandom(4096))
    with pytest.raises(BackendError, match=r"could not load broken\.gguf"):
        seed_qa.ask(QUESTION, answer_mode="llm", llm_model=str(broken))


def test_a_missing_llama_cpp_says_how_far_its_build_is(seed_qa, tmp_path, monkeypatch):
    # A stand-in module that fails to import, first on the worker's path: what the worker meets while
    # scripts/install.py still compiles llama.cpp in the background.
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "llama_cpp.py").write_text("raise ImportError('No module named llama_cpp (fake, for this test)')\n")
    monkeypatch.setenv("PYTHONPATH", str(fake))
    monkeypatch.setenv("BRIEFQA_CACHE", str(tmp_path / "cache"))
    model = tmp_path / "other.gguf"  # another worker than the one the other tests share
    shutil.copy(packaged_gguf(), model)
    with pytest.raises(BackendError, match=r"llama-cpp-python is not installed; run `python scripts/install\.py"):
        seed_qa.ask(QUESTION, answer_mode="llm", llm_model=str(model))
    status = tmp_path / "cache" / "llama-build.json"
    status.parent.mkdir()
    status.write_text(json.dumps({"state": "building", "pid": os.getpid(), "done": 41, "total": 83, "eta_s": 130}))
    with pytest.raises(BackendError, match=r"still being compiled in the background \(step 41 of 83, about 2 min"):
        seed_qa.ask(QUESTION, answer_mode="llm", llm_model=str(model))
    status.write_text(json.dumps({"state": "failed", "pid": 1, "log": "/tmp/x.log"}))
    with pytest.raises(BackendError, match=r"failed \(log: /tmp/x\.log\); run `python scripts/install\.py"):
        seed_qa.ask(QUESTION, answer_mode="llm", llm_model=str(model))
    assert not seed_qa.ask(QUESTION).abstained
