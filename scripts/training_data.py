"""What the training scripts read: the natural training questions, split by article, labelled by their evidence.

``scripts/train_reader.py`` and ``scripts/train_scorer.py`` import this module, so that both see the same
questions, cut the same way: the reader learns from the questions of 80% of the training articles (the *fit*
split) and the scorer calibrates on the other 20% (the *cal* split), whose questions the reader never saw. The
split goes by article, since questions on one article share its sentences. Dev questions are never read here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

#: Percent of the training articles whose questions the reader learns from.
FIT_SHARE = 80


@dataclass
class Question:
    """One training question, as the answerer is asked it."""

    id: str
    asked: str  # as typed
    searched: str  # as retrieval and the answerer see it: a follow-up rewritten to stand alone
    answer: str | None
    answerable: bool
    facts: list[str]  # the evidence, spaces and newlines removed
    articles: list[tuple[str, str]]  # (source, title) of each evidence article
    split: str = "fit"
    previous: tuple[str, ...] = field(default_factory=tuple)


def split_of(articles: list[tuple[str, str]], question: str) -> str:
    """``fit`` or ``cal``, by a hash of the evidence articles (of the question itself when it has none)."""
    key = "|".join(sorted(f"{s}\t{t}" for s, t in articles)) or question
    return "fit" if int(hashlib.sha256(key.encode()).hexdigest(), 16) % 100 < FIT_SHARE else "cal"


def _squash(text: str) -> str:
    from briefqa.evaluation.metrics import squash

    return squash(text)


def holds(text: str, facts: list[str]) -> bool:
    """Whether a sentence states the evidence: holds a fact, or is most of one that spans two sentences."""
    t = _squash(text)
    return any(f in t or (len(t) > 15 and t in f and len(t) > 0.5 * len(f)) for f in facts)


def questions(path: str | Path) -> list[Question]:
    """The questions of a training file: MultiHop-RAG's format (``queries-train.json``) or conversations
    (``followups-train.jsonl``, each turn a question, a follow-up rewritten as the chat rewrites it)."""
    from briefqa.evaluation.dataset import read_dataset
    from briefqa.evaluation.runner import standalone

    path = Path(path)
    if any(word in path.name for word in ("dev", "held", "test")):
        raise SystemExit(f"{path} is not a training file; dev questions are for choosing and reporting only.")
    data = read_dataset(path)
    if data.format == "conversations":
        lines = path.read_text(encoding="utf-8").splitlines()
        convs = {f"c{n:04d}": json.loads(line) for n, line in enumerate(lines, 1) if line.strip()}
        articles_of = {key: [(c.get("source", ""), c.get("title", ""))] for key, c in convs.items()}
    else:
        raw = json.loads(path.read_text(encoding="utf-8"))
        articles_of = {f"mh-{i:04d}": sorted({(e.get("source", ""), e.get("title", "")) for e in r["evidence_list"]})
                       for i, r in enumerate(raw)}
    out = []
    for item in data.items:
        articles = articles_of.get(item.conversation or item.id, [])
        out.append(Question(item.id, item.question, standalone(item), item.answer, item.answerable,
                            [_squash(f) for f in item.evidence], articles, split_of(articles, item.question),
                            item.previous))
    return out


def split_records(path: str | Path, split: str) -> list:
    """The raw records of a training file (questions, or conversations: one per line) whose articles are in
    ``split``, in the file's own format."""
    path = Path(path)
    if path.suffix == ".jsonl":
        convs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return [c for c in convs if split_of([(c.get("source", ""), c.get("title", ""))],
                                             c["turns"][0]["question"]) == split]
    raw = json.loads(path.read_text(encoding="utf-8"))
    return [r for r in raw if split_of(sorted({(e.get("source", ""), e.get("title", "")) for e in r["evidence_list"]}),
                                       r["query"]) == split]


def main() -> int:
    """Write one split of a training file, for ``briefqa eval``: the cal split's questions are on articles the
    reader never trained on, as the questions briefqa meets are (README, "On articles the reader never saw")."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("file", help="a training file: queries-train.json or followups-train.jsonl")
    ap.add_argument("--split", choices=("fit", "cal"), default="cal")
    ap.add_argument("--out", required=True, help="where to write that split's questions, in the same format")
    args = ap.parse_args()
    if any(word in Path(args.file).name for word in ("dev", "held", "test")):
        raise SystemExit(f"{args.file} is not a training file; its questions have no fit or cal split.")
    records = split_records(args.file, args.split)
    out = Path(args.out)
    if out.suffix == ".jsonl" or Path(args.file).suffix == ".jsonl":
        out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    else:
        out.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    print(f"{out}: {len(records)} {'conversations' if Path(args.file).suffix == '.jsonl' else 'questions'} of the "
          f"{args.split} split of {args.file}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
