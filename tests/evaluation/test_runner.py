"""The evaluation runner: datasets as they are, resumable runs, configurations side by side, readable reports."""

import json
import re
import shutil

import pytest

import briefqa
from briefqa import DatasetError
from briefqa.evaluation.dataset import read_dataset
from briefqa.evaluation.runner import (
    EvalConfig,
    EvalReport,
    checkout_commit,
    compare,
    earlier_answers,
    evaluate,
    read_config,
    short_commit,
)
from conftest import SEED

MULTIHOP_ITEMS = [
    {"query": "Did The New Arab report that Israel opened its embassy in Baku in 1993?", "answer": "Yes",
     "question_type": "comparison_query",
     "evidence_list": [{"fact": "Israel opened its embassy in Baku in August 1993.", "title": "t", "source": "s",
                        "author": None, "category": "c", "published_at": "2023-01-19", "url": "u"}]},
    {"query": "Who won the 2031 chess olympiad according to The Verge?", "answer": "Insufficient information.",
     "question_type": "null_query", "evidence_list": []},
]


def test_the_three_formats_are_read_as_they_are(tmp_path):
    seed = read_dataset(SEED / "queries-dev.json")
    assert seed.format == "seed" and len(seed.items) == 8 and not seed.items[-1].answerable
    mh = tmp_path / "mh.json"
    mh.write_text(json.dumps(MULTIHOP_ITEMS))
    multihop = read_dataset(mh)
    assert multihop.format == "multihop-rag"
    assert multihop.items[0].evidence == ("Israel opened its embassy in Baku in August 1993.",)
    assert not multihop.items[1].answerable
    own = tmp_path / "own.jsonl"
    own.write_text('{"question": "When did Israel open its embassy in Baku?", "answer": "1993"}\n'
                   '{"question": "Anything else?", "id": "x"}\n')
    mine = read_dataset(own)
    assert [i.id for i in mine.items] == ["q-00001", "x"]
    assert mine.items[0].aliases == ("1993",) and not mine.items[1].answerable


def test_bad_datasets_name_the_problem(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok?"}\n{"question": \n')
    with pytest.raises(DatasetError, match="line 2"):
        read_dataset(bad)
    unknown = tmp_path / "x.json"
    unknown.write_text('[{"prompt": "?"}]')
    with pytest.raises(DatasetError, match="known formats: multihop-rag, seed, jsonl"):
        read_dataset(unknown)
    with pytest.raises(DatasetError, match="does not exist"):
        read_dataset(tmp_path / "none.json")


def test_a_run_scores_writes_reports_and_resumes(seed_index, tmp_path):
    out = tmp_path / "out"
    report = evaluate(SEED / "queries-dev.json", index=seed_index, out=out, limit=4)
    m = report.configs[0].metrics
    assert m["questions"] == 4 and m["hits_at_10"] == 1.0 and 0 < m["mrr_at_10"] <= 1
    assert m["answer_strict"] >= 0.5 and m["marker_validity"] == 1.0
    for name in ("report.json", "report.md", "results.jsonl", "metrics.png", "by_type.png", "latency.png"):
        assert (out / name).stat().st_size > 0, name
    rec = json.loads((out / "results.jsonl").read_text().splitlines()[0])
    assert len(rec["passages"]) == 10 and rec["passages"][0]["metadata"]["title"]
    assert {"answer", "citations", "abstained", "timings"} <= set(rec)
    saved = json.loads((out / "report.json").read_text())
    assert saved["dataset"]["sha256"] and saved["index"]["embedder"] and "briefqa" in saved["versions"]

    # Interrupted: keep 2 records and half of a third, as a crash would leave them; the rerun does the rest.
    lines = (out / "results.jsonl").read_text().splitlines()
    (out / "results.jsonl").write_text("\n".join(lines[:2]) + "\n" + lines[2][:40])
    again = evaluate(SEED / "queries-dev.json", index=seed_index, out=out, limit=4)
    assert again.configs[0].metrics["questions"] == 4
    assert any("incomplete line" in w for w in again.warnings)
    assert again.configs[0].metrics["hits_at_10"] == m["hits_at_10"]


def test_configurations_side_by_side_and_compare(seed_index, tmp_path):
    cfg = tmp_path / "dense.toml"
    cfg.write_text('name = "dense-only"\nretrieval_mode = "dense"\nk = 3\n')
    configs = [EvalConfig("hybrid"), read_config(cfg)]
    out = tmp_path / "run"
    report = evaluate(SEED / "queries-dev.json", index=seed_index, configs=configs, out=out, retrieval_only=True)
    assert [c.name for c in report.configs] == ["hybrid", "dense-only"]
    assert report.configs[1].overrides == {"retrieval_mode": "dense", "k": 3}
    assert "answer_upstream" not in report.configs[0].metrics  # retrieval only
    text = (out / "report.md").read_text()
    assert "| dense-only |" in text and "## By question type" in text
    table = compare(out, out)
    assert "| hybrid | hits_at_10 |" in table and "+0.000" in table
    assert EvalReport.load(out).configs[1].name == "dense-only"


def test_a_dataset_about_another_corpus_is_flagged(seed_index, tmp_path):
    mh = tmp_path / "mh.json"
    items = [dict(MULTIHOP_ITEMS[0], evidence_list=[{"fact": "Lava reached the edge of Grindavik on Sunday."}])]
    mh.write_text(json.dumps(items))
    report = evaluate(mh, index=seed_index, retrieval_only=True)
    assert any("another corpus" in w for w in report.warnings)


def test_cli_eval_and_its_errors(seed_index, tmp_path):
    from conftest import one_clear_error, run

    ds = tmp_path / "seed.json"
    shutil.copy(SEED / "queries-dev.json", ds)
    result = run("eval", ds, "--index", seed_index, "--limit", "2", "--out", tmp_path / "o", "--retrieval-only")
    assert result.returncode == 0, result.stderr
    assert "## Retrieval" in result.stdout and (tmp_path / "o" / "report.md").exists()
    one_clear_error(run("eval", tmp_path / "nope.json", "--index", seed_index, "--out", tmp_path / "o"),
                    "does not exist")
    one_clear_error(run("eval", "compare", tmp_path / "o"), "two reports")
    one_clear_error(run("eval", ds, "--index", seed_index), "--out")


def test_public_api_exports_evaluate():
    assert briefqa.evaluate is evaluate


def test_a_report_names_its_commit_and_whether_the_code_differed_from_it():
    assert short_commit("d40228b71c6c32adeb1f901ed028ee353b317ddf") == "d40228b71c"
    assert short_commit("d40228b71c6c32adeb1f901ed028ee353b317ddf-dirty") == "d40228b71c-dirty"
    assert short_commit(None) == "unknown"
    commit = checkout_commit()  # None outside a git checkout (an installed wheel)
    assert commit is None or re.fullmatch(r"[0-9a-f]{40}(-dirty)?", commit)


def test_a_follow_up_is_evaluated_knowing_the_bold_answers_its_conversation_gave(seed_index):
    from briefqa.evaluation.dataset import EvalItem

    qa = briefqa.BriefQA.open(seed_index)
    config = EvalConfig("shown", {"short_answer_threshold": 0.01})  # every span shown: the first turn gives one
    first = "Who did Aliyev appoint as Azerbaijan's first ambassador to Israel?"
    said = qa.ask(first, short_answer_threshold=0.01).short_answer
    follow_up = EvalItem("c-t2", "And where did he serve before?", conversation="c", previous=(first,))
    assert said and earlier_answers(qa, config, follow_up) == (said,)
    standalone = EvalItem("d-t2", "When did Israel open an embassy in Baku?", conversation="d", previous=(first,))
    assert earlier_answers(qa, config, standalone) == ()  # not a follow-up: nothing to leave out
