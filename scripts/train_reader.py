#!/usr/bin/env python3
"""Train briefqa's reader and write ``src/briefqa/models/reader.npz`` (its trained weights and heads).

    python scripts/train_reader.py --index IDX \\
        --train ../shared/data/natural/queries-train.json --train ../shared/data/natural/followups-train.jsonl

``IDX`` is an index of the MultiHop-RAG corpus built with the default settings (``briefqa ingest
../shared/data/multihop-rag/corpus.json --index IDX``). Training files only: a dev file is refused.

What it learns from. Each question of the *fit* split (80% of the training articles, see
``scripts/training_data.py``) is retrieved as the answerer retrieves it (top 10, default settings); its
candidates are the sentences of those passages and of its evidence article. A group is one sentence that
holds the evidence and the answer, and up to 11 that hold neither (``--negatives``): the 6 nearest to the
question by MiniLM's cosine among those that say no word of the answer the question lacks (``--hard``: the
sentences a reader mistakes for the answer, same words and subject, another fact), then at random, half from
the evidence article and half from the other retrieved passages. An unanswerable question's group is 12
retrieved sentences, none answering, the 6 nearest first. ``--cloze SHARE`` also gives that share of the
answerable questions a second group, the same sentences asked in the answering one's own words
(:func:`cloze_question`; tried at 0.5 and not kept, docs/answers.md).

How. The packaged MiniLM read as the runtime reads it (:class:`briefqa.models.reader.PairEncoder`), with a
relevance head and a span head (:mod:`briefqa.models.readernet`). ``--mode full`` (the default) trains every
weight of its six layers (AdamW at 5e-5, the new heads at 5e-4) and writes each layer's change as int8 with a
scale per row, about 10 MB; ``--mode lora`` trains rank-16 adapters beside the frozen weights instead (675k
weights, 1.4 MB). Per group, a listwise loss (softmax over the group, the answering sentence the target), half
a binary cross-entropy per sentence (so that a question no sentence answers scores low everywhere, which
abstention reads), and the span loss (start and end of the answer in the answering sentence). 5% warm-up and a
linear decay, two epochs, one group a step, seeded: the same data and thread count give the same file. About
65 minutes on 2 cores: 15 to build the groups, 50 to train.

At the end it reports, on the first 150 questions of the *cal* split it did not train on (``--report``), how
often the answering sentence comes first among the top 5 passages' sentences: for the file as written (the int8
changes, as the runtime applies them), for the file it replaces, and for MiniLM's cosine.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "briefqa" / "models" / "reader.npz"
NEGATIVES = 11
#: Of a group's wrong sentences, how many are the nearest to the question (the rest are drawn at random).
HARD = 6


@dataclass
class Group:
    """One question's training sentences: the answering one first (for answerable questions)."""

    question: str
    seconds: list[str]  # what the reader reads of each sentence: title | sentence
    offsets: list[int]  # where the sentence starts in it
    answerable: bool
    span: tuple[int, int] | None  # the answer's characters in the first sentence


#: Curly quotes as straight ones, one character for one, so that positions stay where they were.
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'})


def _answer_in(sentence: str, answer: str | None) -> tuple[int, int] | None:
    """Where the gold answer stands in the sentence (case and quote style aside)."""
    if not answer:
        return None
    at = sentence.translate(_QUOTES).lower().find(answer.translate(_QUOTES).lower())
    return (at, at + len(answer)) if at >= 0 else None


def _sentences_of(store, doc_ids) -> list[tuple[str, str]]:
    """(title, sentence) of every sentence of the documents ``doc_ids``, from the index's own spans."""
    out = []
    for doc_id in doc_ids:
        entry = store.documents[doc_id]
        store.fetch(entry.chunk_ids)
        for cid in entry.chunk_ids:
            c = store.chunk(cid)
            out += [(entry.title, c.text[a:b]) for a, b in c.sentences]
    return out


def _nearest(qa, question: str, sentences: list[tuple[str, str]], n: int) -> list[tuple[str, str]]:
    """The ``n`` sentences closest to the question by MiniLM's cosine: the ones a reader most easily mistakes
    for the answer (same words, same subject, another fact)."""
    if n <= 0 or not sentences:
        return []
    cos = qa.embedder.encode([s for _, s in sentences]) @ qa.embedder.encode_query(question)
    return [sentences[i] for i in np.argsort(-cos, kind="stable")[:n]]


def _says_answer(sentence: str, q) -> bool:
    """Whether the sentence holds a word of the answer that the question does not: "runs through October 11"
    for "When does Prime Big Deal Days finish?" (answer "2:59 am ET on October 11") may answer it in other
    words, so it is no sure negative."""
    from briefqa.text import terms

    return bool((set(terms(q.answer or "")) - set(terms(q.searched))) & set(terms(sentence)))


def _negatives(qa, q, wrong, article: set, hard: int, rng: random.Random,
               negatives: int = NEGATIVES) -> list[tuple[str, str]]:
    """Up to ``negatives`` wrong sentences: the ``hard`` nearest to the question among those that say no word of
    the answer, then at random, as many from the evidence article as from the other retrieved passages."""
    chosen = _nearest(qa, q.searched, [x for x in wrong if not _says_answer(x[1], q)], hard)
    taken = set(chosen)
    rest = [x for x in wrong if x not in taken]
    if not q.answerable:
        rng.shuffle(rest)
        return chosen + rest[:negatives + 1 - len(chosen)]
    same = [x for x in rest if x in article]
    other = [x for x in rest if x not in article]
    rng.shuffle(same)
    rng.shuffle(other)
    chosen += same[:max(0, negatives // 2 - sum(x in article for x in chosen))]
    return chosen + other[:negatives - len(chosen)]


def build_groups(qa, items, seed: int, hard: int = 0, negatives: int = NEGATIVES,
                 cloze: float = 0.0) -> list[Group]:
    from tqdm import tqdm
    from training_data import holds

    from briefqa.models.reader import second_text

    rng = random.Random(seed)
    draw = random.Random(seed + 1)  # its own, so that every question's sentences are drawn as without cloze
    by_article = {(d.source or "", d.title or ""): k for k, d in qa.store.documents.items()}
    groups = []
    for q in tqdm(items, desc="building groups", unit="q", file=sys.stderr):
        passages = qa.retrieve(q.searched, k=10)
        retrieved = []
        for p in passages:
            c = qa.store.chunk(p.chunk_id)
            retrieved += [(p.metadata.get("title") or "", p.text[a:b]) for a, b in c.sentences]
        article = _sentences_of(qa.store, [by_article[a] for a in q.articles if a in by_article])
        usable = [(t, s) for t, s in dict.fromkeys(retrieved + article) if len(s.split()) >= 4]
        # A sentence that holds the answer but not the evidence is neither right nor wrong: left out.
        wrong = [(t, s) for t, s in usable if not holds(s, q.facts) and not _answer_in(s, q.answer)]
        span = None
        if q.answerable:
            right = next(((t, s) for t, s in usable if holds(s, q.facts) and _answer_in(s, q.answer)), None)
            if right is None:
                continue
            span = _answer_in(right[1], q.answer)
            chosen = [right, *_negatives(qa, q, wrong, set(article), hard, rng, negatives)]
        else:
            chosen = _negatives(qa, q, wrong, set(article), hard, rng, negatives)
        if len(chosen) < 2:
            continue
        seconds = [second_text(t, s) for t, s in chosen]
        groups.append(Group(q.searched, [x for x, _ in seconds], [o for _, o in seconds], q.answerable, span))
        asked = cloze_question(q.searched, chosen[0][1], span) if cloze and span is not None else None
        if asked and draw.random() < cloze:
            groups.append(Group(asked, groups[-1].seconds, groups[-1].offsets, True, span))
    return groups


#: The question word a cloze question asks with, by the kind of thing its original question asks for.
_CLOZE_WORDS = {"person": "who", "date": "when", "place": "where", "number": "how many", "amount": "how much",
                "percent": "what percentage", "duration": "how long"}
#: Words of the answering sentence a cloze question keeps before and after its question word.
CLOZE_BEFORE, CLOZE_AFTER = 8, 10


def cloze_question(question: str, sentence: str, span: tuple[int, int]) -> str | None:
    """The answering sentence asked in its own words, the answer put as a question word: "Iranian officials and
    state media condemned the decision" asks "Who condemned the decision?". The natural questions paraphrase
    their sentence, while staff who have read an article ask in its words, and on the demo corpus the reader
    scores such sentences far below zero (docs/answers.md, "Questions in the article's words"). None for a
    question that asks for no span (a reason is a clause, not a question word's worth) or a clause too short to
    ask anything."""
    from briefqa.relevance.expect import expectation

    wanted = expectation(question)
    if not wanted.wants_span:
        return None
    word = _CLOZE_WORDS.get(wanted.kind, "what")
    # The clause that holds the answer: from the last clause mark before it to the first after it.
    before = re.split(r"[,;:—]\s", sentence[:span[0]])[-1].split()[-CLOZE_BEFORE:]
    after = re.split(r"\s?[,;:—]\s", sentence[span[1]:].rstrip(" .!?"))[0].split()[:CLOZE_AFTER]
    if len(before) + len(after) < 3:
        return None
    text = " ".join([*before, word, *after])
    return text[:1].upper() + text[1:] + "?"


def _token_span(offsets: np.ndarray, a: int, b: int) -> tuple[int, int] | None:
    """The first and last word piece of characters [a, b) of the second text."""
    inside = [t for t, (x, y) in enumerate(offsets) if y > x >= 0 and y > a and x < b]
    return (inside[0], inside[-1]) if inside else None


def network(args):
    """The network to train, and its parameter groups: in full, the packaged layers move slowly and the new
    heads fast; with adapters, everything trained is new and moves fast."""
    from briefqa.models.readernet import fully_trainable, with_adapters

    if args.mode == "lora":
        net = with_adapters(args.rank, args.alpha)
        return net, [{"params": [p for p in net.parameters() if p.requires_grad], "lr": args.head_lr}]
    net = fully_trainable()
    heads = [*net.relevance.parameters(), *net.span.parameters()]
    layers = [p for p in net.bert.parameters() if p.requires_grad]
    return net, [{"params": layers, "lr": args.lr}, {"params": heads, "lr": args.head_lr}]


def train(groups: list[Group], args):
    import torch
    from tqdm import tqdm

    from briefqa.models.reader import PairEncoder

    torch.manual_seed(args.seed)
    net, param_groups = network(args)
    params = [p for g in param_groups for p in g["params"]]
    opt = torch.optim.AdamW(param_groups, weight_decay=0.01)
    epochs, seed = args.epochs, args.seed
    steps = len(groups) * epochs
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / (0.05 * steps)) * max(0.0, 1 - s / steps))
    encode = PairEncoder()
    rng = random.Random(seed)
    ce, bce = torch.nn.functional.cross_entropy, torch.nn.functional.binary_cross_entropy_with_logits
    net.train()
    with tqdm(total=steps, unit="group", desc="training the reader", file=sys.stderr) as bar:
        for _ in range(epochs):
            order = list(range(len(groups)))
            rng.shuffle(order)
            for g in (groups[i] for i in order):
                enc = encode(g.question, g.seconds)
                rel, start, end = net(*(torch.from_numpy(enc[k]) for k in ("input_ids", "attention_mask",
                                                                             "token_type_ids")))
                labels = torch.zeros(len(g.seconds))
                if g.answerable:
                    labels[0] = 1
                loss = 0.5 * bce(rel, labels)
                if g.answerable:
                    loss = loss + ce(rel[None], torch.tensor([0]))
                    tokens = _token_span(enc["offsets"][0], g.span[0] + g.offsets[0], g.span[1] + g.offsets[0])
                    if tokens is not None:
                        # Only the sentence's own word pieces may hold the answer.
                        outside = torch.from_numpy(enc["offsets"][0, :, 0] < g.offsets[0]) * -1e4
                        loss = loss + 0.5 * (ce((start[0] + outside)[None], torch.tensor([tokens[0]]))
                                             + ce((end[0] + outside)[None], torch.tensor([tokens[1]])))
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                sched.step()
                bar.update(1)
    return net.eval()


def report(qa, nets: dict, items) -> None:
    """Answering sentence first among the top 5 passages' sentences, on questions the readers did not see."""
    import torch
    from tqdm import tqdm
    from training_data import holds

    from briefqa.models.reader import PairEncoder, second_text

    encode = PairEncoder()
    first = {name: [] for name in [*nets, "cosine"]}
    for q in tqdm(items, desc="reporting on the cal split", unit="q", file=sys.stderr):
        if not q.answerable:
            continue
        passages = qa.retrieve(q.searched, k=5)
        sents = [(p.metadata.get("title") or "", p.text[a:b]) for p in passages
                 for a, b in qa.store.chunk(p.chunk_id).sentences]
        labels = np.array([holds(s, q.facts) for _, s in sents])
        if not labels.any():
            continue
        enc = encode(q.searched, [second_text(t, s)[0] for t, s in sents])
        inputs = [torch.from_numpy(enc[k]) for k in ("input_ids", "attention_mask", "token_type_ids")]
        for name, net in nets.items():
            with torch.no_grad():
                first[name].append(labels[int(net(*inputs)[0].argmax())])
        cos = qa.embedder.encode([s for _, s in sents]) @ qa.embedder.encode_query(q.searched)
        first["cosine"].append(labels[int(np.argmax(cos))])
    print(f"answering sentence first among the top 5 passages' sentences, {len(first['cosine'])} cal questions: "
          + ", ".join(f"{name} {np.mean(hits):.3f}" for name, hits in first.items()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", required=True, help="an index of the MultiHop-RAG corpus, default settings")
    ap.add_argument("--train", action="append", required=True, help="a training file (repeatable)")
    ap.add_argument("--mode", choices=("full", "lora"), default="full",
                    help="train every weight of the six layers, or low-rank adapters beside frozen ones")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--lr", type=float, default=5e-5, help="the packaged layers' learning rate (full mode)")
    ap.add_argument("--head-lr", type=float, default=5e-4, help="the heads' (and the adapters') learning rate")
    ap.add_argument("--rank", type=int, default=16, help="the adapters' rank (lora mode)")
    ap.add_argument("--alpha", type=float, default=32.0, help="the adapters' scale numerator (lora mode)")
    ap.add_argument("--hard", type=int, default=HARD,
                    help="of each group's wrong sentences, how many are the nearest to the question by cosine")
    ap.add_argument("--negatives", type=int, default=NEGATIVES,
                    help="wrong sentences per group (15 was tried: docs/answers.md)")
    ap.add_argument("--cloze", type=float, default=0.0, metavar="SHARE",
                    help="also train this share of answerable questions asked in their sentence's own words "
                         "(0.5 was tried: docs/answers.md)")
    ap.add_argument("--report", type=int, default=150, metavar="N",
                    help="report on the first N cal-split questions (0: none)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, help="the first N questions of each file only (a quick trial run)")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()

    import torch
    from training_data import questions

    import briefqa
    from briefqa.models.readernet import adapter_arrays, delta_arrays, merged
    from briefqa.ui.env import offline

    offline()
    torch.set_num_threads(2)  # the same thread count, the same sums, the same file
    qa = briefqa.BriefQA.open(args.index)
    items = [q for path in args.train for q in questions(path)[:args.limit]]
    fit = [q for q in items if q.split == "fit"]
    t0 = time.perf_counter()
    groups = build_groups(qa, fit, args.seed, args.hard, args.negatives, args.cloze)
    print(f"{len(groups)} groups from {len(fit)} fit questions ({sum(g.answerable for g in groups)} answerable), "
          f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    net = train(groups, args)
    out = Path(args.out)
    replaced = {"replaced file": merged(np.load(out, allow_pickle=False))} if out.is_file() else {}
    np.savez_compressed(out, **(delta_arrays(net) if args.mode == "full" else adapter_arrays(net)))
    print(f"written: {out} ({out.stat().st_size / 1e6:.1f} MB), {(time.perf_counter() - t0) / 60:.0f} min",
          file=sys.stderr)
    # As written (int8 changes) is what runs; the file it replaces is the comparison.
    if args.report:
        report(qa, {"new file": merged(np.load(out, allow_pickle=False)), **replaced},
               [q for q in items if q.split == "cal"][:args.report])
    return 0


if __name__ == "__main__":
    sys.exit(main())
