"""IVF against the exact scan on real MiniLM vectors: the recall@10 a large segment gives up, and its speed.

    python benchmarks/bench_ivf.py ../shared/data/multihop-rag/ [--work DIR] [--runs 3]

A segment of ``briefqa.store.segment.IVF_MIN`` chunks or more is searched through an IVF index (see
:mod:`briefqa.store.segment`). Random vectors, which the million-chunk benchmark uses for speed, have no clusters and
say nothing about recall, so this measures it on real vectors: every stored sentence vector of an index of
corpus.json (about 58,000, built or reused under --work) is the base, and the questions of queries-dev.json
(and of ../natural/queries-dev.json when present) embedded by the packaged model are the queries. For each
number of probed groups it prints recall@10 against the exact scan (the share of the exact top 10 found) and
the median over --runs of p50/p95 latency per question, with the exact scan of the same run as the baseline.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def vectors_of(index: Path) -> np.ndarray:
    from briefqa.store.local import IndexStore

    store = IndexStore.open(index)
    base = np.vstack([np.asarray(s.sentences, dtype=np.float32) for s in store.segments if s.sentences is not None])
    return base / np.linalg.norm(base, axis=1, keepdims=True)


def questions(data: Path) -> list[str]:
    from briefqa.evaluation.dataset import read_dataset

    files = [data / "queries-dev.json", data.parent / "natural" / "queries-dev.json"]
    return [item.question for f in files if f.is_file() for item in read_dataset(f).items]


def timed(index, queries: np.ndarray, k: int, params) -> tuple[np.ndarray, float, float]:
    found, took = [], []
    for q in queries:
        t = time.perf_counter()
        _, ids = index.search(q[None, :], k, params=params)
        took.append(time.perf_counter() - t)
        found.append(ids[0])
    return np.vstack(found), float(np.percentile(took, 50)) * 1e3, float(np.percentile(took, 95)) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path, help="directory with corpus.json and queries-dev.json")
    ap.add_argument("--work", type=Path, default=Path("benchmarks/out/ivf"))
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    import faiss

    import briefqa
    from briefqa.models.embed import embedder_for_index
    from briefqa.store.local import IndexStore
    from briefqa.store.segment import ivf_index, ivf_lists, ivf_probes

    index = args.work / "index"
    if not IndexStore.exists(index):
        print(f"building {index} ...", file=sys.stderr)
        briefqa.ingest(args.data / "corpus.json", index=index, progress=True)
    base = vectors_of(index)
    queries = embedder_for_index(index).encode(questions(args.data))
    exact = faiss.IndexFlatIP(base.shape[1])
    exact.add(base)
    t = time.perf_counter()
    ivf = ivf_index(base)
    ivf.add(base)
    build = time.perf_counter() - t
    lists, k = ivf_lists(len(base)), 10
    print(f"\n{len(base):,} sentence vectors, {len(queries)} questions, {lists} groups (built in {build:.1f} s), "
          f"k = {k}, medians of {args.runs} runs\n")
    print("| search | groups probed | recall@10 vs exact | p50 ms | p95 ms | p50 vs exact |")
    print("|---|---|---|---|---|---|")
    probes = sorted({max(1, lists // 64), max(1, lists // 32), ivf_probes(lists), lists // 8, lists // 4})
    runs = {p: [] for p in [0, *probes]}
    for _ in range(args.runs):
        truth, *speed = timed(exact, queries, k, None)
        runs[0].append((1.0, *speed))
        for p in probes:
            got, *speed = timed(ivf, queries, k, faiss.SearchParametersIVF(nprobe=p))
            recall = np.mean([len(set(a) & set(b)) / k for a, b in zip(got, truth, strict=True)])
            runs[p].append((recall, *speed))
    base_p50 = float(np.median([r[1] for r in runs[0]]))
    for p, rows in runs.items():
        recall, p50, p95 = (float(np.median([r[i] for r in rows])) for i in range(3))
        name = "exact (IndexFlatIP)" if p == 0 else "IVF" + (" (default)" if p == ivf_probes(lists) else "")
        print(f"| {name} | {p or 'all'} | {recall:.3f} | {p50:.2f} | {p95:.2f} | {p50 / base_p50:.2f}× |")


if __name__ == "__main__":
    main()
