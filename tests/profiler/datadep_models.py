"""Models whose forward looks at data: the cases of issue 8, part 1 (targets for the tests).

Every figure the tests expect is derived here, next to the model, from its sizes.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

D = 16  # features
KEEP = [i for i in range(D) if i % 3 != 0]  # the mask buffer keeps 10 of 16 features


class MaskBuffer(nn.Module):
    """``x[:, :, self.keep]`` with a mask made at init, and an index-table gather: exact on meta."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("keep", torch.arange(D) % 3 != 0)
        self.register_buffer("order", torch.arange(D - 1, -1, -1))  # an index table: reversed features
        self.proj = nn.Linear(len(KEEP), 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[..., self.order]
        return self.proj(x[..., self.keep])


def mask_buffer_macs(tokens: int) -> int:
    return tokens * len(KEEP) * 8


class Switch(nn.Module):
    """Python control flow on values: ``if h.mean() > 0``, ``.item()`` of a buffer, ``.tolist()``."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("repeats", torch.tensor(3))
        self.register_buffer("widths", torch.tensor([4, 4, 8]))
        self.fc1 = nn.Linear(D, D)
        self.fc2 = nn.Linear(D, D)
        self.fc3 = nn.Linear(D, D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x)
        for _ in range(int(self.repeats.item())):  # known: a buffer
            h = self.fc3(h)
        parts = torch.split(h, self.widths.tolist(), dim=-1)  # known: a buffer
        h = torch.cat(parts, dim=-1)
        if h.mean() > 0:  # unknown on meta: assumed
            h = self.fc2(h)
        return h


class DataOps(nn.Module):
    """nonzero, torch.where(cond), masked_select, unique, bincount, repeat_interleave on known values
    (buffers: exact) and on activations (assumed on meta)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("groups", torch.tensor([0, 0, 1, 2, 2, 2, 3, 1]))
        self.register_buffer("reps", torch.tensor([1, 2, 0, 3]))
        self.fc = nn.Linear(D, D)
        self.head = nn.Linear(D, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(x)                                            # (T, D)
        counts = torch.bincount(self.groups)                      # [2, 2, 3, 1]: exact
        uniq = torch.unique(self.groups)                          # 4 values: exact
        rows = torch.repeat_interleave(torch.arange(4), self.reps)  # 6 rows: exact
        picked = h[rows] * counts.sum() / uniq.numel()           # (6, D)
        (nz,) = torch.where(self.groups > 0)                      # 6 positions: exact
        sel = torch.masked_select(picked, picked > 0)             # activation: assumed
        idx = torch.nonzero(h[:, 0] > 0).squeeze(-1)              # activation: assumed
        extra = self.head(h[idx]).sum() + sel.sum() + nz.sum()
        return self.head(picked) + extra


def dataops_known_macs(tokens: int) -> int:
    """fc on every token plus the head on the 6 repeated rows; the head on ``h[idx]`` depends on data."""
    return tokens * D * D + 6 * D * 4


class ExpertsMoE(nn.Module):
    """Top-k routing over a ModuleList of experts: per-expert MACs follow the routing, the total does not."""

    def __init__(self, experts: int = 4, top_k: int = 2, hidden: int = 32) -> None:
        super().__init__()
        self.top_k = top_k
        self.router = nn.Linear(D, experts, bias=False)
        self.experts = nn.ModuleList(nn.Sequential(nn.Linear(D, hidden), nn.GELU(), nn.Linear(hidden, D))
                                     for _ in range(experts))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(-1, D)
        weights, idx = torch.topk(self.router(x).softmax(-1), self.top_k, dim=-1)
        out = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            token, slot = torch.where(idx == e)
            if token.numel() == 0:
                continue
            out.index_add_(0, token, expert(x[token]) * weights[token, slot, None])
        return out


def experts_moe_macs(tokens: int, experts: int = 4, top_k: int = 2, hidden: int = 32) -> int:
    """router + tokens x top_k x one expert's MACs, whatever the routing."""
    return tokens * D * experts + tokens * top_k * (D * hidden + hidden * D)


class Proposals(nn.Module):
    """A detection-style step (as torchvision's RPN): score anchors, keep those over a threshold with
    ``nonzero``, run a box head on the kept ones. Stands in for Faster R-CNN, which does not import here."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Conv2d(3, 8, 3, padding=1)
        self.score = nn.Conv2d(8, 1, 1)
        self.box_head = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = F.relu(self.backbone(x))                  # (B, 8, H, W)
        s = self.score(f).flatten(1).sigmoid()        # (B, H*W)
        keep = torch.nonzero(s[0] > 0.5).squeeze(-1)  # data-dependent: how many anchors pass
        feats = f[0].flatten(1).t()[keep]             # (kept, 8)
        return self.box_head(feats)


def proposals_fixed_macs(h: int, w: int) -> int:
    """The convolutions, whatever passes the threshold; the box head adds kept x 8 x 4."""
    return h * w * 8 * 3 * 9 + h * w * 8


def make(name: str) -> Any:
    return {"mask_buffer": MaskBuffer, "switch": Switch, "dataops": DataOps, "moe": ExpertsMoE,
            "proposals": Proposals}[name]()


def mask_buffer() -> nn.Module:
    return MaskBuffer()


def switch() -> nn.Module:
    return Switch()


def dataops() -> nn.Module:
    return DataOps()


def moe() -> nn.Module:
    return ExpertsMoE()


def proposals() -> nn.Module:
    return Proposals()


def mixtral(experts_implementation: str | None = None, layers: int = 2) -> nn.Module:
    """transformers' MixtralForCausalLM (hidden 256, ffn 512, 8 experts, top-2, GQA 8/2), from a config."""
    from transformers import MixtralConfig, MixtralForCausalLM

    cfg = MixtralConfig(vocab_size=1000, hidden_size=256, intermediate_size=512, num_hidden_layers=layers,
                        num_attention_heads=8, num_key_value_heads=2, num_local_experts=8, num_experts_per_tok=2,
                        use_cache=False)
    if experts_implementation is not None:
        cfg._experts_implementation = experts_implementation
    return MixtralForCausalLM(cfg)


def mixtral_macs(tokens: int, layers: int = 2, hidden: int = 256, ffn: int = 512, heads: int = 8, kv_heads: int = 2,
                 experts: int = 8, top_k: int = 2, vocab: int = 1000) -> int:
    """Per layer: q/o projections 2*h*h, k/v 2*h*kv_dim, attention 2*T*h per token, router h*experts,
    and tokens x top_k x (gate_up h*2f + down f*h) whatever the routing; then the lm head h*vocab.
    At 64 tokens: 142,475,264 (the figure issue 8 quotes)."""
    kv_dim = hidden // heads * kv_heads
    attention = tokens * (2 * hidden * hidden + 2 * hidden * kv_dim) + 2 * tokens * tokens * hidden
    moe = tokens * hidden * experts + tokens * top_k * (hidden * 2 * ffn + ffn * hidden)
    return layers * (attention + moe) + tokens * hidden * vocab
