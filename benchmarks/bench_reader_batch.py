"""The reader one sentence per onnxruntime run (``READ_BATCH``) against batches of 16, as it read before.

    python benchmarks/bench_reader_batch.py ../shared/data/natural/queries-dev.json --index IDX

``IDX`` is an index of the MultiHop-RAG corpus. For each question the sentences the reader reads are gathered
once (retrieval, the feature model's best ``prefilter``), then read at each batch size in turn, the order
alternating between rounds so that neither always runs first on a warm cache. The table gives each round's
p50 and p95 over the questions, and the ratio to batches of 16 with its median over the rounds: the machines
are shared and noisy. It also gives how far the same sentence's logit moves between the two, which is why one
sentence per run is the default: the int8 model quantises its activations with one scale per run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

BASELINE = 16


def gather(qa, questions: list[str]) -> list[tuple[str, list[str], list[str]]]:
    """Each question's sentences as the scorer hands them to the reader, with their articles' titles."""
    from briefqa.relevance.features import sentence_features
    from briefqa.relevance.scorer import SentenceScorer

    scorer = SentenceScorer.packaged()
    work = []
    for q in questions:
        passages = qa.retriever.retrieve(q, qa.settings)
        cands, x = sentence_features(q, passages, qa.store, qa.embedder)
        route = scorer.route(q)
        if not len(cands) or route.combine is None:
            continue
        read = np.argsort(-route.sentence.logits(x), kind="stable")[:route.prefilter]
        work.append((q, [cands[i].text for i in read],
                     [passages[cands[i].passage].metadata.get("title") or "" for i in read]))
    return work


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("queries", type=Path, help="natural dev queries-dev.json")
    ap.add_argument("--index", type=Path, required=True, help="an index of the MultiHop-RAG corpus")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    import briefqa
    from briefqa.models.reader import READ_BATCH, Reader
    from briefqa.ui.env import offline

    offline()
    qa = briefqa.BriefQA.open(args.index)
    reader = Reader.packaged()
    work = gather(qa, [q["query"] for q in json.loads(args.queries.read_text(encoding="utf-8"))])
    sizes = (BASELINE, READ_BATCH)
    took = {b: [[] for _ in range(args.rounds)] for b in sizes}
    moved = []
    for r in range(args.rounds):
        for q, sentences, titles in work:
            readings = {}
            for b in sizes if r % 2 == 0 else sizes[::-1]:
                t0 = time.perf_counter()
                readings[b] = reader.read(q, sentences, titles, batch_size=b)
                took[b][r].append(time.perf_counter() - t0)
            if r == 0:
                moved.append(float(np.abs(readings[BASELINE].relevance - readings[READ_BATCH].relevance).max()))
    print(f"\n## The reader's {len(work)} natural dev questions, {args.rounds} rounds, ms per question\n")
    print("| sentences per run | p50 per round | p95 per round | p95 / batches of 16 (median) |")
    print("|---|---|---|---|")
    for b in sizes:
        p50 = [np.percentile(t, 50) * 1000 for t in took[b]]
        p95 = [np.percentile(t, 95) * 1000 for t in took[b]]
        ratio = np.median([np.percentile(t, 95) / np.percentile(u, 95) for t, u in zip(took[b], took[BASELINE],
                                                                                       strict=True)])
        print(f"| {b} | {' / '.join(f'{v:.0f}' for v in p50)} | {' / '.join(f'{v:.0f}' for v in p95)} | "
              f"{ratio:.2f} |")
    print(f"\nthe same sentence's logit, batches of 16 against one per run: median of each question's largest move "
          f"{np.median(moved):.2f}, largest {max(moved):.2f}")


if __name__ == "__main__":
    main()
