"""Feedback records: everything an evaluator needs, one line each, robust to a torn last line."""

from briefqa.records import Answer, Citation, Passage
from briefqa.ui.feedback import append_feedback, feedback_record, read_feedback


def test_records_are_appended_and_read_back(tmp_path):
    p = Passage("Israel opened its embassy in Baku in August 1993.",
                {"title": "T", "source": "S", "doc_id": "d", "start": 0, "end": 49, "chunk_id": 3})
    ans = Answer("When did Israel open its embassy in Baku?", "It opened in August 1993 [1].",
                 [Citation(1, p, p.text)], [p], False, mode="extractive")
    path = tmp_path / "fb.jsonl"
    append_feedback(path, feedback_record(ans, "up", " precise ", asked="when?", settings={"k": 5}))
    with path.open("a") as fh:
        fh.write('{"rating": "do')  # a crash mid-line
    append_feedback(path, feedback_record(ans, "down"))
    rows = read_feedback(path)
    assert [r["rating"] for r in rows] == ["up", "down"]  # the torn line is skipped, the next one kept
    first = rows[0]
    assert first["comment"] == "precise" and first["question"] == "when?" and first["settings"] == {"k": 5}
    assert first["citations"][0] == {"marker": 1, "title": "T", "source": "S", "doc_id": "d", "start": 0,
                                     "end": 49, "sentence": p.text}
