"""The embedding runtime of a new index is measured on this machine once, remembered, and kept by the index."""

import json

import pytest

import briefqa
from briefqa.ingestion import runtime
from briefqa.ingestion.runtime import choose_runtime, machine_key
from briefqa.models.embed import embedder_id
from briefqa.store.location import read_manifest

TEXTS = [f"Article {i}: the harbour reopened after the storm, and the council met on day {i}." for i in range(40)]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BRIEFQA_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_runtime_asked_for_is_taken_as_it_is(cache):
    assert choose_runtime("torch", TEXTS, 32).runtime == "torch"
    assert choose_runtime("onnx", TEXTS, 32).how == "asked"


def test_a_small_ingest_takes_onnx_int8_without_measuring(cache):
    choice = choose_runtime("auto", TEXTS[:5], 32)
    assert (choice.runtime, choice.how, choice.rates) == ("onnx-int8", "default", {})
    assert not (cache / runtime.CHOICE_FILE).exists()


def test_the_faster_runtime_is_measured_once_and_remembered(cache, monkeypatch):
    monkeypatch.setattr(runtime, "MEASURE_MIN_CHUNKS", 10)
    monkeypatch.setattr(runtime, "SAMPLE_ROUNDS", 1)
    first = choose_runtime("auto", TEXTS, 8)
    assert first.how == "measured" and set(first.rates) == set(runtime.contenders())
    assert all(rate > 0 for rate in first.rates.values())
    fastest_torch = max(("torch", "torch-bf16"), key=lambda r: first.rates.get(r, 0))
    torch_wins = first.rates[fastest_torch] >= runtime.TORCH_MARGIN * first.rates["onnx-int8"]
    assert first.runtime == (fastest_torch if torch_wins else "onnx-int8")
    saved = json.loads((cache / runtime.CHOICE_FILE).read_text())
    assert saved[machine_key()]["runtime"] == first.runtime
    again = choose_runtime("auto", TEXTS, 8)
    assert (again.runtime, again.how, again.rates) == (first.runtime, "remembered", first.rates)


def test_bf16_autocast_is_timed_only_on_a_cpu_with_bf16_matrix_units(monkeypatch):
    monkeypatch.setattr(runtime, "_cpu_flags", lambda: {"avx2", "avx512f", "avx512_vnni"})
    assert runtime.contenders() == ("onnx-int8", "torch")  # emulated bf16 is slow: not worth timing
    monkeypatch.setattr(runtime, "_cpu_flags", lambda: {"avx2", "amx_bf16", "amx_tile"})
    assert runtime.contenders() == ("onnx-int8", "torch", "torch-bf16")


def test_a_new_index_is_built_with_the_remembered_choice_and_keeps_it(cache, tmp_path):
    from conftest import markdown_corpus

    cache.mkdir(parents=True)
    (cache / runtime.CHOICE_FILE).write_text(json.dumps({machine_key(): {"runtime": "torch", "rates": {}}}))
    (tmp_path / "c").mkdir()
    root = markdown_corpus(tmp_path / "c", [("Harbour", "Coast Daily", "2024-01-02", TEXTS[0] * 3)])
    report = briefqa.ingest([root], index=tmp_path / "ix", progress=False)
    assert read_manifest(tmp_path / "ix").embedder == embedder_id("torch")
    assert "embedding runtime torch (remembered)" in report.summary()
    # The index keeps its runtime whatever is remembered later; "auto" never conflicts with it.
    (cache / runtime.CHOICE_FILE).write_text(json.dumps({machine_key(): {"runtime": "onnx-int8", "rates": {}}}))
    (root / "1.md").write_text("---\ntitle: More\nsource: Coast Daily\n---\n" + TEXTS[1] * 3)
    briefqa.ingest([root], index=tmp_path / "ix", progress=False, embed_runtime="auto")
    assert read_manifest(tmp_path / "ix").embedder == embedder_id("torch")
    assert briefqa.BriefQA.open(tmp_path / "ix", embed_runtime="auto").embedder.runtime == "torch"
