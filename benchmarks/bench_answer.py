"""Answer modes side by side: the extractive answerer against the embedded LLM (and any other backend).

    python benchmarks/bench_answer.py ../shared/data/seed/ --distractors ../shared/data/multihop-rag/corpus.json
    python benchmarks/bench_answer.py ../shared/data/multihop-rag/queries-dev.json --index IDX --limit 100

With a seed directory, builds an index of its article (with its metadata sidecar) among the first 51
MultiHop-RAG articles as distractors, as the tests do, and evaluates its queries-dev.json. With a dataset
file, evaluates it on --index. Prints answer, citation and latency metrics per mode (time to first token and
total, p50 and p95), from one ``briefqa.evaluate`` run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

COLUMNS = ("answer_upstream", "answer_strict", "abstain_precision", "abstain_recall", "cited_evidence",
           "sentences_cited", "first_token_p50_ms", "first_token_p95_ms", "total_p50_ms", "total_p95_ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path, help="a seed directory, or a dataset file")
    ap.add_argument("--distractors", type=Path, help="MultiHop-RAG corpus.json (seed mode)")
    ap.add_argument("--index", type=Path, help="index to answer from (dataset mode)")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out/answer"))
    args = ap.parse_args()

    import briefqa
    from briefqa.evaluation.runner import EvalConfig, evaluate

    dataset, index = args.data, args.index
    if args.data.is_dir():
        work = Path(tempfile.mkdtemp(prefix="briefqa-answer-"))
        for f in args.data.glob("*"):
            if f.name != "queries-dev.json":
                shutil.copy(f, work)
        if args.distractors:
            records = json.loads(args.distractors.read_text(encoding="utf-8"))[::12][:51]
            (work / "distractors.json").write_text(json.dumps(records), encoding="utf-8")
        index = work / "index"
        briefqa.ingest(work, index=index, progress=False)
        dataset = args.data / "queries-dev.json"
    configs = [EvalConfig("extractive", {"answer_mode": "extractive"}),
               EvalConfig("embedded LLM (SmolLM2-135M)", {"answer_mode": "llm", "backend": "embedded"})]
    report = evaluate(dataset, index=index, configs=configs, limit=args.limit, out=args.out, progress=True)
    print(f"\n{report.dataset['questions']} questions of {Path(report.dataset['path']).name}\n")
    print("| answer mode | " + " | ".join(COLUMNS) + " |")
    print("|---|" + "---|" * len(COLUMNS))
    for c in report.configs:
        cells = " | ".join(f"{c.metrics.get(n, float('nan')):.3f}" if not n.endswith("_ms")
                           else f"{c.metrics.get(n, 0):.0f}" for n in COLUMNS)
        print(f"| {c.name} | {cells} |")


if __name__ == "__main__":
    main()
