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


def record_articles(record: dict) -> list[tuple[str, str]]:
    """(source, title) of the articles a training record is on: a question's evidence articles, or a
    conversation's one article."""
    if "turns" in record:
        return [(record.get("source", ""), record.get("title", ""))]
    return sorted({(e.get("source", ""), e.get("title", "")) for e in record["evidence_list"]})


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
        articles_of = {f"c{n:04d}": record_articles(json.loads(line)) for n, line in enumerate(lines, 1)
                       if line.strip()}
    else:
        raw = json.loads(path.read_text(encoding="utf-8"))
        articles_of = {f"mh-{i:04d}": record_articles(r) for i, r in enumerate(raw)}
    out = []
    for item in data.items:
        articles = articles_of.get(item.conversation or item.id, [])
        out.append(Question(item.id, item.question, standalone(item), item.answer, item.answerable,
                            [_squash(f) for f in item.evidence], articles, split_of(articles, item.question),
                            item.previous))
    return out


def split_records(path: str | Path, split: str) -> list[dict]:
    """The raw records of a training file (questions, or conversations: one per line) whose articles are in
    ``split``, in the file's own order."""
    path = Path(path)
    if path.suffix == ".jsonl":
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        records = json.loads(path.read_text(encoding="utf-8"))
    return [r for r in records if split_of(record_articles(r), r.get("query", "")) == split]


def main() -> int:
    """Write one split of a training file, in the file's own format, for ``briefqa eval``: the cal split's
    questions are on articles the reader never trained on, as the questions briefqa meets are (README, "On
    articles the reader never saw")."""
    import argparse

    from briefqa.store.local import atomic_write

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("file", type=Path, help="a training file: queries-train.json or followups-train.jsonl")
    ap.add_argument("--split", choices=("fit", "cal"), default="cal")
    ap.add_argument("--out", type=Path, required=True, help="where to write that split")
    args = ap.parse_args()
    if any(word in args.file.name for word in ("dev", "held", "test")):
        raise SystemExit(f"{args.file} is not a training file; its questions have no fit or cal split.")
    records = split_records(args.file, args.split)
    lines = args.file.suffix == ".jsonl"
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records) if lines \
        else json.dumps(records, ensure_ascii=False)
    atomic_write(args.out, text.encode("utf-8"))
    print(f"{args.out}: {len(records)} {'conversations' if lines else 'questions'} of the {args.split} split")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
