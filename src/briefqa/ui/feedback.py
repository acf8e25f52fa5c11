"""Feedback on answers, kept where evaluators can read it: one JSON object a line.

Each record holds the rating and comment with everything needed to judge them later: the question as typed
and as searched, the answer, its citations (passage titles, spans and the cited sentences) and the settings
in force. Lines are appended whole and flushed to disk; a line cut short by a crash is skipped by readers.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..records import Answer

_LOCK = threading.Lock()


def feedback_record(answer: Answer, rating: str, comment: str = "", *, asked: str = "",
                    settings: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rating": rating, "comment": comment.strip(),
        "question": asked or answer.question, "searched": answer.question, "answer": answer.text,
        "abstained": answer.abstained, "mode": answer.mode,
        "citations": [{"marker": c.marker, "title": c.passage.metadata.get("title"),
                       "source": c.passage.metadata.get("source"), "doc_id": c.passage.metadata.get("doc_id"),
                       "start": c.passage.metadata.get("start"), "end": c.passage.metadata.get("end"),
                       "sentence": c.sentence} for c in answer.citations],
        "settings": settings or {},
    }


def append_feedback(path: str | Path, record: dict[str, Any]) -> None:
    """Append one record as one line, flushed and synced before returning."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    with _LOCK, path.open("a+b") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell():
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":  # a line torn by a crash: end it, so this record stays whole
                line = b"\n" + line
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def read_feedback(path: str | Path) -> list[dict[str, Any]]:
    out = []
    p = Path(path)
    if p.is_file():
        for line in p.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out
