"""Wire copies: a syndication benchmark built from MultiHop-RAG, and what collapsing copies does to retrieval.

    python benchmarks/bench_copies.py ../shared/data/multihop-rag/ [--originals 150] [--runs 3] [--work DIR]

1. **Syndication set.** ``--originals`` articles of corpus.json (seeded choice) are republished one to three
   times each by made-up outlets, with the edits wire copy gets: a new headline and byline, outlet boilerplate
   at top and bottom, the final paragraphs trimmed (a quarter of the long ones cut to their first half), a
   paragraph dropped or one of the outlet's own added, a few
   words changed, a date one or two days later. The copies are mixed with the unchanged corpus.
2. **Detection quality** on that set, through ingest's own functions (``briefqa.news.copies``), for several
   containment thresholds: pairwise precision and recall against the known copies (the one real
   republication in MultiHop-RAG, Engadget's Black Friday / Cyber Monday deals page, counts as a true pair),
   real pairs merged, and whether the two Sporting News Argentina-Paraguay pages (59% shared) stay apart.
3. **Ingest cost**: ``briefqa.ingest`` of a slice of the mixed set with ``detect_copies`` on and off, runs
   alternated, medians.
4. **Retrieval with copies**: the mixed set ingested in full; top-10 passages of the MultiHop-RAG dev questions
   with ``collapse_copies`` on and off: questions whose top 10 hold two copies of one cluster. And the clean
   corpus: dev Hits@10 / Hits@4 with collapsing on and off (upstream protocol, ``briefqa.evaluate``).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

OUTLETS = ["Wire Daily", "Metro Herald", "Coastal Courier", "Valley Times", "Northern Ledger", "Evening Post Online"]
SWAPS = {"said": "stated", "says": "states", "big": "large", "new": "latest", "company": "firm", "also": "too",
         "about": "around", "people": "individuals", "show": "reveal", "help": "assist", "but": "yet"}


def _republish(article: dict, outlet: str, rng: random.Random) -> dict:
    paras = [p for p in article["body"].split("\n\n") if p.strip()]
    if len(paras) >= 6 and rng.random() < 0.25:  # cut to its first half, as short wire versions are
        paras = paras[:len(paras) // 2]
    elif len(paras) >= 4 and rng.random() < 0.7:  # trimmed final paragraphs
        paras = paras[:len(paras) - rng.randint(1, 2)]
    if len(paras) >= 4 and rng.random() < 0.4:  # a dropped paragraph
        paras.pop(rng.randrange(1, len(paras) - 1))
    elif rng.random() < 0.4:  # an added one
        paras.insert(rng.randint(1, len(paras)), f"{outlet} has contacted the parties involved for further "
                                                 "comment and will update this story as it develops.")
    words = " \n\n ".join(paras).split(" ")
    for _ in range(rng.randint(3, 6)):  # a few words changed
        spots = [i for i, w in enumerate(words) if w.lower() in SWAPS]
        if spots:
            i = rng.choice(spots)
            words[i] = SWAPS[words[i].lower()]
    body = (f"{outlet} — independent news, every day. Sign up for our newsletter.\n\n"
            + " ".join(words).replace(" \n\n ", "\n\n")
            + f"\n\n© {outlet}. All rights reserved. Share this story with your friends.")
    when = datetime.fromisoformat(article["published_at"].replace("Z", "")[:19]) + timedelta(days=rng.randint(1, 2))
    return {**article, "body": body, "source": outlet, "title": f"{outlet}: {article['title'].rstrip('.')}",
            "author": f"{outlet} staff", "published_at": when.isoformat() + "+00:00",
            "url": f"https://{outlet.lower().replace(' ', '')}.example/{rng.getrandbits(32):x}"}


def syndication_set(corpus: list[dict], originals: int, seed: int) -> tuple[list[dict], list[set[int]]]:
    """The corpus plus copies, and the groups of indexes that are copies of one story."""
    rng = random.Random(seed)
    mixed = list(corpus)
    groups = []
    for i in sorted(rng.sample(range(len(corpus)), originals)):
        group = {i}
        for outlet in rng.sample(OUTLETS, rng.randint(1, 3)):
            mixed.append(_republish(corpus[i], outlet, rng))
            group.add(len(mixed) - 1)
        groups.append(group)
    return mixed, groups


def _pairs(groups) -> set[tuple[int, int]]:
    return {(a, b) for g in groups for a in g for b in g if a < b}


def detection_table(mixed: list[dict], groups: list[set[int]], n_real: int) -> None:
    from briefqa.news.copies import CopyFinder, _components, find_pairs, signature
    from briefqa.store.base import DocEntry

    real = {(a, b) for a in range(n_real) for b in range(n_real)
            if a < b and "Black Friday deals on iPads" in mixed[a]["title"] + mixed[b]["title"]
            and "Cyber Monday deals of 2023" in mixed[a]["title"] + mixed[b]["title"]}
    truth = _pairs(groups) | real
    sporting = {i for i in range(n_real) if "Argentina vs Paraguay live" in mixed[i]["title"]}
    t0 = time.perf_counter()
    docs = {str(i): DocEntry(title=a["title"], source=a["source"], published_at=a["published_at"],
                             minhash=signature(a["body"])) for i, a in enumerate(mixed)}
    sign_s = time.perf_counter() - t0
    print(f"\n## Detection on {len(mixed)} articles ({n_real} real, {len(mixed) - n_real} copies of "
          f"{len(groups)} originals; {len(truth)} true pairs); signing took {sign_s:.1f} s\n")
    print("| containment | pairwise precision | pairwise recall | real pairs merged (not Engadget) | "
          "Sporting News pages apart | find s |")
    print("|---|---|---|---|---|---|")
    for threshold in (0.5, 0.6, 0.7, 0.8, 0.9):
        t0 = time.perf_counter()
        finder = CopyFinder(lambda d: mixed[int(d)]["body"], threshold, 7)
        edges = [(p.a, p.b) for p in find_pairs(docs, list(docs), finder)]
        found = _pairs([{int(d) for d in g} for g in _components(docs, edges) if len(g) > 1])
        took = time.perf_counter() - t0
        tp = len(found & truth)
        wrong_real = {(a, b) for a, b in found - real if a < n_real and b < n_real}
        apart = not any({a, b} == sporting for a, b in found)
        print(f"| {threshold:.1f} | {tp / max(1, len(found)):.3f} | {tp / len(truth):.3f} | {len(wrong_real)} | "
              f"{'yes' if apart else 'no'} | {took:.1f} |", flush=True)


def ingest_cost(mixed: list[dict], articles: int, runs: int, work: Path) -> None:
    import briefqa

    part = work / "slice.json"
    part.write_text(json.dumps(mixed[-articles:]), encoding="utf-8")
    times: dict[bool, list[float]] = {True: [], False: []}
    for r in range(runs):
        for on in ((True, False) if r % 2 == 0 else (False, True)):
            with tempfile.TemporaryDirectory(dir=work) as d:
                t0 = time.perf_counter()
                briefqa.ingest(part, index=Path(d) / "ix", detect_copies=on, progress=False)
                times[on].append(time.perf_counter() - t0)
    on, off = statistics.median(times[True]), statistics.median(times[False])
    print(f"\n## Ingest of {articles} articles of the mixed set, medians of {runs}\n")
    print("| detect_copies | seconds | relative |\n|---|---|---|")
    print(f"| off | {off:.1f} | 1.00 |\n| on | {on:.1f} | {on / off:.3f} |")


def retrieval_with_copies(mixed: list[dict], queries: Path, clean_index: Path | None, work: Path) -> None:
    import briefqa
    from briefqa.evaluation.runner import EvalConfig, evaluate
    from briefqa.store.location import store_exists

    index = work / "mixed-index"
    if not store_exists(index):
        (work / "mixed.json").write_text(json.dumps(mixed), encoding="utf-8")
        print(f"building {index} ...", file=sys.stderr)
        briefqa.ingest(work / "mixed.json", index=index, progress=True)
    qa = briefqa.BriefQA.open(index)
    questions = [q["query"] for q in json.loads(queries.read_text(encoding="utf-8"))]
    print(f"\n## Top 10 passages of {len(questions)} dev questions, mixed index "
          f"({len(qa.store.clusters())} clusters)\n")
    print("| collapse_copies | questions with two copies of one cluster in the top 10 |\n|---|---|")
    for collapse in (False, True):
        bad = 0
        for q in questions:
            docs: dict[str, set[str]] = {}
            for p in qa.retrieve(q, k=10, collapse_copies=collapse):
                cluster = qa.store.documents[p.metadata["doc_id"]].cluster
                if cluster:
                    docs.setdefault(cluster, set()).add(p.metadata["doc_id"])
            bad += any(len(v) > 1 for v in docs.values())
        print(f"| {'on' if collapse else 'off'} | {bad} ({bad / len(questions):.3f}) |", flush=True)
    for name, ix in (("mixed", index), ("clean", clean_index)):
        if ix is None:
            continue
        configs = [EvalConfig("collapse off", {"collapse_copies": False}), EvalConfig("collapse on (default)", {})]
        report = evaluate(queries, index=ix, configs=configs, retrieval_only=True, progress=False)
        print(f"\n### Dev retrieval, {name} index (upstream protocol)\n")
        print("| configuration | Hits@10 | Hits@4 | MRR@10 |\n|---|---|---|---|")
        for c in report.configs:
            m = c.metrics
            print(f"| {c.name} | {m['hits_at_10']:.3f} | {m['hits_at_4']:.3f} | {m['mrr_at_10']:.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path, help="directory with MultiHop-RAG corpus.json and queries-dev.json")
    ap.add_argument("--originals", type=int, default=150, help="articles republished")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--runs", type=int, default=3, help="ingest runs per setting")
    ap.add_argument("--ingest-articles", type=int, default=120, help="articles of the mixed set in the cost runs")
    ap.add_argument("--clean-index", type=Path, help="an index of the clean corpus, for its dev retrieval")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: detection,cost,retrieval")
    ap.add_argument("--work", type=Path, default=Path("benchmarks/out/copies"))
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    skip = set(args.skip.split(","))
    corpus = json.loads((args.data / "corpus.json").read_text(encoding="utf-8"))
    mixed, groups = syndication_set(corpus, args.originals, args.seed)
    if "detection" not in skip:
        detection_table(mixed, groups, len(corpus))
    if "cost" not in skip:
        ingest_cost(mixed, args.ingest_articles, args.runs, args.work)
    if "retrieval" not in skip:
        retrieval_with_copies(mixed, args.data / "queries-dev.json", args.clean_index, args.work)


if __name__ == "__main__":
    main()
