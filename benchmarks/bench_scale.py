"""Scale-out benchmarks: the Milvus backend against the local one, and Ray ingest against one process.

    python benchmarks/bench_scale.py parity INDEX DATASET [--work DIR] [--limit N] [--runs R]
    python benchmarks/bench_scale.py ray CORPUS [--articles N] [--runs R] [--commit-every D] [--work DIR]

``parity`` copies the local index INDEX into a milvus-lite file (nothing is re-embedded: the same vectors), then
evaluates DATASET (retrieval only) on both backends, dense-only and with the default settings, and prints
Hits@10, Hits@4 and MRR@10 with the median per-question retrieval latency (p50, p95) over ``--runs``.

``ray`` ingests the first N articles of CORPUS into a new local index in one process and with ``--ray`` (a local
Ray cluster of this machine's cores: one embedding actor with a thread per core), ``--runs`` times each,
alternating, and prints the median chunks per second of each and their ratio; it checks that both indexes hold
the same chunk texts and ids. Model loading is warmed up first for the single process; Ray's figure includes
starting its actors and shipping the model, which a long ingest amortises. ``--commit-every D`` sets the
``commit_every`` setting for both (a commit, so an embedding batch, every D articles).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path


def _evaluate(dataset: Path, index: str, name: str, overrides: dict, limit: int | None) -> dict[str, float]:
    import briefqa

    report = briefqa.evaluate(dataset, index=index, configs=[{"name": name, **overrides}], retrieval_only=True,
                              limit=limit, progress=False)
    return report.configs[0].metrics


def parity(args) -> None:
    from tqdm import tqdm

    from briefqa.store.location import copy_store, open_store, store_exists

    args.work.mkdir(parents=True, exist_ok=True)
    lite = f"milvus-lite:{args.work / 'parity.db'}"
    if not store_exists(lite):
        source = open_store(args.index)
        started = time.perf_counter()
        with tqdm(total=len(source.documents), unit="doc", desc="copying into milvus-lite", file=sys.stderr) as bar:
            copy_store(args.index, lite, progress=bar)
        print(f"copied {source.chunk_count} chunks into {lite} in {time.perf_counter() - started:.0f} s",
              file=sys.stderr)
    rows = []
    for label, overrides in (("dense only", {"retrieval_mode": "dense", "news_aware": False, "rerank": False}),
                             ("default", {})):
        for backend, where in (("local", str(args.index)), ("milvus-lite", lite)):
            runs = [_evaluate(args.dataset, where, label, overrides, args.limit) for _ in range(args.runs)]
            p50 = statistics.median(r["retrieve_p50_ms"] for r in runs)
            p95 = statistics.median(r["retrieve_p95_ms"] for r in runs)
            rows.append((label, backend, runs[0], p50, p95))
    print(f"\n{args.dataset}: retrieval only, k=10, latency medians of {args.runs} runs\n")
    print("| settings | backend | Hits@10 | Hits@4 | MRR@10 | retrieve p50 ms | p95 ms |")
    print("|---|---|---|---|---|---|---|")
    for label, backend, m, p50, p95 in rows:
        print(f"| {label} | {backend} | {m['hits_at_10']:.3f} | {m['hits_at_4']:.3f} | {m['mrr_at_10']:.3f} "
              f"| {p50:.0f} | {p95:.0f} |")
    for label in ("dense only", "default"):
        a, b = (r[2] for r in rows if r[0] == label)
        print(f"{label}: Milvus - local Hits@10 {b['hits_at_10'] - a['hits_at_10']:+.3f}, "
              f"Hits@4 {b['hits_at_4'] - a['hits_at_4']:+.3f}")


def _subset(corpus: Path, n: int, out: Path) -> Path:
    articles = json.loads(corpus.read_text(encoding="utf-8"))[:n]
    out.mkdir(parents=True, exist_ok=True)
    path = out / "corpus.json"
    path.write_text(json.dumps(articles), encoding="utf-8")
    return path


def ray_ingest(args) -> None:
    import briefqa
    from briefqa.store.location import open_store

    data = _subset(args.corpus, args.articles, args.work / "data")
    briefqa.ingest(data, index=args.work / "warm", progress=False)  # models loaded and the ONNX export cached
    every = {"commit_every": args.commit_every} if args.commit_every is not None else {}
    speeds: dict[str, list[float]] = {"one process": [], "ray": []}
    for run in range(args.runs):
        order = ["one process", "ray"] if run % 2 == 0 else ["ray", "one process"]
        for how in order:
            target = args.work / how.replace(" ", "-")
            shutil.rmtree(target, ignore_errors=True)
            report = briefqa.ingest(data, index=target, progress=False, ray=True if how == "ray" else None, **every)
            speeds[how].append(report.chunks_embedded / report.seconds)
            print(f"run {run + 1}, {how}: {report.chunks_embedded} chunks in {report.seconds:.1f} s", file=sys.stderr)
    a, b = open_store(args.work / "one-process"), open_store(args.work / "ray")
    same = [(c.id, c.text) for c in a.iter_chunks()] == [(c.id, c.text) for c in b.iter_chunks()]
    one, fan = statistics.median(speeds["one process"]), statistics.median(speeds["ray"])
    batches = f", a commit every {args.commit_every} articles" if args.commit_every else ""
    print(f"\n{args.articles} articles, {a.chunk_count} chunks{batches}; medians of {args.runs} runs\n")
    print("| ingest | chunks/s | vs one process |")
    print("|---|---|---|")
    print(f"| one process | {one:.1f} | 1.00 |")
    print(f"| --ray (local cluster, one actor, a thread per core) | {fan:.1f} | {fan / one:.2f} |")
    print(f"\nsame chunk texts and ids: {same}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    p = sub.add_parser("parity", help="Milvus backend against the local one")
    p.add_argument("index", type=Path, help="a local index of the dataset's corpus")
    p.add_argument("dataset", type=Path, help="a query file, e.g. ../shared/data/multihop-rag/queries-dev.json")
    p.add_argument("--limit", type=int)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--work", type=Path, default=Path("benchmarks/out/scale"))
    p = sub.add_parser("ray", help="Ray ingest against one process")
    p.add_argument("corpus", type=Path, help="a MultiHop-RAG corpus.json")
    p.add_argument("--articles", type=int, default=609)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--commit-every", type=int, help="the commit_every setting (default: the configured one)")
    p.add_argument("--work", type=Path, default=Path("benchmarks/out/scale"))
    args = ap.parse_args()
    parity(args) if args.what == "parity" else ray_ingest(args)


if __name__ == "__main__":
    main()
