"""The reader as a torch network: the packaged MiniLM, fine-tuned, with two heads.

Training (``scripts/train_reader.py``) builds it in one of two ways: every weight of the six layers trained
(the default; git keeps each layer's change from the packaged weights as int8 with a scale per row), or
low-rank adapters beside frozen weights (git keeps the adapters). Building the runnable model
(:mod:`briefqa.models.reader`) applies a trained file to the packaged weights and exports the result to ONNX.
One definition serves both, so the model that runs is the model that was trained. Only those two import this
module, and with it torch and transformers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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


def fully_trainable() -> ReaderNet:
    """The network to train in full: every weight of the six layers, their layer norms and the heads; the
    word-piece embeddings stay packaged (they are half of MiniLM, and git would have to hold them)."""
    bert = packaged_bert()
    for name, p in bert.named_parameters():
        p.requires_grad = name.startswith("encoder.") or "LayerNorm" in name
    return ReaderNet(bert)


def delta_arrays(net: ReaderNet) -> dict[str, np.ndarray]:
    """What git keeps of a fully trained network: each linear layer's change from the packaged weights as int8
    with a float16 scale per output row (the change is small, so int8 keeps it far finer than it would keep the
    weight itself), its biases, layer norms and heads as float16."""
    base = dict(packaged_bert().named_parameters())
    out: dict[str, np.ndarray] = {}
    for name, p in net.bert.named_parameters():
        if not p.requires_grad:
            continue
        value = p.detach().numpy()
        if name.endswith(".weight") and value.ndim == 2:
            delta = value - base[name].detach().numpy()
            scale = np.maximum(np.abs(delta).max(axis=1, keepdims=True), 1e-12) / 127
            out[f"{name[:-len('.weight')]}.delta_q"] = np.round(delta / scale).astype(np.int8)
            out[f"{name[:-len('.weight')]}.delta_scale"] = scale.astype(np.float16)
        else:
            out[name] = value.astype(np.float16)
    return out | _head_arrays(net)


def _head_arrays(net: ReaderNet) -> dict[str, np.ndarray]:
    return {f"head.{head}.{part}": getattr(getattr(net, head), part).detach().numpy().astype(np.float16)
            for head in ("relevance", "span") for part in ("weight", "bias")}


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
    out = {k: v.astype(np.float16) for k, v in out.items()} | _head_arrays(net)
    out["lora_scale"] = np.array(scales.pop(), dtype=np.float32)
    return out


@torch.no_grad()
def merged(arrays) -> ReaderNet:
    """The network to run: the packaged weights with the trained file ``arrays`` applied (a change ``delta_q *
    delta_scale`` added, or adapters merged in as ``W + scale * B A``), its biases, layer norms and heads."""
    bert = packaged_bert()
    params = dict(bert.named_parameters())
    net = ReaderNet(bert)
    heads = dict(net.named_parameters())
    for name in arrays.files if hasattr(arrays, "files") else arrays:
        value = torch.from_numpy(np.asarray(arrays[name], dtype=np.float32))
        if name.endswith(".delta_q"):
            layer = name[:-len(".delta_q")]
            params[f"{layer}.weight"] += value * torch.from_numpy(
                np.asarray(arrays[f"{layer}.delta_scale"], dtype=np.float32))
        elif name.endswith(".lora_A"):
            scale = float(arrays["lora_scale"])
            layer = name[:-len(".lora_A")]
            b = torch.from_numpy(np.asarray(arrays[f"{layer}.lora_B"], dtype=np.float32))
            params[f"{layer}.weight"] += scale * (b @ value)
        elif name in params:
            params[name].copy_(value)
        elif name.startswith("head."):
            heads[name[len("head."):]].copy_(value)
    return net.eval()


@torch.no_grad()
def soup(files: Sequence) -> ReaderNet:
    """The uniform soup of readers trained in full from the packaged MiniLM (Wortsman et al., 2022): every
    weight the mean of theirs. Runs that differ only in their seed share what the data teaches and differ in
    what each picked up by chance; the mean keeps the first, and runs as one reader."""
    states = [merged(f).state_dict() for f in files]
    mean = {name: sum(s[name] for s in states) / len(states) if value.is_floating_point() else value
            for name, value in states[0].items()}
    net = fully_trainable()
    net.load_state_dict(mean)
    return net.eval()
