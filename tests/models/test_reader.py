"""The reader (briefqa.models.reader): built once from the packaged MiniLM and the committed adapter, run on
onnxruntime, reading the question and a sentence together."""

import io
import os

import numpy as np
import pytest

from briefqa.models.packaged import model_dir
from briefqa.models.reader import PairEncoder, Reader, adapter_bytes, best_span, model_path, second_text

UBER = "How much revenue did Uber bring in for the third quarter?"
SENTENCES = [
    "Uber reported revenue of $9.3 billion for the third quarter, up 11% from a year earlier.",
    "The freight unit reported revenue of $1.3 billion in the third quarter, a 27% drop.",
    "Drivers in New York will get a minimum pay rise next year.",
]
TITLE = "Uber's third quarter: profitability gains, slower growth"


@pytest.fixture(scope="module")
def reader() -> Reader:
    return Reader.packaged()


def test_the_pairs_are_cut_as_transformers_cuts_them_for_training():
    from transformers import AutoTokenizer

    ref = AutoTokenizer.from_pretrained(str(model_dir()), local_files_only=True)
    seconds = [second_text(TITLE, s)[0] for s in SENTENCES] + ["word " * 400]  # the last is cut to fit
    ours = PairEncoder()(UBER, seconds)
    theirs = ref([UBER] * len(seconds), seconds, padding=True, truncation="only_second", max_length=160,
                 return_tensors="np")
    for name in ("input_ids", "attention_mask", "token_type_ids"):
        assert (ours[name] == theirs[name]).all(), name
    assert ours["input_ids"].shape[1] == 160


def test_the_sentence_that_answers_reads_best_and_its_span_is_the_answer(reader):
    reading = reader.read(UBER, SENTENCES, [TITLE] * 3)
    assert int(np.argmax(reading.relevance)) == 0
    span = reading.spans[0]
    assert span.text == "$9.3 billion" and SENTENCES[0][span.start:span.end] == span.text
    assert 0.5 < span.probability <= 1.0
    assert reading.relevance[2] < reading.relevance[1] < reading.relevance[0]


def test_a_batch_reads_as_each_pair_alone_within_int8_rounding(reader):
    # Dynamic int8 scales activations per batch, so a pair's logit moves a little with its neighbours (about
    # 0.2 here, on a scale where answering and not answering lie 10 apart); the order and the spans do not.
    together = reader.read(UBER, SENTENCES, [TITLE] * 3, batch_size=3)
    alone = [reader.read(UBER, [s], [TITLE]) for s in SENTENCES]
    single = np.array([a.relevance[0] for a in alone])
    assert np.allclose(together.relevance, single, atol=0.5)
    assert (np.argsort(together.relevance) == np.argsort(single)).all()
    assert [s.text for s in together.spans] == [a.spans[0].text for a in alone]


def test_the_span_lies_in_the_sentence_never_in_the_title():
    offsets = np.array([[-1, -1], [0, 4], [5, 10], [10, 11], [11, 16], [-1, -1]])
    start = np.array([0, 9.0, 0, 0, 0, 0])  # the likeliest start is a title word piece
    end = np.array([0, 9.0, 0, 0, 1.0, 0])
    span = best_span(start, end, offsets, skip=10, sentence="x yzab")
    assert (span.start, span.end) == (0, 6)  # characters 10-16 of the second text are the sentence's 0-6


def test_the_runnable_reader_is_built_once_into_the_cache_keyed_by_the_adapter(reader):
    path = model_path()
    assert path.is_file() and path.name == "model-int8.onnx"
    stamp = os.stat(path).st_mtime_ns
    assert model_path() == path and os.stat(path).st_mtime_ns == stamp  # not built again
    import hashlib

    assert hashlib.sha256(adapter_bytes()).hexdigest()[:16] in path.parent.name
    assert not list(path.parent.glob("*.tmp*")) and not (path.parent / "model.onnx").exists()


def test_the_committed_adapter_is_small_and_holds_no_pickle():
    arrays = np.load(io.BytesIO(adapter_bytes()), allow_pickle=False)
    assert len(adapter_bytes()) < 3_000_000
    assert {a.dtype for name, a in arrays.items() if name != "lora_scale"} == {np.dtype(np.float16)}
    assert any(n.endswith(".lora_A") for n in arrays.files) and "head.span.weight" in arrays.files


def test_the_int8_reader_ranks_as_the_merged_torch_network_does(reader):
    import torch

    from briefqa.models.readernet import merged

    net = merged(np.load(io.BytesIO(adapter_bytes()), allow_pickle=False))
    enc = PairEncoder()(UBER, [second_text(TITLE, s)[0] for s in SENTENCES])
    with torch.no_grad():
        rel = net(*(torch.from_numpy(enc[k]) for k in ("input_ids", "attention_mask", "token_type_ids")))[0]
    ours = reader.read(UBER, SENTENCES, [TITLE] * 3).relevance
    assert list(np.argsort(-rel.numpy())) == list(np.argsort(-ours))
    assert np.abs(rel.numpy() - ours).max() < 1.0  # int8 weights and activations move a logit a little
