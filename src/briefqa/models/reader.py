"""The reader: the packaged MiniLM fine-tuned to read a question and a sentence together.

The embedder reads the two apart, so its cosine ranks a sentence by topic: the other sentences of the same
article share its names and subject, and it puts the answering one first a quarter of the time. The reader
reads ``[CLS] question [SEP] title | sentence [SEP]`` as one text and gives two things:

* a relevance logit: how well the sentence answers the question;
* a start and an end logit for each word piece of the sentence: where in it the answer's span lies (the bold
  short answer).

It is trained by ``scripts/train_reader.py`` on the natural training questions only: every weight of MiniLM's
six layers, and two linear heads. Git holds what training changed (``reader.npz``, about 10 MB: each layer's
change from the packaged weights as int8 with a scale per row, the biases, layer norms and heads as float16;
never MiniLM itself); the runnable model is built from the packaged MiniLM and that file once, on first use,
into the cache (applied, exported to ONNX, weights quantised to int8 per channel, keyed by both files'
hashes), as the embedder's ONNX export is, and runs on onnxruntime without torch. Nothing is fetched.

A second reader, the span reader (``span_reader.npz``: the same network, the average of the weights of three
runs of ``train_reader.py`` with other seeds, by ``scripts/soup_readers.py``), gives the bold short answer's
span. It reads only the answer's three best sentences, each alone, and only when a short answer is asked.
Its spans' confidence tells a right span from a wrong one better than the first reader's, which ranks and
abstains better and keeps the seed article's answers (docs/answers.md, "The soup of three for the span").
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from .packaged import (
    ONNX_OPSET,
    cache_dir,
    model_dir,
    quantize_int8,
    session_options,
    torch_version,
    weights_hash,
    written_aside,
)

log = logging.getLogger(__name__)

#: What training changed of the packaged MiniLM, and the heads, in this package: the reader that ranks the
#: sentences, and the one that reads the bold short answer's span in the sentence chosen.
READER_FILE = "reader.npz"
SPAN_READER_FILE = "span_reader.npz"
#: Word pieces of a question and its sentence together; a longer sentence is cut, the question never.
MAX_TOKENS = 160
#: How the runnable model computes attention. PyTorch's fused SDPA exports as a graph that rebuilds the mask from
#: shapes at every run; the eager attention's plain MatMul and Softmax read 24 sentences in 126 ms against 149
#: (p95 164 against 206) on 2 cores, with the same weights (docs/answers.md). Part of the cache key: a model built
#: the other way is built again.
EXPORT_ATTENTION = "eager"
#: The longest answer span, in word pieces.
MAX_SPAN = 30
#: What the reader is shown of a sentence's article before the sentence itself.
TITLE_SEPARATOR = " | "


def second_text(title: str, sentence: str) -> tuple[str, int]:
    """The reader's second text for ``sentence`` of an article titled ``title``, and where the sentence starts
    in it: the title gives the sentence its subject ("Alexa Together" does not say it is Amazon's)."""
    prefix = f"{title}{TITLE_SEPARATOR}" if title else ""
    return prefix + sentence, len(prefix)


class PairEncoder:
    """Word pieces of (question, second text) pairs, cut and padded as training and answering both cut them:
    the packaged tokenizer, the second text truncated to fit :data:`MAX_TOKENS`."""

    def __init__(self, max_tokens: int = MAX_TOKENS) -> None:
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
        self._tok.enable_truncation(max_tokens, strategy="only_second")
        self._tok.no_padding()

    def __call__(self, question: str, seconds: Sequence[str]) -> dict[str, np.ndarray]:
        """``input_ids``, ``attention_mask``, ``token_type_ids`` (batch x width, int64), ``offsets`` (batch x
        width x 2, characters of the second text for its word pieces, else -1)."""
        encs = self._tok.encode_batch([(question, s) for s in seconds])
        width = max(len(e.ids) for e in encs)
        out = {name: np.zeros((len(encs), width), dtype=np.int64)
               for name in ("input_ids", "attention_mask", "token_type_ids")}
        offsets = np.full((len(encs), width, 2), -1, dtype=np.int64)
        for row, e in enumerate(encs):
            n = len(e.ids)
            out["input_ids"][row, :n] = e.ids
            out["attention_mask"][row, :n] = e.attention_mask
            out["token_type_ids"][row, :n] = e.type_ids
            for t, (seq, (a, b)) in enumerate(zip(e.sequence_ids, e.offsets, strict=True)):
                if seq == 1 and b > a:
                    offsets[row, t] = (a, b)
        out["offsets"] = offsets
        return out


@dataclass(frozen=True)
class AnswerSpan:
    """Where in a sentence the reader reads the answer: characters ``[start, end)`` of the sentence."""

    start: int
    end: int
    text: str
    probability: float  # of this start and this end, among the sentence's word pieces


@dataclass
class Reading:
    """The reader's view of one question's candidate sentences."""

    relevance: np.ndarray  # a logit per sentence
    spans: list[AnswerSpan | None]  # the likeliest answer span of each (None for a sentence cut away)


def best_span(start: np.ndarray, end: np.ndarray, offsets: np.ndarray, skip: int, sentence: str,
              max_span: int = MAX_SPAN) -> AnswerSpan | None:
    """The likeliest span of one pair: start and end logits softmaxed over the sentence's own word pieces
    (those whose characters lie past ``skip``, the title), end at or after start, at most ``max_span`` long."""
    inside = np.flatnonzero(offsets[:, 0] >= skip)
    if not len(inside):
        return None
    ps = np.exp(start[inside] - start[inside].max())
    pe = np.exp(end[inside] - end[inside].max())
    joint = np.outer(ps / ps.sum(), pe / pe.sum())
    joint = np.triu(joint) - np.triu(joint, max_span)
    a, b = np.unravel_index(int(joint.argmax()), joint.shape)
    first, last = offsets[inside[a], 0] - skip, offsets[inside[b], 1] - skip
    return AnswerSpan(int(first), int(last), sentence[first:last], float(joint[a, b]))


class Reader:
    """The reader on onnxruntime: ``Reader.packaged().read(question, sentences, titles)``."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(path), session_options(), providers=["CPUExecutionProvider"])
        self.encoder = PairEncoder()

    @classmethod
    def packaged(cls, trained: str = READER_FILE) -> Reader:
        """The process's reader of the ``trained`` file (the ranking reader unless told), built into the cache
        first if this machine has not built it yet."""
        return _packaged(trained)

    def read(self, question: str, sentences: Sequence[str], titles: Sequence[str], batch_size: int = 16) -> Reading:
        """The relevance logit and the likeliest answer span of each of ``sentences`` (of articles ``titles``)."""
        relevance = np.zeros(len(sentences), dtype=np.float32)
        spans: list[AnswerSpan | None] = [None] * len(sentences)
        seconds = [second_text(t, s) for t, s in zip(titles, sentences, strict=True)]
        # Batches of similar length waste less on padding; results go back to their places.
        order = np.argsort([-len(text) for text, _ in seconds], kind="stable")
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            enc = self.encoder(question, [seconds[j][0] for j in idx])
            rel, start, end = self.session.run(None, {k: enc[k] for k in ("input_ids", "attention_mask",
                                                                           "token_type_ids")})
            for row, j in enumerate(idx):
                relevance[j] = rel[row]
                spans[j] = best_span(start[row], end[row], enc["offsets"][row], seconds[j][1], sentences[j])
        return Reading(relevance, spans)


# -- building the runnable model, once per machine ------------------------------------------------------------------
def trained_bytes(trained: str = READER_FILE) -> bytes:
    return resources.files(__package__).joinpath(trained).read_bytes()


def model_path(trained: str = READER_FILE) -> Path:
    """The cached int8 ONNX reader of the ``trained`` file, built from the packaged MiniLM and it on first use."""
    key = hashlib.sha256(trained_bytes(trained)).hexdigest()[:16]
    name = Path(trained).stem.replace("_", "-")
    folder = cache_dir() / "onnx" / (f"{name}-{key}-minilm-{weights_hash()}-torch{torch_version()}-opset{ONNX_OPSET}"
                                     f"-{EXPORT_ATTENTION}")
    target = folder / "model-int8.onnx"
    if not target.is_file():
        with _BUILDING:
            if not target.is_file():
                folder.mkdir(parents=True, exist_ok=True)
                build(target, trained)
    return target


_BUILDING = threading.Lock()


@lru_cache(maxsize=2)
def _packaged(trained: str) -> Reader:
    # The span reader too gets every core: it once ran on one thread, when a pool of two spun against the reader's
    # (40 ms an answer at the median on 2 cores); with idle threads sleeping, two read its three sentences faster
    # (natural dev p50 234 → 210 ms; docs/answerer.md, "When the bold answer is shown").
    return Reader(model_path(trained))


def build(target: Path, trained: str = READER_FILE) -> None:
    """Apply the ``trained`` file to the packaged MiniLM, export it with its heads to ONNX and quantise the
    weights to int8 per channel, into ``target`` (written aside and renamed: a crash leaves no half model in its
    place)."""
    import io

    from .readernet import merged

    t0 = time.perf_counter()
    what = "answer reader" if trained == READER_FILE else "short-answer reader"
    log.warning("building the %s once, into %s (a few seconds, once per machine; later runs load it)", what,
                target.parent)
    fp32 = target.with_name("model.onnx")
    try:
        _export(merged(np.load(io.BytesIO(trained_bytes(trained)), allow_pickle=False)), fp32)
        quantize_int8(fp32, target)
    finally:
        fp32.unlink(missing_ok=True)
    log.warning("the %s is built (%.0f s)", what, time.perf_counter() - t0)


def _export(net, target: Path) -> None:
    import torch

    net.bert.set_attn_implementation(EXPORT_ATTENTION)  # what runs; training keeps PyTorch's default
    sample = PairEncoder()("a question?", ["a title | an answer sentence.", "another"])
    args = tuple(torch.from_numpy(sample[k]) for k in ("input_ids", "attention_mask", "token_type_ids"))
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
            "token_type_ids": {0: "batch", 1: "seq"}, "relevance": {0: "batch"}, "start": {0: "batch", 1: "seq"},
            "end": {0: "batch", 1: "seq"}}
    with written_aside(target) as tmp, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shape-dependent branches, constant for this model
        torch.onnx.export(net, args, tmp, input_names=list(axes)[:3], output_names=list(axes)[3:],
                          dynamic_axes=axes, opset_version=ONNX_OPSET, dynamo=False)
