"""One SPECTRA MoE layer whose global GRU router is the QAT question (note: gru_qat_analysis.ko.md).

The note asks whether int8 QAT fits SPECTRA's global GRU load balancer (``models/spectra_model.py``
lines 891-897), quoted there as::

    self.load_balancer = nn.GRU(input_size=self.hidden_size,
                                hidden_size=self.num_experts * self.router_dim,
                                num_layers=1, bias=False, batch_first=True)

with input ``[batch, seq_len, hidden_size]`` and hidden state ``[1, batch, num_experts * router_dim]``,
called as ``routing_logits, hn = self.load_balancer(x, hn)`` (line 1051) and ``hn`` handed on. Its
advice is a mixed-precision plan: attention int8 (inference) or fp16/bf16, the GRU kept in
fp32/bf16, experts bf16 ("memory 50% saved" by fp16/bf16). This family is the smallest layer with
those three parts, so ``paramscope memory --keep`` prices each plan and ``steps`` shows what a
carried ``hn`` does to the autograd graph:

- ``norm1`` LayerNorm, ``attn`` MultiheadAttention(hidden_size, n_heads) with a residual;
- ``norm2`` LayerNorm, ``load_balancer`` the note's GRU; routing probabilities are the softmax over
  experts of the mean of each expert's ``router_dim`` slice of the GRU output (as ``gru_router``);
- ``experts``: ``num_experts`` x (Linear(hidden_size, d_ff) GELU Linear(d_ff, hidden_size)), mixed
  densely by the routing probabilities, with a residual.

``forward(x, hn=None)`` returns ``(y, hn)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from paramscope.model_zoo.gru_router import Inputs  # the same input: x of (batch_size, seq_len, hidden_size)

__all__ = ["Config", "Inputs", "SpectraLayer", "build", "example_inputs", "param_formula", "mac_formula"]


@dataclass(frozen=True)
class Config:
    """Builder arguments (the note's hidden_size 512; a small expert count)."""

    hidden_size: int = 512  # the GRU's input_size, as in the note
    n_heads: int = 8
    num_experts: int = 8
    router_dim: int = 64  # GRU hidden H = num_experts * router_dim = 512
    d_ff: int = 1024

    def __post_init__(self) -> None:
        for key in ("hidden_size", "n_heads", "num_experts", "router_dim", "d_ff"):
            value = getattr(self, key)
            if value < 1:
                raise ValueError(f"{key}: {value} must be at least 1; use a positive size")
        if self.hidden_size % self.n_heads:
            raise ValueError(f"hidden_size: {self.hidden_size} is not divisible by n_heads={self.n_heads}; "
                             f"use a multiple of {self.n_heads}")

    @property
    def router_hidden(self) -> int:
        """GRU hidden width H = num_experts * router_dim."""
        return self.num_experts * self.router_dim




class Expert(nn.Module):
    def __init__(self, d: int, d_ff: int) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, d_ff), nn.Linear(d_ff, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc2(F.gelu(self.fc1(x)))
        return out


class SpectraLayer(nn.Module):
    """Attention, the global GRU router and densely mixed experts."""

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        d = cfg.hidden_size
        self.num_experts = cfg.num_experts
        self.norm1 = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, cfg.n_heads, batch_first=True)
        self.norm2 = nn.LayerNorm(d)
        self.load_balancer = nn.GRU(d, cfg.router_hidden, num_layers=1, bias=False, batch_first=True)
        self.experts = nn.ModuleList(Expert(d, cfg.d_ff) for _ in range(cfg.num_experts))

    def forward(self, x: torch.Tensor, hn: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        B, T, _ = x.shape  # (B, T, d)
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]  # (B, T, d)
        h = self.norm2(x)
        states, hn = self.load_balancer(h, hn)  # (B, T, H), (1, B, H)
        probs = torch.softmax(states.reshape(B, T, self.num_experts, -1).mean(-1), dim=-1)  # (B, T, E)
        mixed = torch.stack([expert(h) for expert in self.experts], dim=-1)  # (B, T, d, E)
        y = x + (mixed * probs.unsqueeze(2)).sum(-1)  # (B, T, d)
        return y, hn


def build(cfg: Config) -> SpectraLayer:
    """Build the layer; call under ``torch.device("meta")`` to allocate nothing."""
    return SpectraLayer(cfg)


def example_inputs(cfg: Config, inputs: Inputs, device: str | torch.device) -> dict[str, torch.Tensor]:
    """Keyword arguments for ``SpectraLayer.forward``: x of shape (batch_size, seq_len, hidden_size)."""
    return {"x": torch.randn(inputs.batch_size, inputs.seq_len, cfg.hidden_size, device=device)}


def param_formula(cfg: Config) -> dict[str, int]:
    """Closed-form parameter counts by module path.

    Defaults (d=512, H=512, E=8, d_ff=1024): attn 4*512*512 + 4*512 = 1,050,624; load_balancer
    3*(512*512 + 512*512) = 1,572,864 (no bias, as the note); experts 8 x (2*512*1024 + 1024 + 512)
    = 8,400,896; two norms 2,048; total 11,026,432.
    """
    d, H, f = cfg.hidden_size, cfg.router_hidden, cfg.d_ff
    expert = 2 * d * f + f + d
    parts = {
        "norm1": 2 * d, "attn": 4 * d * d + 4 * d, "norm2": 2 * d,
        "load_balancer": 3 * (d * H + H * H),  # W_ih (3H, d) + W_hh (3H, H), bias=False
        "experts": cfg.num_experts * expert,
    }
    return {"": sum(parts.values()), **parts, "experts.0": expert}


def mac_formula(cfg: Config, inputs: Inputs) -> dict[str, int]:
    """Closed-form matmul MACs by module path, N = batch_size * seq_len tokens.

    attn: 4*N*d*d projections + 2*B*T*T*d for scores and values; load_balancer N*3*(d*H + H*H);
    experts N*E*2*d*d_ff. Norms, softmax and the mixing sum are not matmuls.
    """
    d, H, f = cfg.hidden_size, cfg.router_hidden, cfg.d_ff
    B, T = inputs.batch_size, inputs.seq_len
    N = B * T
    parts = {"attn": 4 * N * d * d + 2 * B * T * T * d, "load_balancer": N * 3 * (d * H + H * H),
             "experts": N * cfg.num_experts * 2 * d * f}
    return {"": sum(parts.values()), **parts}
