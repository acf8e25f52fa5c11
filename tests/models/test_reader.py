"""The reader (briefqa.models.reader): built once from the packaged MiniLM and the committed trained file, run on
onnxruntime, reading the question and a sentence together."""

import io
import os

import numpy as np
import pytest

from briefqa.models.packaged import model_dir
from briefqa.models.reader import (
    READER_FILE,
    SPAN_READER_FILE,
    PairEncoder,
    Reader,
    best_span,
    model_path,
    second_text,
    trained_bytes,
)
from conftest import fine_tuned_reader, moved

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
    # Dynamic int8 scales activations per batch, so a pair's logit moves with its neighbours (up to about 0.9
    # here, on a scale where answering and not answering lie 18 apart); the order does not, nor the spans of
    # the sentences that read as answers (one that does not has no span worth showing).
    together = reader.read(UBER, SENTENCES, [TITLE] * 3, batch_size=3)
    alone = [reader.read(UBER, [s], [TITLE]) for s in SENTENCES]
    single = np.array([a.relevance[0] for a in alone])
    assert np.allclose(together.relevance, single, atol=1.2)
    assert (np.argsort(together.relevance) == np.argsort(single)).all()
    answering = single > 0
    assert answering[0]
    batched = [s.text for s, a in zip(together.spans, answering, strict=True) if a]
    assert batched == [x.spans[0].text for x, a in zip(alone, answering, strict=True) if a]


def test_the_span_lies_in_the_sentence_never_in_the_title():
    offsets = np.array([[-1, -1], [0, 4], [5, 10], [10, 11], [11, 16], [-1, -1]])
    start = np.array([0, 9.0, 0, 0, 0, 0])  # the likeliest start is a title word piece
    end = np.array([0, 9.0, 0, 0, 1.0, 0])
    span = best_span(start, end, offsets, skip=10, sentence="x yzab")
    assert (span.start, span.end) == (0, 6)  # characters 10-16 of the second text are the sentence's 0-6


@pytest.mark.parametrize(("trained", "folder"), [(READER_FILE, "reader-"), (SPAN_READER_FILE, "span-reader-")])
def test_each_runnable_reader_is_built_once_into_the_cache_keyed_by_its_trained_file(trained, folder):
    path = model_path(trained)
    assert path.is_file() and path.name == "model-int8.onnx"
    stamp = os.stat(path).st_mtime_ns
    assert model_path(trained) == path and os.stat(path).st_mtime_ns == stamp  # not built again
    import hashlib

    assert path.parent.name.startswith(folder + hashlib.sha256(trained_bytes(trained)).hexdigest()[:16])
    assert not list(path.parent.glob("*.tmp*")) and not (path.parent / "model.onnx").exists()


def test_the_span_reader_reads_the_answers_span_as_the_reader_does():
    span = Reader.packaged(SPAN_READER_FILE).read(UBER, SENTENCES[:1], [TITLE]).spans[0]
    assert span.text == "$9.3 billion" and span.probability > 0.5
    assert Reader.packaged(SPAN_READER_FILE) is not Reader.packaged()


def test_the_committed_reader_files_together_stay_under_what_git_may_hold_of_full_fine_tunes():
    assert len(trained_bytes(READER_FILE)) + len(trained_bytes(SPAN_READER_FILE)) < 25_000_000


@pytest.mark.parametrize("trained", [READER_FILE, SPAN_READER_FILE])
def test_a_committed_reader_file_is_int8_changes_and_holds_no_pickle(trained):
    arrays = np.load(io.BytesIO(trained_bytes(trained)), allow_pickle=False)
    changes = [n for n in arrays.files if n.endswith(".delta_q")]
    assert len(changes) == 6 * 6 and {arrays[n].dtype for n in changes} == {np.dtype(np.int8)}
    assert {arrays[n].dtype for n in arrays.files if n not in changes} == {np.dtype(np.float16)}
    assert "head.span.weight" in arrays.files and not any("word_embeddings" in n for n in arrays.files)


def test_the_int8_reader_ranks_as_the_merged_torch_network_does(reader):
    import torch

    from briefqa.models.readernet import merged

    net = merged(np.load(io.BytesIO(trained_bytes()), allow_pickle=False))
    enc = PairEncoder()(UBER, [second_text(TITLE, s)[0] for s in SENTENCES])
    with torch.no_grad():
        rel = net(*(torch.from_numpy(enc[k]) for k in ("input_ids", "attention_mask", "token_type_ids")))[0]
    ours = reader.read(UBER, SENTENCES, [TITLE] * 3).relevance
    assert list(np.argsort(-rel.numpy())) == list(np.argsort(-ours))
    assert np.abs(rel.numpy() - ours).max() < 1.0  # int8 weights and activations move a logit a little


@pytest.mark.parametrize("trained", [READER_FILE, SPAN_READER_FILE])
def test_each_runnable_reader_attends_eagerly_without_sdpas_guards(trained):
    # PyTorch's SDPA exports a guard per layer that turns a fully masked row's NaNs to zeros (IsNaN, Where); the
    # eager attention reads 15% faster. A transformers release that ignored the setting would bring them back.
    import onnx

    ops = [node.op_type for node in onnx.load(str(model_path(trained))).graph.node]
    assert ops.count("Softmax") == 6 and "IsNaN" not in ops


@pytest.mark.parametrize("kind", ["full", "lora"])
def test_a_trained_file_applied_to_the_packaged_weights_gives_back_the_trained_network(kind):
    import torch

    from briefqa.models.readernet import adapter_arrays, delta_arrays, fully_trainable, merged, with_adapters

    torch.manual_seed(0)
    net = moved(fully_trainable() if kind == "full" else with_adapters(rank=4, alpha=8.0))
    arrays = delta_arrays(net) if kind == "full" else adapter_arrays(net)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    buf.seek(0)
    applied = merged(np.load(buf, allow_pickle=False))
    enc = PairEncoder()(UBER, [second_text(TITLE, s)[0] for s in SENTENCES])
    inputs = {k: torch.from_numpy(enc[k]) for k in ("input_ids", "attention_mask", "token_type_ids")}
    with torch.no_grad():  # MiniLM's states, which the (untrained, near-zero) heads would hide
        want = net.eval().bert(**inputs).last_hidden_state
        got = applied.bert(**inputs).last_hidden_state
        untrained = merged(_heads_only(arrays)).bert(**inputs).last_hidden_state
    assert (want - got).abs().max() < 0.02
    assert (want - untrained).abs().max() > 0.2  # so the change is what the file carries
    if kind == "full":
        assert not any(n.startswith("embeddings.word_embeddings") for n in arrays)  # git never holds them
        assert {a.dtype for n, a in arrays.items() if n.endswith(".delta_q")} == {np.dtype(np.int8)}


def _heads_only(arrays: dict) -> dict:
    return {n: a for n, a in arrays.items() if n.startswith("head.")}


def test_a_soup_of_readers_holds_the_mean_of_their_weights_and_a_soup_of_one_is_that_reader():
    from briefqa.models.readernet import merged, soup

    a, b = fine_tuned_reader(0), fine_tuned_reader(1)
    want_a, want_b = (dict(merged(x).named_parameters()) for x in (a, b))
    both, alone = dict(soup([a, b]).named_parameters()), dict(soup([a]).named_parameters())
    for name in ("bert.encoder.layer.3.attention.self.query.weight", "bert.encoder.layer.5.output.LayerNorm.bias",
                 "relevance.weight", "span.bias"):
        mean = (want_a[name] + want_b[name]) / 2
        assert (both[name] - mean).abs().max() < 1e-6
        assert (both[name] - want_a[name]).abs().max() > 1e-3  # so the two differ where it is checked
        assert (alone[name] - want_a[name]).abs().max() < 1e-6
    assert not both["bert.embeddings.word_embeddings.weight"].requires_grad  # the packaged ones, never averaged away
