"""The local backend at a million chunks: build, open, search, append, against the issue's targets.

    python benchmarks/bench_local_scale.py ../shared/data/multihop-rag/ [--chunks 1000000] [--work DIR]
    python benchmarks/bench_local_scale.py ../shared/data/multihop-rag/ --milvus-lite --chunks 50000

``--milvus-lite`` writes the same synthetic index into an embedded milvus-lite file instead and measures it
the same way (the Milvus backend's figures at a size milvus-lite holds; it searches by scanning).

A synthetic index is written through the store interface (``IndexStore.add_document`` and ``commit``, as
ingest writes, a commit every ``--segment`` chunks, each a segment), without embedding: chunk texts are
MultiHop-RAG chunk texts, each made distinct by a document tag; chunk and sentence vectors are random unit
vectors (latency and memory do not depend on
what the vectors mean). Then, each in a fresh process where it matters:

* **open**: ``open_store`` of the index (checksums, chunks, FAISS, BM25, memory-mapped sentence vectors), and
  the peak resident memory of a reader that opened it and answered one question;
* **retrieval latency**: dense, lexical and the default retrieval of 100 MultiHop-RAG dev questions (real
  question vectors from the packaged model), p50 and p95;
* **append**: 100 articles (about 1,050 chunks) added and committed, the issue's "adding 100 articles".

Targets (issue 12): commit of 100 articles ≤ 10 s, open ≤ 5 s, retrieval p95 ≤ 100 ms. Prints one table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CHUNKS_PER_DOC = 10
DIM = 384


def _unit(rng, n: int, dtype=np.float32) -> np.ndarray:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(dtype)


def _texts(data: Path) -> list[str]:
    from briefqa.ingestion.chunk import Chunker

    corpus = json.loads((data / "corpus.json").read_text(encoding="utf-8"))
    chunker = Chunker(256, 0)
    return [c.text for a in corpus for c in chunker.split(a["body"])]


def _add(store, rng, texts: list[str], first: int, docs: int) -> None:
    from briefqa.text import split_sentences

    for d in range(first, first + docs):
        spans, sentences = [], []
        for j in range(CHUNKS_PER_DOC):
            text = f"{texts[(d * CHUNKS_PER_DOC + j) % len(texts)]} doc{d}"
            spans.append((j * 2000, j * 2000 + len(text), text))
            sent = [(x.start, x.end) for x in split_sentences(text)] or [(0, len(text))]
            sentences.append((sent, _unit(rng, len(sent), np.float16)))
        meta = {"title": f"Synthetic article {d}", "source": f"Outlet {d % 50}",
                "published_at": f"2023-{1 + d % 12:02d}-{1 + d % 28:02d}"}
        store.add_document(f"syn{d:08d}", meta, spans, _unit(rng, CHUNKS_PER_DOC), [f"synthetic#{d}"], sentences)


def build(index: str, texts: list[str], chunks: int, segment: int) -> float:
    """Write the synthetic index, committing every ``segment`` chunks as a bulk ingest does; the seconds spent
    committing."""
    from tqdm import tqdm

    from briefqa.models.embed import embedder_id
    from briefqa.store.location import create_store

    rng = np.random.default_rng(0)
    store = create_store(index, embedder_id("onnx-int8"), DIM, 256, 0, "cl100k_base", "lexical", "english")
    docs, per = chunks // CHUNKS_PER_DOC, max(1, segment // CHUNKS_PER_DOC)
    spent = 0.0
    for first in tqdm(range(0, docs, per), desc="writing", unit="segment"):
        _add(store, rng, texts, first, min(per, docs - first))
        started = time.perf_counter()
        store.commit()
        spent += time.perf_counter() - started
    return spent


def _child(code: str) -> dict:
    """Run ``code`` in a fresh process (its progress bar shown) and return the JSON it prints last."""
    out = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# Each in a process of its own, as a milvus-lite file opens in one process at a time.
EXISTS = """
import json
from briefqa.store.location import store_exists
print(json.dumps({{"exists": store_exists({index!r})}}))
"""

BUILD = """
import json, sys
sys.path.insert(0, {bench!r})
from pathlib import Path
from bench_local_scale import _texts, build
print(json.dumps({{"commit_s": build({index!r}, _texts(Path({data!r})), {chunks}, {segment})}}))
"""


OPEN = """
import json, time
t0 = time.perf_counter()
from briefqa.store.location import open_store
s = open_store({index!r})
opened = time.perf_counter() - t0
rss = [int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmRSS')][0] / 1024
print(json.dumps({{"open_s": opened, "rss_mb": rss, "chunks": s.chunk_count}}))
"""

SEARCH = """
import json, time
from briefqa import BriefQA
qa = BriefQA.open({index!r})
questions = [q["query"] for q in json.load(open({queries!r}))[:100]]
out = {{}}
for mode, over in (("dense", {{"retrieval_mode": "dense", "news_aware": False}}),
                   ("lexical", {{"news_aware": False, "rerank": False}}), ("default", {{}})):
    times = []
    for q in questions:
        t0 = time.perf_counter(); qa.retrieve(q, k=10, **over); times.append(time.perf_counter() - t0)
    times.sort()
    out[mode] = (times[len(times) // 2] * 1000, times[int(0.95 * len(times)) - 1] * 1000)
qa.ask(questions[0])
out["rss_mb"] = max(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')) / 1024
print(json.dumps(out))
"""

APPEND = """
import json, sys, time
import numpy as np
sys.path.insert(0, {bench!r})
from bench_local_scale import _add, _texts
from pathlib import Path
from briefqa.store.location import open_store, writer
texts = _texts(Path({data!r}))
with writer({index!r}):
    s = open_store({index!r})
    t0 = time.perf_counter()
    _add(s, np.random.default_rng(1), texts, 10_000_000 + len(s.documents), 100)  # new ids each run
    s.commit()
    print(json.dumps({{"append_s": time.perf_counter() - t0}}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path, help="directory with MultiHop-RAG corpus.json and queries-dev.json")
    ap.add_argument("--chunks", type=int, default=1_000_000)
    ap.add_argument("--segment", type=int, default=100_000, help="chunks per commit while writing the index")
    ap.add_argument("--work", type=Path, default=Path("benchmarks/out/local-scale"))
    ap.add_argument("--milvus-lite", action="store_true", help="measure the Milvus backend in milvus-lite instead")
    args = ap.parse_args()
    path = args.work / (f"milvus-{args.chunks}.db" if args.milvus_lite else f"index-{args.chunks}")
    index = f"milvus-lite:{path}" if args.milvus_lite else str(path)
    bench = str(Path(__file__).parent)
    built = None
    args.work.mkdir(parents=True, exist_ok=True)
    if not _child(EXISTS.format(index=index))["exists"]:
        print(f"writing {args.chunks} synthetic chunks into {index} ...", file=sys.stderr)
        built = _child(BUILD.format(bench=bench, index=index, data=str(args.data), chunks=args.chunks,
                                    segment=args.segment))["commit_s"]
    opened = _child(OPEN.format(index=index))
    searched = _child(SEARCH.format(index=index, queries=str(args.data / "queries-dev.json")))
    appended = _child(APPEND.format(bench=bench, data=str(args.data), index=index))
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e9
    backend = "the Milvus backend (milvus-lite)" if args.milvus_lite else "the local backend"
    print(f"\n## {backend[0].upper()}{backend[1:]} at {opened['chunks']:,} chunks ({size:.1f} GB on disk)\n")
    print("| measure | value | target |\n|---|---|---|")
    if built is not None:
        print(f"| commits while writing it ({args.segment:,} chunks each) | {built:.0f} s in all | |")
    print(f"| open (fresh process) | {opened['open_s']:.1f} s | ≤ 5 s |")
    print(f"| reader memory after open (RSS) | {opened['rss_mb']:.0f} MB | reported |")
    for mode in ("dense", "lexical", "default"):
        p50, p95 = searched[mode]
        print(f"| retrieval p50 / p95, {mode} | {p50:.0f} / {p95:.0f} ms | p95 ≤ 100 ms |")
    print(f"| peak memory of a reader that answered (VmHWM) | {searched['rss_mb']:.0f} MB | reported |")
    print(f"| add 100 articles and commit | {appended['append_s']:.1f} s | ≤ 10 s |")


if __name__ == "__main__":
    main()
