"""The command line: the documented commands work, and a user's mistake is one line and exit status 1."""

import json
import shutil
import subprocess
import sys

import pytest

from conftest import DEMO_CORPUS


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "briefqa", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


def one_clear_error(result, *words):
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("briefqa: error: "), result.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


@pytest.fixture(scope="module")
def cli_index(tmp_path_factory):
    ix = tmp_path_factory.mktemp("cli") / "index"
    result = run("ingest", DEMO_CORPUS, "--index", ix)
    assert result.returncode == 0, result.stderr
    assert "10 documents" in result.stdout and "10 added" in result.stdout
    return ix


def test_ask_json(cli_index):
    result = run("ask", "Why did Baku open an embassy in Tel Aviv now?", "--index", cli_index, "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert not answer["abstained"] and answer["citations"]
    assert {"title", "source", "published_at", "url", "doc_id", "start", "end"} <= set(
        answer["citations"][0]["passage"]["metadata"])


def test_ask_plain_text_lists_sources(cli_index):
    result = run("ask", "Who won the women's World Cup in 2023?", "--index", cli_index, "--k", "3")
    assert result.returncode == 0, result.stderr
    assert "Spain" in result.stdout and "Sources:" in result.stdout and "[1]" in result.stdout


def test_retrieve_with_filters_and_explain(cli_index):
    result = run("retrieve", "embassy", "--index", cli_index, "--source", "Levant Monitor", "--json")
    assert {p["metadata"]["source"] for p in json.loads(result.stdout)["passages"]} == {"Levant Monitor"}
    text = run("retrieve", "What did the Caspian Brief report on 2023-01-24?", "--index", cli_index,
               "--explain").stdout
    assert "publications: Caspian Brief; dates: 2023-01-24" in text and "part1 #1" in text


def test_info(cli_index):
    result = run("info", "--index", cli_index, "--json")
    info = json.loads(result.stdout)
    assert info["documents"] == 10 and info["embedder"].startswith("sentence-transformers/all-MiniLM-L6-v2")
    text = run("info", "--index", cli_index, "--documents").stdout
    assert "Baku finally sends an ambassador to Israel" in text


def test_reingest_is_incremental(cli_index):
    result = run("ingest", DEMO_CORPUS, "--index", cli_index)
    assert "0 added, 10 unchanged" in result.stdout and "0 chunks embedded" in result.stdout


def test_missing_index(tmp_path):
    one_clear_error(run("ask", "Why?", "--index", tmp_path / "none"), "No index at", "briefqa ingest")
    one_clear_error(run("info", "--index", tmp_path / "none"), "No index at")


def test_empty_and_oversized_questions(cli_index):
    one_clear_error(run("ask", "  ", "--index", cli_index), "empty")
    one_clear_error(run("ask", "x" * 5000, "--index", cli_index), "5000 characters", "shorten")


def test_empty_corpus(tmp_path):
    one_clear_error(run("ingest", tmp_path, "--index", tmp_path / "ix"), "No article files")


def test_index_of_another_embedder(cli_index, tmp_path):
    copy = tmp_path / "ix"
    shutil.copytree(cli_index, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["embedder"] = "someone/else@other==1"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    one_clear_error(run("ask", "Why?", "--index", copy), "someone/else", "--rebuild")


def test_damaged_index(cli_index, tmp_path):
    copy = tmp_path / "ix"
    shutil.copytree(cli_index, copy)
    chunks = next(copy.glob("chunks-*.jsonl"))
    chunks.write_text(chunks.read_text()[:100])
    one_clear_error(run("ask", "Why?", "--index", copy), "damaged", "--rebuild")


def test_unreachable_backend(cli_index):
    one_clear_error(run("ask", "Why did Baku open an embassy?", "--index", cli_index, "--answer-mode", "llm",
                        "--backend", "openai", "--openai-base-url", "http://127.0.0.1:9/v1"),
                    "OpenAI-compatible server")


def test_bad_setting_and_bad_config(cli_index, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("k = 'many'\n")
    one_clear_error(run("--config", cfg, "ask", "Why?", "--index", cli_index), "'k'")


def test_settings_lists_every_setting():
    out = run("settings").stdout
    assert "chunk_size = 128" in out and "retrieval_mode = 'lexical'" in out
