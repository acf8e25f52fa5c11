"""The command line: the documented commands work, and a user's mistake is one line and exit status 1."""

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import DEMO_CORPUS, one_clear_error, private_mounts, run


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
    assert info["segments"] >= 1 and f"storage:   {info['segments']} segments" in text
    assert "verified:  every file matches its checksum" in run("info", "--index", cli_index, "--verify").stdout


def test_reingest_is_incremental(cli_index):
    result = run("ingest", DEMO_CORPUS, "--index", cli_index)
    assert "0 added, 10 unchanged" in result.stdout and "0 chunks embedded" in result.stdout


def test_missing_index(tmp_path):
    one_clear_error(run("ask", "Why?", "--index", tmp_path / "none"), "No index at", "briefqa ingest")
    one_clear_error(run("info", "--index", tmp_path / "none"), "No index at")


def test_empty_and_oversized_questions(cli_index):
    one_clear_error(run("ask", "  ", "--index", cli_index), "empty")
    one_clear_error(run("ask", "x" * 5000, "--index", cli_index), "5000 characters", "shorten")


def test_questions_naming_nothing_are_refused_and_foreign_ones_are_told_to_use_english(cli_index):
    one_clear_error(run("ask", "What is it about?", "--index", cli_index), "names nothing to look for")
    out = run("ask", "Почему Азербайджан открыл посольство?", "--index", cli_index)
    assert out.returncode == 0 and "does not look like English" in out.stdout


def test_an_index_built_before_the_reader_answers_and_says_it_builds_the_reader_once(cli_index, tmp_path):
    env = {**os.environ, "BRIEFQA_CACHE": str(tmp_path / "cache")}  # a machine that has never run the reader
    out = subprocess.run([sys.executable, "-m", "briefqa", "ask", "When did Israel open its embassy in Baku?",
                          "--index", str(cli_index)], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0 and "1993" in out.stdout, out.stderr
    assert "building the answer reader once" in out.stderr and "Traceback" not in out.stderr
    assert list((tmp_path / "cache" / "onnx").glob("reader-*/model-int8.onnx"))


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
    assert "chunk_size = 256" in out and "retrieval_mode = 'lexical'" in out


# -- disk faults: a real read-only filesystem and a real full one, each in a private mount namespace ----------
def briefqa_cmd(*args) -> str:
    return " ".join([sys.executable, "-m", "briefqa", *(shlex.quote(str(a)) for a in args)])


NEW_ARTICLE = "---\ntitle: Harbour cranes\nsource: Island Courier\npublished_at: 2023-12-02\n---\n" + \
              "Malta's container port reopened its northern quay after a refit of its cranes. " * 40


def test_a_read_only_index_still_answers_and_refuses_writes_in_one_sentence(cli_index, tmp_path):
    ix = shutil.copytree(cli_index, tmp_path / "ix")
    new = tmp_path / "new"
    new.mkdir()
    (new / "cranes.md").write_text(NEW_ARTICLE)
    out = private_mounts(
        f"mount --bind {ix} {ix} && mount -o remount,bind,ro {ix} || exit 99\n"
        f"{briefqa_cmd('ask', 'Why did Baku open an embassy in Tel Aviv?', '--index', ix, '--json')} "
        f"> {tmp_path}/ask.json 2> {tmp_path}/ask.err; echo ask=$?\n"
        f"{briefqa_cmd('ingest', new, '--index', ix)} 2> {tmp_path}/ingest.err; echo ingest=$?\n")
    assert "ask=0" in out.stdout and "ingest=1" in out.stdout, (out.stdout, out.stderr)
    assert json.loads((tmp_path / "ask.json").read_text())["citations"]
    one_clear_error(subprocess.CompletedProcess([], 1, "", (tmp_path / "ingest.err").read_text()),
                    "cannot be written (Read-only file system)", "questions still work")


def test_a_full_disk_during_a_save_is_one_sentence_and_the_index_keeps_its_documents(cli_index, tmp_path):
    pages = sum(-(-f.stat().st_size // 4096) for f in cli_index.rglob("*") if f.is_file())  # tmpfs counts pages
    room = tmp_path / "small-disk"
    room.mkdir()
    new = tmp_path / "new"
    new.mkdir()
    (new / "cranes.md").write_text(NEW_ARTICLE)
    ix = room / "ix"
    # Room for the index and two pages more, not for the new segment a save writes beside it.
    out = private_mounts(
        f"mount -t tmpfs -o size={(pages + 2) * 4096} tmpfs {room} || exit 99\n"
        f"cp -a {cli_index} {ix}\n"
        f"{briefqa_cmd('ingest', DEMO_CORPUS, new, '--index', ix)} 2> {tmp_path}/ingest.err; echo ingest=$?\n"
        f"{briefqa_cmd('info', '--index', ix, '--json')} > {tmp_path}/info.json; echo info=$?\n"
        f"ls -a {ix} > {tmp_path}/files.txt\n")
    assert "ingest=1" in out.stdout and "info=0" in out.stdout, (out.stdout, out.stderr)
    one_clear_error(subprocess.CompletedProcess([], 1, "", (tmp_path / "ingest.err").read_text()),
                    "no room to write the index", "free some disk space", "as it was before")
    assert json.loads((tmp_path / "info.json").read_text())["documents"] == 10
    left = set((tmp_path / "files.txt").read_text().split())
    assert not any(name.endswith(".tmp") or name.endswith("-2.faiss") for name in left), left  # no half files


def children(pid: int) -> list[int]:
    path = f"/proc/{pid}/task/{pid}/children"
    try:
        with open(path) as fh:
            return [int(c) for c in fh.read().split()]
    except OSError:
        return []


def cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read()
    except OSError:  # gone already
        return b""


@pytest.mark.slow
def test_ask_with_the_llm_worker_killed_mid_answer_is_one_line_and_exit_1(cli_index):
    proc = subprocess.Popen([sys.executable, "-m", "briefqa", "ask", "Why did Baku open an embassy in Tel Aviv now?",
                             "--index", str(cli_index), "--answer-mode", "llm", "--llm-max-tokens", "300"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    worker = None
    while worker is None and time.monotonic() < deadline and proc.poll() is None:
        worker = next((c for c in children(proc.pid) if b"briefqa.answering.llm_worker" in cmdline(c)), None)
        time.sleep(0.05)
    assert worker is not None, "the CLI started no worker process"
    time.sleep(1.0)  # loaded and reading the prompt
    os.kill(worker, signal.SIGILL)
    out, err = proc.communicate(timeout=120)
    one_clear_error(subprocess.CompletedProcess(proc.args, proc.returncode, out, err),
                    "The embedded LLM stopped (signal 4: illegal instruction", "extractive answers still work")
