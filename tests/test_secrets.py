"""Secrets are never written or printed: a planted API key and password, then every file and output grepped."""

import http.server
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from conftest import SEED, free_port

API_KEY = f"sk-planted-{secrets.token_hex(8)}"
PASSWORD = f"pw-planted-{secrets.token_hex(8)}"


class EchoingServer(http.server.BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint that refuses the key and quotes it back, as some servers do."""

    def do_POST(self):
        key = self.headers.get("Authorization", "").removeprefix("Bearer ")
        body = json.dumps({"error": {"message": f"Incorrect API key provided: {key}", "type": "invalid_request"}})
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def echoing_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), EchoingServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def run(*args, env, cwd):
    return subprocess.run([sys.executable, "-m", "briefqa", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=600)


def test_a_planted_key_and_password_appear_in_no_output_and_no_written_file(seed_index, tmp_path, echoing_server):
    from gradio_client import Client

    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "BRIEFQA_OPENAI_API_KEY": API_KEY, "BRIEFQA_AUTH_USER": "staff",
           "BRIEFQA_AUTH_PASSWORD": PASSWORD}
    outputs = []

    settings = run("settings", env=env, cwd=work)
    outputs.append(settings)
    assert settings.returncode == 0
    assert "openai_api_key = '**********'  (from BRIEFQA_OPENAI_API_KEY)" in settings.stdout

    variant = tmp_path / "variant.toml"  # the user's own input file: the one place the key may be
    variant.write_text(f'name = "with-key"\nopenai_api_key = "{API_KEY}"\nk = 4\n')
    evaluated = run("-v", "eval", SEED / "queries-dev.json", "--index", seed_index, "--out", work / "runs",
                    "--limit", "3", "--variant", variant, env=env, cwd=work)
    outputs.append(evaluated)
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads((work / "runs" / "report.json").read_text())
    assert report["configs"][0]["settings"]["openai_api_key"] == "**********"
    assert report["configs"][0]["overrides"]["openai_api_key"] == "**********"

    refused = run("-v", "ask", "When did Israel open its embassy in Baku?", "--index", seed_index, "--answer-mode",
                  "llm", "--backend", "openai", "--openai-base-url", echoing_server, env=env, cwd=work)
    outputs.append(refused)
    assert refused.returncode == 1 and "Incorrect API key provided: **********" in refused.stderr, refused.stderr

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "briefqa", "-v", "serve", "--index", seed_index, "--port", str(port),
         "--feedback-file", work / "feedback.jsonl", "--uploads-dir", work / "uploads"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=work)
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        client = Client(url, auth=("staff", PASSWORD), verbose=False)
        client.predict("When did Israel open its embassy in Baku?", api_name="/chat")
        assert "saved" in client.predict("useful", api_name="/comment")[0]
    finally:
        server.terminate()
        out, err = server.communicate(timeout=60)
    outputs.append(subprocess.CompletedProcess(server.args, server.returncode, out, err))

    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != variant]
    assert (work / "feedback.jsonl") in written and (work / "runs" / "results.jsonl") in written
    for secret in (API_KEY, PASSWORD):
        for p in written:
            assert secret.encode() not in p.read_bytes(), p
        for o in outputs:
            assert secret not in o.stdout and secret not in o.stderr, o.args
