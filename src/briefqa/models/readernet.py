"""The reader as a torch network: the packaged MiniLM with low-rank adapters and two heads.

Training (``scripts/train_reader.py``) builds it with the adapters apart and trains them and the heads;
building the runnable model (:mod:`briefqa.models.reader`) merges a trained adapter file into the packaged
weights and exports the result to ONNX. One definition serves both, so the model that runs is the model that
was trained. Only those two import this module, and with it torch and transformers.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .packaged import model_dir

#: The linear layers of each MiniLM layer that carry an adapter.
TARGETS = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
           "intermediate.dense", "output.dense")


class LoRALinear(nn.Module):
    """A frozen linear layer plus a trained low-rank update: ``W x + scale * B A x`` (B starts at zero, so
    training starts from the packaged model)."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.base = base
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank))
        self.scale = alpha / rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_A.T @ self.lora_B.T) * self.scale


class ReaderNet(nn.Module):
    """MiniLM over a (question, sentence) pair; a relevance logit from its mean-pooled states, and a start and
    an end logit per word piece."""

    def __init__(self, bert: nn.Module) -> None:
        super().__init__()
        self.bert = bert
        hidden = bert.config.hidden_size
        self.relevance = nn.Linear(hidden, 1)
        self.span = nn.Linear(hidden, 2)

    def forward(self, input_ids, attention_mask, token_type_ids):
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                           token_type_ids=token_type_ids).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        ends = self.span(hidden)
        return self.relevance(pooled).squeeze(-1), ends[..., 0], ends[..., 1]


def packaged_bert() -> nn.Module:
    from transformers import AutoModel, logging

    logging.disable_progress_bar()
    return AutoModel.from_pretrained(str(model_dir()), local_files_only=True)


def _parent(root: nn.Module, dotted: str) -> tuple[nn.Module, str]:
    *path, last = dotted.split(".")
    for part in path:
        root = getattr(root, part)
    return root, last


def with_adapters(rank: int, alpha: float) -> ReaderNet:
    """The network to train: the packaged weights frozen, an adapter on each of :data:`TARGETS` of every layer,
    the layer norms and the heads trainable."""
    bert = packaged_bert()
    for p in bert.parameters():
        p.requires_grad = False
    for layer in bert.encoder.layer:
        for target in TARGETS:
            parent, name = _parent(layer, target)
            setattr(parent, name, LoRALinear(getattr(parent, name), rank, alpha))
    for name, p in bert.named_parameters():
        if "LayerNorm" in name:
            p.requires_grad = True
    return ReaderNet(bert)


def adapter_arrays(net: ReaderNet) -> dict[str, np.ndarray]:
    """What git keeps of a trained network: the adapters, the layer norms and the heads, as float16 arrays
    named by the packaged model's parameters (``encoder.layer.0.attention.self.query.lora_A``)."""
    out: dict[str, np.ndarray] = {}
    scales = set()
    for name, module in net.bert.named_modules():
        if isinstance(module, LoRALinear):
            out[f"{name}.lora_A"] = module.lora_A.detach().numpy()
            out[f"{name}.lora_B"] = module.lora_B.detach().numpy()
            scales.add(module.scale)
    for name, p in net.bert.named_parameters():
        if "LayerNorm" in name:
            out[name] = p.detach().numpy()
    for head in ("relevance", "span"):
        for part in ("weight", "bias"):
            out[f"head.{head}.{part}"] = getattr(getattr(net, head), part).detach().numpy()
    out = {k: v.astype(np.float16) for k, v in out.items()}
    out["lora_scale"] = np.array(scales.pop(), dtype=np.float32)
    return out


@torch.no_grad()
def merged(arrays) -> ReaderNet:
    """The network to run: the packaged weights with the adapters of ``arrays`` merged in (``W + scale * B A``),
    its layer norms and heads."""
    bert = packaged_bert()
    params = dict(bert.named_parameters())
    scale = float(arrays["lora_scale"])
    net = ReaderNet(bert)
    heads = dict(net.named_parameters())
    for name in arrays.files if hasattr(arrays, "files") else arrays:
        value = torch.from_numpy(np.asarray(arrays[name], dtype=np.float32))
        if name.endswith(".lora_A"):
            layer = name[:-len(".lora_A")]
            b = torch.from_numpy(np.asarray(arrays[f"{layer}.lora_B"], dtype=np.float32))
            params[f"{layer}.weight"] += scale * (b @ value)
        elif name in params:
            params[name].copy_(value)
        elif name.startswith("head."):
            heads[name[len("head."):]].copy_(value)
    return net.eval()
