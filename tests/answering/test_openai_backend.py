"""The OpenAI-compatible backend, against a real server: llama-cpp-python's own, started here on 127.0.0.1."""

import subprocess
import sys
import time
import urllib.request

import pytest

from briefqa import BackendError
from briefqa.answering.llm import packaged_gguf
from conftest import free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    port = free_port()
    # llama.cpp logs the model load at length: a file, not a pipe nobody reads, or the server blocks.
    log = (tmp_path_factory.mktemp("server") / "server.log").open("w+b")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(packaged_gguf()), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "2048", "--model_alias", "smollm2"],
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            pytest.fail(f"llama_cpp.server exited: {log.read().decode(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2):
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("llama_cpp.server did not start within 120 s")
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def test_answers_through_an_openai_compatible_server(seed_qa, server_url):
    stream = seed_qa.stream("When did Israel open its embassy in Baku?", answer_mode="llm", backend="openai",
                            openai_base_url=server_url, openai_model="smollm2", llm_max_tokens=60)
    tokens = list(stream)
    ans = stream.answer
    assert len(tokens) > 1 and ans.raw == "".join(tokens)  # streamed over HTTP, token by token
    assert ans.mode == "llm:openai"
    assert all(1 <= c.marker <= len(ans.passages) for c in ans.citations)
    assert ans.abstained or all(s.markers for s in ans.sentences)


def test_an_unreachable_server_is_one_clear_error(seed_qa):
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(BackendError, match=r"cannot be used .*start it or fix openai_base_url"):
        seed_qa.ask("When did Israel open its embassy in Baku?", answer_mode="llm", backend="openai",
                    openai_base_url=url)
