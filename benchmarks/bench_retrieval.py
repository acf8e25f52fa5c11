"""Retrieval ablation on MultiHop-RAG: each component's contribution and latency, upstream protocol, k=10.

    python benchmarks/bench_retrieval.py ../shared/data/multihop-rag/ [--chunkings 256,256/128,128] [--work DIR]

Builds (or reuses, under --work) one index per chunking (``size`` or ``size/overlap`` in tokens) from corpus.json,
then evaluates queries-dev.json with ``briefqa.evaluate`` (retrieval only) under configurations that add one
component at a time: BM25 alone, the metadata prefix, stemming, the news-aware parts, the per-part reserve and the
learned passage reranker (the default), then alternatives to the default: parts searched by their own clause, the
dense side (hybrid) and MMR; dense alone is the LangChain-tutorial-like anchor. The lexical variants are
re-indexed in place (BM25 is rebuilt from the stored chunks; nothing is re-embedded).
Prints one Markdown table per chunking.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# (label, lexical index variant (prefix, stemmer), setting overrides). The chain adds one component per row,
# the learned reranker last; the indented rows are alternatives to the default (the row above them).
_NO_RERANK = {"rerank": False}
ABLATION = [
    ("dense only (MiniLM + FAISS)", ("lexical", "english"),
     {"retrieval_mode": "dense", "news_aware": False, **_NO_RERANK}),
    ("BM25 only", ("none", ""), {"retrieval_mode": "lexical", "news_aware": False, **_NO_RERANK}),
    ("+ title/source/date prefix", ("lexical", ""), {"retrieval_mode": "lexical", "news_aware": False, **_NO_RERANK}),
    ("+ stemming", ("lexical", "english"), {"retrieval_mode": "lexical", "news_aware": False, **_NO_RERANK}),
    ("+ news-aware parts, no reserve", ("lexical", "english"),
     {"retrieval_mode": "lexical", "part_reserve": 0, **_NO_RERANK}),
    ("+ reserve 2 per part", ("lexical", "english"), {"retrieval_mode": "lexical", **_NO_RERANK}),
    ("+ learned reranker (default)", ("lexical", "english"), {}),
    ("  parts searched by their clause", ("lexical", "english"), {"part_query": "clause"}),
    ("  + dense side (hybrid, RRF 1:1)", ("lexical", "english"), {"retrieval_mode": "hybrid"}),
    ("  + dense side (hybrid, RRF 0.3:1)", ("lexical", "english"), {"retrieval_mode": "hybrid", "dense_weight": 0.3}),
    ("  + MMR (lambda 0.7)", ("lexical", "english"), {"mmr": True}),
]
COLUMNS = ("hits_at_10", "hits_at_4", "mrr_at_10", "map_at_10", "recall_at_10", "ndcg_at_10")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path, help="directory with corpus.json and queries-dev.json")
    ap.add_argument("--chunkings", default="256,256/128,128",
                    help="comma-separated chunk sizes, each optionally /overlap (tokens)")
    ap.add_argument("--work", type=Path, default=Path("benchmarks/out/retrieval"))
    ap.add_argument("--limit", type=int, default=None, help="only the first N queries")
    args = ap.parse_args()

    import briefqa
    from briefqa.evaluation.runner import EvalConfig, evaluate
    from briefqa.store.local import IndexStore

    for spec in args.chunkings.split(","):
        size, _, overlap = spec.partition("/")
        size, overlap = int(size), int(overlap or 0)
        index = args.work / (f"index-{size}-o{overlap}" if overlap else f"index-{size}")
        if not IndexStore.exists(index):
            print(f"building {index} ...", file=sys.stderr)
            briefqa.ingest(args.data / "corpus.json", index=index, chunk_size=size, chunk_overlap=overlap,
                           progress=True)
        info = IndexStore.read_manifest(index)
        windows = f", overlapping by {overlap}" if overlap else ""
        print(f"\n## {len(info.documents)} articles, chunks of {size} tokens{windows} "
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
        article_level(index, args.data / "queries-dev.json", args.limit)


def article_level(index: Path, queries: Path, limit: int | None) -> None:
    """The default ranking scored twice: as passages, and as the articles they come from.

    The second is what the ranking would score if, inside each article it found, it always chose the passage
    that holds the evidence: the gap between the two rows is the part of the error that lies in choosing the
    passage within an article rather than in finding the article.
    """
    import statistics

    import numpy as np

    import briefqa
    from briefqa.evaluation.dataset import read_dataset
    from briefqa.evaluation.metrics import retrieval_scores, squash
    from briefqa.store.base import Filters

    qa = briefqa.BriefQA.open(index)
    store = qa.store
    articles = {d: " ".join(store.chunk(c).text for c in e.chunk_ids) for d, e in store.manifest.documents.items()}
    items = [i for i in read_dataset(queries).items if i.evidence][:limit]
    rows = {"passages (default)": [], "their articles": []}
    for item in items:
        found = qa.retrieve(item.question, k=10)
        rows["passages (default)"].append(retrieval_scores([p.text for p in found], item.evidence))
        rows["their articles"].append(retrieval_scores([articles[p.metadata["doc_id"]] for p in found],
                                                       item.evidence))
    print(f"\nThe default ranking scored by passage and by article ({len(items)} questions):\n")
    print("| scored as | " + " | ".join(COLUMNS) + " |")
    print("|---|" + "---|" * len(COLUMNS))
    for label, scores in rows.items():
        print(f"| {label} | " + " | ".join(f"{statistics.fmean(s[c] for s in scores):.3f}" for c in COLUMNS) + " |")

    # Inside the article: how often each scorer puts the passage holding a gold sentence first among the
    # passages of its article (what a reranker has to improve).
    squashed = {c.id: squash(c.text) for c in store.iter_chunks()}
    first = {"BM25": [], "MiniLM": []}
    for item in items:
        qvec = qa.embedder.encode_query(item.question)
        for fact in {squash(e) for e in item.evidence}:
            holders = {cid for cid, text in squashed.items() if fact in text}
            if not holders:
                continue
            doc = store.chunk(min(holders)).doc_id
            own = np.asarray(store.manifest.documents[doc].chunk_ids)
            if len(own) < 2:
                continue
            article = Filters(doc_ids=frozenset({doc}))
            lexical = {h.chunk_id: h.score for h in store.lexical_search(item.question, len(own), article)}
            dense = {h.chunk_id: h.score for h in store.dense_search(qvec, len(own), article)}
            for name, scores in (("BM25", lexical), ("MiniLM", dense)):
                best = max(own.tolist(), key=lambda c, sc=scores: sc.get(c, float("-inf")))
                first[name].append(best in holders)
    print(f"\nInside the article ({len(first['BM25'])} gold sentences in articles of two or more passages), "
          "the gold passage ranked first among its article's passages: "
          + ", ".join(f"{name} {statistics.fmean(v):.3f}" for name, v in first.items()))


if __name__ == "__main__":
    main()
