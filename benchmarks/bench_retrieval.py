"""Retrieval ablation on MultiHop-RAG: each component's contribution and latency, upstream protocol, k=10.

    python benchmarks/bench_retrieval.py ../shared/data/multihop-rag/ [--chunk-sizes 256,128] [--work DIR]

Builds (or reuses, under --work) one index per chunk size from corpus.json, then evaluates queries-dev.json
with ``briefqa.evaluate`` (retrieval only) under configurations that add one component at a time:
BM25 alone, the metadata prefix, stemming, the news-aware parts, the per-part reserve, the dense side (hybrid),
and MMR; dense alone is the LangChain-tutorial-like anchor. The lexical variants are re-indexed in place
(BM25 is rebuilt from the stored chunks; nothing is re-embedded). Prints one Markdown table per chunk size.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# (label, lexical index variant (prefix, stemmer), setting overrides)
ABLATION = [
    ("dense only (MiniLM + FAISS)", ("lexical", "english"), {"retrieval_mode": "dense", "news_aware": False}),
    ("BM25 only", ("none", ""), {"retrieval_mode": "lexical", "news_aware": False}),
    ("+ title/source/date prefix", ("lexical", ""), {"retrieval_mode": "lexical", "news_aware": False}),
    ("+ stemming", ("lexical", "english"), {"retrieval_mode": "lexical", "news_aware": False}),
    ("+ news-aware parts, no reserve", ("lexical", "english"), {"retrieval_mode": "lexical", "part_reserve": 0}),
    ("+ reserve 2 per part (default)", ("lexical", "english"), {"retrieval_mode": "lexical"}),
    ("  parts searched by their clause", ("lexical", "english"), {"retrieval_mode": "lexical",
                                                                   "part_query": "clause"}),
    ("  + dense side (hybrid, RRF 1:1)", ("lexical", "english"), {"retrieval_mode": "hybrid"}),
    ("  + dense side (hybrid, RRF 0.3:1)", ("lexical", "english"), {"retrieval_mode": "hybrid",
                                                                     "dense_weight": 0.3}),
    ("  + MMR (lambda 0.7)", ("lexical", "english"), {"retrieval_mode": "lexical", "mmr": True}),
]
COLUMNS = ("hits_at_10", "hits_at_4", "mrr_at_10", "map_at_10", "recall_at_10", "ndcg_at_10")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path, help="directory with corpus.json and queries-dev.json")
    ap.add_argument("--chunk-sizes", default="256,128")
    ap.add_argument("--work", type=Path, default=Path("benchmarks/out/retrieval"))
    ap.add_argument("--limit", type=int, default=None, help="only the first N queries")
    args = ap.parse_args()

    import briefqa
    from briefqa.evaluate import EvalConfig, evaluate
    from briefqa.index import IndexStore

    for size in [int(s) for s in args.chunk_sizes.split(",")]:
        index = args.work / f"index-{size}"
        if not IndexStore.exists(index):
            print(f"building {index} ...", file=sys.stderr)
            briefqa.ingest(args.data / "corpus.json", index=index, chunk_size=size, progress=True)
        info = IndexStore.read_manifest(index)
        print(f"\n## {len(info.documents)} articles, chunks of {size} tokens "
              f"({sum(len(d.chunk_ids) for d in info.documents.values())} chunks)\n")
        print("| configuration | " + " | ".join(COLUMNS) + " | p50 ms | p95 ms |")
        print("|---|" + "---|" * (len(COLUMNS) + 2))
        variant = None
        for label, (prefix, stemmer), overrides in ABLATION:
            if variant != (prefix, stemmer):
                briefqa.ingest(args.data / "corpus.json", index=index, index_prefix=prefix,
                               lexical_stemmer=stemmer, progress=False)
                variant = (prefix, stemmer)
            report = evaluate(args.data / "queries-dev.json", index=index, configs=[EvalConfig(label, overrides)],
                              retrieval_only=True, limit=args.limit, progress=False)
            m = report.configs[0].metrics
            cells = " | ".join(f"{m[c]:.3f}" for c in COLUMNS)
            print(f"| {label} | {cells} | {m['retrieve_p50_ms']:.1f} | {m['retrieve_p95_ms']:.1f} |", flush=True)
        # Leave the index as the defaults build it.
        briefqa.ingest(args.data / "corpus.json", index=index, index_prefix="lexical", lexical_stemmer="english",
                       progress=False)


if __name__ == "__main__":
    main()
