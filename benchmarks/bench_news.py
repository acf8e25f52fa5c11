"""Timelines and by-source answers on the dev questions, against a plain answer in the same run.

    python benchmarks/bench_news.py ../shared/data/multihop-rag/ --index IDX [--limit N] \
        [--natural ../shared/data/natural/queries-dev.json]

* **Timeline**: for each temporal dev question (two or more dated reports on one subject), ``timeline(question)``;
  how often every evidence article appears, and how often they appear in the order of their publication dates.
* **By source**: for each dev question that names two or more publications the index holds,
  ``ask(question, by_source=True)``; how often every named publication gets a covered line, and how often a
  named publication's line comes from one of the question's evidence articles.
* **By source on staff's questions** (``--natural``): for each natural dev question, ``ask`` and
  ``ask(by_source=True)``; how often the by-source answer abstains exactly when the plain one does, how often it
  gives a line to every outlet the plain answer cites, and how often one of its lines holds the gold answer
  (beside how often the plain answer does).
* **Latency** (extractive, model loaded) of both, with a plain ``ask`` of the same questions as the anchor.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path


def _ms(values: list[float]) -> str:
    from briefqa.evaluation.metrics import percentile

    return f"{percentile(values, 50) * 1000:.0f} | {percentile(values, 95) * 1000:.0f}"


def timeline_table(qa, queries: list[dict]) -> None:
    temporal = [q for q in queries if q["question_type"] == "temporal_query"]
    present = ordered = 0
    entries, took, plain = [], [], []
    for q in temporal:
        t0 = time.perf_counter()
        t = qa.timeline(q["query"])
        took.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        qa.ask(q["query"])
        plain.append(time.perf_counter() - t0)
        entries.append(len(t.entries))
        titles = [e.title for e in t.entries]
        gold = {e["title"]: e["published_at"][:10] for e in q["evidence_list"]}
        if set(gold) <= set(titles):
            present += 1
            positions = sorted(gold, key=titles.index)
            ordered += [gold[g] for g in positions] == sorted(gold[g] for g in positions)
    n = len(temporal)
    print(f"\n## Timeline, {n} temporal dev questions\n")
    print("| every evidence report on the timeline | ... and in date order | entries (mean) | p50 ms | p95 ms |")
    print("|---|---|---|---|---|")
    print(f"| {present / n:.3f} | {ordered / n:.3f} | {statistics.mean(entries):.1f} | {_ms(took)} |")
    print(f"\nplain `ask` of the same questions: p50 | p95 ms = {_ms(plain)}")


def by_source_table(qa, queries: list[dict]) -> None:
    from briefqa.retrieval.query import analyze

    named_q = [(q, analyze(q["query"], qa.store.documents).sources) for q in queries]
    named_q = [(q, s) for q, s in named_q if len(s) >= 2]
    every = from_evidence = lines = 0
    took, plain = [], []
    for q, sources in named_q:
        t0 = time.perf_counter()
        a = qa.ask(q["query"], by_source=True)
        took.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        qa.ask(q["query"])
        plain.append(time.perf_counter() - t0)
        keys = {s.casefold() for s in sources}
        covered = [line for line in a.by_source if line.source.casefold() in keys and line.covered]
        every += len({line.source.casefold() for line in covered}) == len(keys)
        titles = {e["title"] for e in q["evidence_list"]}
        from_evidence += sum(a.passages[line.marker - 1].metadata["title"] in titles for line in covered)
        lines += len(covered)
    n = len(named_q)
    print(f"\n## By source, {n} dev questions naming two or more publications\n")
    print("| every named publication gets a covered line | named lines from an evidence article | p50 ms | p95 ms |")
    print("|---|---|---|---|")
    print(f"| {every / n:.3f} | {from_evidence / max(1, lines):.3f} | {_ms(took)} |")
    print(f"\nplain `ask` of the same questions: p50 | p95 ms = {_ms(plain)}")


def natural_by_source_table(qa, path: Path) -> None:
    from briefqa.evaluation.metrics import answer_contains

    queries = json.loads(path.read_text(encoding="utf-8"))
    same_verdict = cites_all = answered = plain_holds = lines_hold = 0
    took = []
    for q in queries:
        plain = qa.ask(q["query"])
        t0 = time.perf_counter()
        by = qa.ask(q["query"], by_source=True)
        took.append(time.perf_counter() - t0)
        same_verdict += plain.abstained == by.abstained
        if plain.abstained or q["question_type"] == "null_query":
            continue
        answered += 1
        outlets = {line.source.casefold() for line in by.by_source if line.covered}
        cites_all += {(c.passage.metadata.get("source") or "").casefold() for c in plain.citations} <= outlets
        plain_holds += answer_contains(plain.text, q["answer"])
        lines_hold += any(answer_contains(" ".join(m.sentence for m in line.quotes), q["answer"])
                          for line in by.by_source if line.covered)
    print(f"\n## By source on natural dev: {len(queries)} questions, {answered} answerable ones answered\n")
    print("| abstains as the plain answer does | lines for every outlet the answer cites | a line holds the fact "
          "| the plain answer holds it | p50 ms | p95 ms |")
    print("|---|---|---|---|---|---|")
    print(f"| {same_verdict / len(queries):.3f} | {cites_all / max(1, answered):.3f} | "
          f"{lines_hold / max(1, answered):.3f} | {plain_holds / max(1, answered):.3f} | {_ms(took)} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path, help="directory with MultiHop-RAG queries-dev.json")
    ap.add_argument("--index", required=True, help="an index of the MultiHop-RAG corpus")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--natural", type=Path, help="natural dev queries-dev.json: by-source answers on them too")
    args = ap.parse_args()

    import briefqa

    qa = briefqa.BriefQA.open(args.index)
    queries = json.loads((args.data / "queries-dev.json").read_text(encoding="utf-8"))[:args.limit]
    qa.ask(queries[0]["query"])  # warm
    timeline_table(qa, queries)
    by_source_table(qa, queries)
    if args.natural:
        natural_by_source_table(qa, args.natural)


if __name__ == "__main__":
    main()
