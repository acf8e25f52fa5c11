"""Read evaluation datasets into one record type, whatever their format.

Three formats are read as they are:

* **multihop-rag**: the MultiHop-RAG query file, a JSON list of ``{query, answer, question_type,
  evidence_list: [{fact, ...}]}``; ``null_query`` items (answer "Insufficient information.") are unanswerable;
* **seed**: a JSON list of ``{id, question, type, answer, aliases, evidence, answerable}``;
* **jsonl**: one JSON object a line, for anyone's own questions: ``question`` (required), and optionally
  ``id``, ``answer``, ``aliases``, ``evidence`` (exact substrings of the corpus), ``type`` and
  ``answerable`` (default: true when an answer or evidence is given);
* **conversations**: JSON lines of ``{turns: [{question, answer, evidence}, ...], title?, source?}`` (the
  natural follow-up set): every turn is an item of type ``first_turn`` or ``follow_up`` that knows its
  conversation and the questions asked before it, so that the evaluator asks them in order, as the chat
  would, follow-ups rewritten.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DatasetError

FORMATS = ("multihop-rag", "seed", "jsonl", "conversations")
NULL_ANSWER = "Insufficient information."


@dataclass(frozen=True)
class EvalItem:
    id: str
    question: str
    type: str = ""
    answer: str | None = None
    aliases: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    answerable: bool = True
    conversation: str = ""  # the conversation a turn belongs to ("" for a standalone question)
    previous: tuple[str, ...] = ()  # the questions asked before it in that conversation, in order


@dataclass
class Dataset:
    path: str
    format: str
    items: list[EvalItem]
    sha256: str
    types: list[str] = field(default_factory=list)


def _as_strings(value: Any, where: str, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise DatasetError(f"{where}: '{name}' must be a string or a list of strings.")


def _multihop(records: list, path: Path) -> list[EvalItem]:
    items = []
    for i, r in enumerate(records):
        where = f"{path} item {i + 1}"
        if not isinstance(r, dict) or not isinstance(r.get("query"), str):
            raise DatasetError(f"{where} has no 'query'; is this a MultiHop-RAG query file?")
        qtype = str(r.get("question_type", ""))
        facts = tuple(e["fact"] for e in r.get("evidence_list") or [] if isinstance(e, dict) and e.get("fact"))
        answer = r.get("answer")
        items.append(EvalItem(id=f"mh-{i:04d}", question=r["query"], type=qtype, answer=answer,
                              aliases=(answer,) if answer else (), evidence=facts,
                              answerable=qtype != "null_query"))
    return items


def _seed(records: list, path: Path) -> list[EvalItem]:
    items = []
    for i, r in enumerate(records):
        where = f"{path} item {i + 1}"
        if not isinstance(r, dict) or not isinstance(r.get("question"), str):
            raise DatasetError(f"{where} has no 'question'.")
        items.append(EvalItem(id=str(r.get("id") or f"seed-{i:04d}"), question=r["question"],
                              type=str(r.get("type") or ""), answer=r.get("answer"),
                              aliases=_as_strings(r.get("aliases"), where, "aliases"),
                              evidence=_as_strings(r.get("evidence"), where, "evidence"),
                              answerable=bool(r.get("answerable", r.get("answer") is not None))))
    return items


def _json_lines(path: Path) -> Iterator[tuple[int, str, object]]:
    """Each non-blank line of ``path`` parsed: (line number, "line N of PATH", value); bad JSON is one error."""
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"line {lineno} of {path}"
            try:
                yield lineno, where, json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{where} is not valid JSON ({exc.msg}); fix that line.") from None


def _aliases(r: dict, where: str) -> tuple[str, ...]:
    """The record's aliases, else its answer when that is a string: what ``answer_contains`` looks for."""
    answer = r.get("answer")
    return _as_strings(r.get("aliases"), where, "aliases") or ((answer,) if isinstance(answer, str) else ())


def _jsonl(path: Path) -> list[EvalItem]:
    items = []
    for lineno, where, r in _json_lines(path):
        if not isinstance(r, dict) or not isinstance(r.get("question"), str) or not r["question"].strip():
            raise DatasetError(f"{where} has no 'question'; each line needs one.")
        answer = r.get("answer")
        evidence = _as_strings(r.get("evidence"), where, "evidence")
        items.append(EvalItem(id=str(r.get("id") or f"q-{lineno:05d}"), question=r["question"],
                              type=str(r.get("type") or ""), answer=answer,
                              aliases=_aliases(r, where),
                              evidence=evidence,
                              answerable=bool(r.get("answerable", answer is not None or bool(evidence)))))
    return items


def _conversations(path: Path) -> list[EvalItem]:
    items = []
    for lineno, where, r in _json_lines(path):
        turns = r.get("turns") if isinstance(r, dict) else None
        if not isinstance(turns, list) or not turns:
            raise DatasetError(f"{where} has no 'turns'; each conversation needs a list of turns.")
        asked: list[str] = []
        for t, turn in enumerate(turns):
            if not isinstance(turn, dict) or not isinstance(turn.get("question"), str):
                raise DatasetError(f"{where}, turn {t + 1}, has no 'question'.")
            answer = turn.get("answer")
            items.append(EvalItem(id=f"c{lineno:04d}-t{t + 1}", question=turn["question"],
                                  type="first_turn" if t == 0 else "follow_up", answer=answer,
                                  aliases=_aliases(turn, where),
                                  evidence=_as_strings(turn.get("evidence"), where, "evidence"),
                                  answerable=answer is not None, conversation=f"c{lineno:04d}",
                                  previous=tuple(asked)))
            asked.append(turn["question"])
    return items


def _first_line(path: Path) -> str:
    with path.open(encoding="utf-8") as fh:
        return next((line for line in fh if line.strip()), "")


def detect_format(path: Path, data: Any = None) -> str:
    if path.suffix.lower() == ".jsonl":
        return "jsonl"
    if isinstance(data, list) and data and isinstance(data[0], dict):
        first = data[0]
        if "query" in first and "evidence_list" in first:
            return "multihop-rag"
        if "question" in first:
            return "seed"
    raise DatasetError(f"{path} is in no known format; known formats: {', '.join(FORMATS)} "
                       "(see `briefqa eval --help`).")


def read_dataset(path: str | Path) -> Dataset:
    """Read a dataset in any known format; a malformed item or line names where it is."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"Dataset {path} does not exist; check the path.")
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if path.suffix.lower() == ".jsonl":
        try:
            conversations = '"turns"' in _first_line(path)
        except UnicodeDecodeError:
            raise DatasetError(f"{path} is not UTF-8 text; save it as UTF-8 JSON lines.") from None
        items = _conversations(path) if conversations else _jsonl(path)
        fmt = "conversations" if conversations else "jsonl"
    else:
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            line = getattr(exc, "lineno", "?")
            raise DatasetError(f"{path} is not valid JSON (line {line}); fix it or use the JSONL format.") \
                from None
        fmt = detect_format(path, data)
        items = _multihop(data, path) if fmt == "multihop-rag" else _seed(data, path)
    if not items:
        raise DatasetError(f"Dataset {path} holds no questions.")
    ids = [i.id for i in items]
    if len(set(ids)) != len(ids):
        raise DatasetError(f"Dataset {path} repeats question ids; ids must be unique to resume a run.")
    types = sorted({i.type for i in items})
    return Dataset(str(path), fmt, items, digest, types)
