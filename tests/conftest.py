"""Shared fixtures: real models, a real index of the seed article among MultiHop-RAG distractors."""

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import briefqa
from briefqa.evaluation.metrics import squash

DATA = Path(__file__).parent / "data"
SEED = DATA / "seed"
SEED_ARTICLE = SEED / "why-azerbaijan-is-moving-closer-to-israel.txt"
DISTRACTORS = DATA / "multihop-50.json"
DEMO_CORPUS = Path(__file__).parent.parent / "corpus"


def free_port() -> int:
    """A TCP port nobody listens on, for a server the tests start on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*args, cwd=None, timeout=600):
    """``python -m briefqa ARGS``, its output captured."""
    return subprocess.run([sys.executable, "-m", "briefqa", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


def one_clear_error(result, *words):
    """The command failed with exit 1 and one line on stderr, ``briefqa: error: …``, holding ``words``."""
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("briefqa: error: "), result.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


def moved(net):
    """``net`` with every weight it trains moved by a fine-tune's worth (1e-2 noise from torch's seed)."""
    import torch

    with torch.no_grad():
        for p in net.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 1e-2)
    return net


def fine_tuned_reader(seed: int) -> dict:
    """The arrays ``scripts/train_reader.py`` would write for a reader trained in full, each weight it trains
    moved from the packaged MiniLM (:func:`moved`, seeded)."""
    import torch

    from briefqa.models.readernet import delta_arrays, fully_trainable

    torch.manual_seed(seed)
    return delta_arrays(moved(fully_trainable()))


def markdown_corpus(root: Path, articles) -> Path:
    """Write ``(title, source, date, body)`` tuples as Markdown files with front matter into ``root``."""
    for i, (title, source, date, body) in enumerate(articles):
        (root / f"{i}.md").write_text(f"---\ntitle: {title}\nsource: {source}\npublished_at: {date}\n---\n{body}\n",
                                      encoding="utf-8")
    return root


def contains_evidence(text: str, evidence: list[str]) -> bool:
    return any(squash(e) in squash(text) for e in evidence)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A copy of the demo corpus (ten Markdown articles) that a module's tests may ingest."""
    root = tmp_path_factory.mktemp("corpus")
    for f in DEMO_CORPUS.glob("*.md"):
        shutil.copy(f, root)
    return root


@pytest.fixture(scope="session")
def seed_queries() -> list[dict]:
    return json.loads((SEED / "queries-dev.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory) -> Path:
    """The seed article (with its metadata sidecar) and 51 MultiHop-RAG articles, ingested once.

    The runtime is named: "auto" reuses the runtime this machine measured fastest on a larger corpus before
    (torch-bf16 on a CPU with bf16 units), which would make what the tests see depend on the machine's past."""
    root = tmp_path_factory.mktemp("seed-corpus")
    shutil.copy(SEED_ARTICLE, root)
    shutil.copy(SEED / "why-azerbaijan-is-moving-closer-to-israel.meta.json", root)
    shutil.copy(DISTRACTORS, root)
    index = tmp_path_factory.mktemp("seed-index")
    briefqa.ingest([root], index=index, progress=False, embed_runtime="onnx-int8")
    return index


@pytest.fixture(scope="session")
def seed_qa(seed_index) -> briefqa.BriefQA:
    return briefqa.BriefQA.open(seed_index)


@pytest.fixture(scope="session")
def demo_index(tmp_path_factory) -> Path:
    index = tmp_path_factory.mktemp("demo-index")
    briefqa.ingest([DEMO_CORPUS], index=index, progress=False)
    return index


def private_mounts(script: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run a shell ``script`` in a private mount namespace (``unshare -m``), so that it can mount a read-only
    view or a small filesystem that no other process sees and that vanishes with it."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"this machine allows no private mount namespace ({probe.stderr.decode().strip()})")
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def site():
    """A real HTTP server on 127.0.0.1 serving what the test sets (tests/webserver.py)."""
    from webserver import serve_site

    with serve_site() as state:
        yield state
