"""Two answerers on the four dev sets: a baseline checkout's against this one's, on the same indexes.

    git archive 5999ad3 src | tar -x -C /tmp/baseline     # the answerer before the reader (the landed main)
    python benchmarks/bench_answerers.py ../shared/data --index IDX --baseline /tmp/baseline/src

``IDX`` is an index of the MultiHop-RAG corpus (``briefqa ingest ../shared/data/multihop-rag/corpus.json
--index IDX``); the seed questions get an index of their own, built here: the seed article among 51
MultiHop-RAG articles as distractors, as the tests build it. Each answerer runs ``briefqa eval`` in a process
of its own (the baseline with its ``src`` first on the path), one after the other, on natural dev, the
follow-up conversations of natural dev, the seed dev questions and the MultiHop-RAG dev split; the table
gives what the issue's targets name, per answerer and dataset. Latency is the evaluator's total per question
(retrieval and answer, models loaded), p95 of one run: a noisy machine moves it, the rest does not move.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

COLUMNS = ("answer_contains", "short_answer_shown", "short_answer_precision", "abstain_recall",
           "abstain_precision", "wrong_abstentions", "answer_words_p50", "answer_upstream", "hits_at_10",
           "hits_at_4", "total_p95_ms")
DATASETS = (("natural dev", "natural/queries-dev.json", None), ("follow-ups dev", "natural/followups-dev.jsonl", None),
            ("seed dev", "seed/queries-dev.json", "seed"), ("MultiHop-RAG dev", "multihop-rag/queries-dev.json", None))


def seed_index(data: Path, work: Path) -> Path:
    """The seed article with its sidecar among 51 MultiHop-RAG distractors, ingested once into ``work``."""
    index = work / "seed-index"
    if (index / "manifest.json").is_file():
        return index
    corpus = work / "seed-corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for f in (data / "seed").glob("*"):
        if f.name != "queries-dev.json":
            shutil.copy(f, corpus)
    records = json.loads((data / "multihop-rag" / "corpus.json").read_text(encoding="utf-8"))[::12][:51]
    (corpus / "distractors.json").write_text(json.dumps(records), encoding="utf-8")
    subprocess.run([sys.executable, "-m", "briefqa", "ingest", str(corpus), "--index", str(index)], check=True)
    return index


def run_eval(src: Path | None, dataset: Path, index: Path, out: Path) -> dict:
    """``briefqa eval`` of ``dataset`` in a process of its own (with ``src`` first on the path), its report."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(src), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "briefqa", "eval", str(dataset), "--index", str(index), "--out", str(out)],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    return json.loads((out / "report.json").read_text(encoding="utf-8"))["configs"][0]


def _cell(metrics: dict, name: str) -> str:
    value = metrics.get(name)
    if value is None:
        return "–"
    return f"{value:.0f}" if name.endswith(("_ms", "_p50")) else f"{value:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path, help="the shared data directory (natural/, seed/, multihop-rag/)")
    ap.add_argument("--index", type=Path, required=True, help="an index of the MultiHop-RAG corpus")
    ap.add_argument("--baseline", type=Path, required=True, help="the src directory of the answerer to compare")
    ap.add_argument("--work", type=Path, default=Path("benchmarks/out/answerers"))
    ap.add_argument("--only", action="append", help="a dataset's label, e.g. 'natural dev' (repeatable)")
    args = ap.parse_args()
    rows = []
    for label, rel, index_kind in DATASETS:
        if args.only and label not in args.only:
            continue
        index = seed_index(args.data, args.work) if index_kind == "seed" else args.index
        for name, src in (("before", args.baseline), ("after", None)):
            out = args.work / f"{name}-{Path(rel).stem}-{Path(rel).parent.name}"
            print(f"{label}: {name} …", file=sys.stderr, flush=True)
            report = run_eval(src, args.data / rel, index, out)
            rows.append((label, name, report["metrics"]))
            if "follow_up" in report.get("by_type", {}):  # what the follow-up rewrite is judged by
                rows.append((f"{label}, second turns", name, report["by_type"]["follow_up"]))
    print("| dataset | answerer | " + " | ".join(COLUMNS) + " |")
    print("|---|---|" + "---|" * len(COLUMNS))
    for label, name, metrics in rows:
        print(f"| {label} | {name} | " + " | ".join(_cell(metrics, c) for c in COLUMNS) + " |")


if __name__ == "__main__":
    main()
