"""Ingest throughput against its two anchors, re-ingest time, retrieval latency and peak memory.

    python benchmarks/bench_ingest.py ../shared/data/multihop-rag/corpus.json [--articles 200] [--runs 3]

In one process, with the same thread settings and the same chunks (briefqa's own, 256 tokens, no overlap), a
warmed-up model, and the order of pipelines rotated between runs:

* ``encode`` alone: ``SentenceTransformer.encode`` (batch 32, normalised), the torch ceiling;
* the LangChain tutorial pipeline: ``FAISS.from_documents(docs, HuggingFaceEmbeddings(...))``;
* ``briefqa.ingest`` end to end (load, clean, chunk, embed, FAISS + BM25, atomic save), per runtime.

Then: re-ingesting the unchanged corpus, single-query retrieval latency (model loaded) per retrieval mode over
the MultiHop-RAG dev questions, and the peak memory (max RSS) of an ingest and of a loaded ``BriefQA``, each
in a fresh subprocess. Prints a table; ratios are of medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def subset(corpus: Path, n: int | None, into: Path) -> Path:
    records = json.loads(corpus.read_text(encoding="utf-8"))
    if n:
        records = records[:n]
    out = into / "corpus.json"
    out.write_text(json.dumps(records), encoding="utf-8")
    return out


def peak_rss_mb(code: str) -> float:
    """Peak resident memory of a fresh Python process running ``code``.

    Read from /proc's VmHWM, which starts anew at exec; getrusage's ru_maxrss would include this parent's.
    """
    script = (f"{code}\nprint([int(l.split()[1]) for l in open('/proc/self/status') "
              f"if l.startswith('VmHWM')][0])")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    return int(out.strip().splitlines()[-1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", type=Path, help="MultiHop-RAG corpus.json (or any JSON list of articles)")
    ap.add_argument("--queries", type=Path, help="MultiHop-RAG queries JSON for retrieval latency "
                                                 "(default: queries-dev.json beside the corpus)")
    ap.add_argument("--articles", type=int, default=None, help="use only the first N articles")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--runtimes", default="torch,onnx-int8", help="briefqa embedding runtimes to time")
    ap.add_argument("--chunk-size", type=int, default=256)
    ap.add_argument("--latency-queries", type=int, default=300)
    args = ap.parse_args()

    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document
    from langchain_huggingface import HuggingFaceEmbeddings

    import briefqa
    from briefqa.evaluation.metrics import percentile
    from briefqa.ingestion.chunk import Chunker
    from briefqa.ingestion.load import load_file
    from briefqa.models.embed import get_embedder
    from briefqa.models.packaged import model_dir

    work = Path(tempfile.mkdtemp(prefix="briefqa-bench-"))
    corpus = subset(args.corpus, args.articles, work)
    runtimes = [r for r in args.runtimes.split(",") if r]
    torch_emb = get_embedder("torch")
    docs = [d for d in load_file(corpus) if isinstance(d, briefqa.Document)]
    chunker = Chunker(args.chunk_size, 0, embed_tokens=torch_emb.count_tokens, limit=torch_emb.content_limit)
    texts = [s.text for d in docs for s in chunker.split(d.text)]
    print(f"{len(docs)} articles, {len(texts)} chunks of <= {args.chunk_size} tokens; runs: {args.runs}; "
          f"threads: torch {__import__('torch').get_num_threads()}", file=sys.stderr)

    st = torch_emb.model
    hf = HuggingFaceEmbeddings(model_name=str(model_dir()), model_kwargs={"device": "cpu"},
                               encode_kwargs={"normalize_embeddings": True, "batch_size": 32})
    lc_docs = [Document(page_content=t) for t in texts]
    for rt in runtimes:  # warm up every model (and export ONNX files) outside the timings
        get_embedder(rt).encode(texts[:64])
    st.encode(texts[:64], batch_size=32)
    hf.embed_documents(texts[:64])

    def run_encode():
        st.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)

    def run_langchain():
        FAISS.from_documents(lc_docs, hf)

    def run_briefqa(rt):
        def go():
            briefqa.ingest(corpus, index=work / f"ix-{rt}", rebuild=True, chunk_size=args.chunk_size,
                           chunk_overlap=0, embed_runtime=rt, progress=False)
        return go

    pipelines = {"encode alone (torch)": run_encode, "LangChain tutorial": run_langchain}
    pipelines.update({f"briefqa ingest ({rt})": run_briefqa(rt) for rt in runtimes})
    times: dict[str, list[float]] = {name: [] for name in pipelines}
    names = list(pipelines)
    for r in range(args.runs):
        for name in names[r % len(names):] + names[:r % len(names)]:  # rotate the order between runs
            t = time.perf_counter()
            pipelines[name]()
            times[name].append(time.perf_counter() - t)
            print(f"run {r + 1}: {name}: {times[name][-1]:.1f}s", file=sys.stderr)

    reingest = []
    for _ in range(args.runs):
        t = time.perf_counter()
        rep = briefqa.ingest(corpus, index=work / f"ix-{runtimes[0]}", progress=False)
        reingest.append(time.perf_counter() - t)
        assert rep.chunks_embedded == 0

    enc = statistics.median(times["encode alone (torch)"])
    lc = statistics.median(times["LangChain tutorial"])
    print(f"\n## Ingest: {len(docs)} articles, {len(texts)} chunks ({args.chunk_size} tokens), "
          f"median of {args.runs} runs\n")
    print("| pipeline | median s | chunks/s | vs encode alone | vs LangChain tutorial |")
    print("|---|---|---|---|---|")
    for name, ts in times.items():
        m = statistics.median(ts)
        print(f"| {name} | {m:.1f} | {len(texts) / m:.1f} | {enc / m:.2f}x | {lc / m:.2f}x |")
    print(f"\nRe-ingest of the unchanged corpus: median {statistics.median(reingest):.2f} s over {args.runs} runs "
          "(includes reading and cleaning every file).")

    queries_path = args.queries or args.corpus.with_name("queries-dev.json")
    if queries_path.is_file():
        questions = [q["query"] for q in json.loads(queries_path.read_text(encoding="utf-8"))]
        questions = questions[:args.latency_queries]
        print(f"\n## Single-query retrieval latency, k=10, {len(questions)} MultiHop-RAG dev questions, "
              "model loaded\n")
        print("| index runtime | mode | p50 ms | p95 ms |")
        print("|---|---|---|---|")
        for rt in runtimes:
            qa = briefqa.BriefQA.open(work / f"ix-{rt}")
            for mode in ("dense", "lexical", "hybrid"):
                lat = []
                for q in questions:
                    t = time.perf_counter()
                    qa.retrieve(q, k=10, retrieval_mode=mode)
                    lat.append((time.perf_counter() - t) * 1000)
                print(f"| {rt} | {mode} | {percentile(lat, 50):.1f} | {percentile(lat, 95):.1f} |")

    print("\n## Peak memory (max RSS of a fresh process)\n")
    print("| process | MB |")
    print("|---|---|")
    for rt in runtimes:
        ix = work / f"mem-{rt}"
        mb = peak_rss_mb(f"import briefqa; briefqa.ingest({str(corpus)!r}, index={str(ix)!r}, "
                         f"chunk_size={args.chunk_size}, embed_runtime={rt!r}, progress=False)")
        print(f"| ingest ({rt}) | {mb:.0f} |")
        mb = peak_rss_mb(f"import briefqa; qa = briefqa.BriefQA.open({str(ix)!r}); "
                         "qa.ask('What did the report say about prices?')")
        print(f"| loaded BriefQA + one extractive question ({rt} index) | {mb:.0f} |")


if __name__ == "__main__":
    main()
