"""GPT-style language model with a selective output gate (note: selective_output_lm.ja.md).

The note's model has 70,748,929 parameters, of which ``output_gate`` is 65,793
(Linear(512, 128) GELU Linear(128, 1)) and ``hidden_proj`` 262,656 (Linear(512, 512)). The rest
is reconstructed as a nanoGPT-like decoder that reproduces the total exactly: vocab 50,257,
d_model 512, 8 pre-LayerNorm blocks of 8 heads with bias-free q/k/v/out and MLP (d_ff 1280),
learned positions (block_size 128) and an UNTIED ``lm_head``.

``gate="learned"`` scales every position's logits by ``sigmoid(output_gate(hp))``, the gate's
probability to emit a token there. The note's conclusion removes ``OutputGate`` for a fixed skip
pattern: ``gate="fixed"`` builds no gate and applies ``lm_head`` only at every
``skip_interval``-th position, so lm_head MACs scale as ``1 / skip_interval``.
``tie_weights=True`` shares ``lm_head.weight`` with ``tok_emb.weight`` (counted once).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Config", "Inputs", "build", "example_inputs", "param_formula", "mac_formula"]


@dataclass(frozen=True)
class Config:
    """Builder arguments; the defaults are the note's 70,748,929-parameter model."""

    vocab_size: int = 50257  # GPT-2 BPE
    block_size: int = 128  # the note's sequence length
    d_model: int = 512
    n_layers: int = 8
    n_heads: int = 8
    d_ff: int = 1280  # 2.5 x d_model, what the note's total implies
    dropout: float = 0.0
    gate: Literal["learned", "fixed"] = "learned"
    skip_interval: int = 1  # "fixed": emit a token every skip_interval positions
    gate_hidden: int = 128
    tie_weights: bool = False  # the note's model keeps lm_head separate

    def __post_init__(self) -> None:
        for key in ("vocab_size", "block_size", "d_model", "n_layers", "n_heads", "d_ff",
                    "skip_interval", "gate_hidden"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key}: {getattr(self, key)} must be >= 1")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model: {self.d_model} is not divisible by n_heads={self.n_heads}; "
                             f"use a multiple of {self.n_heads}")
        if self.gate not in ("learned", "fixed"):
            raise ValueError(f"gate: {self.gate!r} is unknown; use 'learned' or 'fixed'")
        if self.skip_interval > self.block_size:
            raise ValueError(f"skip_interval: {self.skip_interval} exceeds block_size={self.block_size}; "
                             f"use at most {self.block_size}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout: {self.dropout} must be in [0, 1)")


@dataclass(frozen=True)
class Inputs:
    """Example-input knobs."""

    batch_size: int = 1
    seq_len: int = 128

    def __post_init__(self) -> None:
        for key in ("batch_size", "seq_len"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key}: {getattr(self, key)} must be >= 1")

    def check(self, cfg: Config) -> None:
        """Raise ``ValueError`` if these inputs do not fit ``cfg``."""
        if self.seq_len > cfg.block_size:
            raise ValueError(f"seq_len: {self.seq_len} exceeds block_size={cfg.block_size}; "
                             f"use seq_len <= {cfg.block_size}")
        if cfg.gate == "fixed" and self.seq_len < cfg.skip_interval:
            raise ValueError(f"seq_len: {self.seq_len} is shorter than skip_interval={cfg.skip_interval}; "
                             "no position would emit a token")


class CausalSelfAttention(nn.Module):
    """Bias-free multi-head causal self-attention."""

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        d = cfg.d_model
        self.n_heads, self.dropout = cfg.n_heads, cfg.dropout
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d, bias=False)
        self.out_proj = nn.Linear(d, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = (p(x).view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2)
                   for p in (self.q_proj, self.k_proj, self.v_proj))  # (B, h, T, C/h)
        p_drop = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p_drop, is_causal=True)  # (B, h, T, C/h)
        out: torch.Tensor = self.out_proj(y.transpose(1, 2).reshape(B, T, C))  # (B, T, C)
        return out


class Block(nn.Module):
    """Pre-LayerNorm transformer block."""

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        d = cfg.d_model
        self.ln_1 = nn.LayerNorm(d)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, cfg.d_ff, bias=False), nn.GELU(),
                                 nn.Linear(cfg.d_ff, d, bias=False), nn.Dropout(cfg.dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))  # (B, T, C)
        out: torch.Tensor = x + self.mlp(self.ln_2(x))  # (B, T, C)
        return out


class SelectiveLM(nn.Module):
    """Decoder LM whose outputs are gated (learned) or emitted every N positions (fixed)."""

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        d = cfg.d_model
        self.gate, self.skip_interval = cfg.gate, cfg.skip_interval
        self.tok_emb = nn.Embedding(cfg.vocab_size, d)
        self.pos_emb = nn.Embedding(cfg.block_size, d)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(d)
        self.hidden_proj = nn.Linear(d, d)
        if cfg.gate == "learned":  # the note's OutputGate; removed by its conclusion ("fixed")
            self.output_gate = nn.Sequential(nn.Linear(d, cfg.gate_hidden), nn.GELU(), nn.Linear(cfg.gate_hidden, 1))
        self.lm_head = nn.Linear(d, cfg.vocab_size, bias=False)
        if cfg.tie_weights:
            self.lm_head.weight = self.tok_emb.weight

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        T = input_ids.size(1)
        pos = torch.arange(T, device=input_ids.device)  # (T,)
        x = self.drop(self.tok_emb(input_ids) + self.pos_emb(pos))  # (B, T, C)
        for block in self.blocks:
            x = block(x)  # (B, T, C)
        hp: torch.Tensor = self.hidden_proj(self.ln_f(x))  # (B, T, C)
        if self.gate == "fixed":
            logits: torch.Tensor = self.lm_head(hp[:, self.skip_interval - 1 :: self.skip_interval])  # (B, T // N, V)
            return logits
        gate_prob = torch.sigmoid(self.output_gate(hp))  # (B, T, 1)
        logits = self.lm_head(hp) * gate_prob  # (B, T, V)
        return logits


def build(cfg: Config) -> nn.Module:
    """The language model for ``cfg``; works under ``with torch.device("meta")``."""
    return SelectiveLM(cfg)


def example_inputs(cfg: Config, inputs: Inputs, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """``forward`` kwargs: token ids of shape (batch_size, seq_len)."""
    inputs.check(cfg)
    return {"input_ids": torch.randint(0, cfg.vocab_size, (inputs.batch_size, inputs.seq_len), device=device)}


def param_formula(cfg: Config) -> dict[str, int]:
    """Closed-form parameter counts by module path ("" is the whole model, shared weights once)."""
    d, V = cfg.d_model, cfg.vocab_size
    block = 4 * d + 4 * d * d + 2 * d * cfg.d_ff  # ln_1, ln_2 (weight + bias), attn, mlp
    c: dict[str, int] = {"tok_emb": V * d, "pos_emb": cfg.block_size * d, "ln_f": 2 * d}
    c.update({f"blocks.{i}": block for i in range(cfg.n_layers)})
    c["blocks"] = cfg.n_layers * block
    c["hidden_proj"] = d * d + d
    if cfg.gate == "learned":
        c["output_gate"] = d * cfg.gate_hidden + cfg.gate_hidden + cfg.gate_hidden + 1
    c["lm_head"] = d * V
    c[""] = sum(v for k, v in c.items() if not k.startswith("blocks.")) - (d * V if cfg.tie_weights else 0)
    return c


def mac_formula(cfg: Config, inputs: Inputs) -> dict[str, int]:
    """Closed-form MACs of matmuls (Linear, attention QK^T and AV) by module path."""
    inputs.check(cfg)
    d, B, T = cfg.d_model, inputs.batch_size, inputs.seq_len
    block = B * T * (4 * d * d + 2 * T * d + 2 * d * cfg.d_ff)  # full T x T scores, as SDPA computes them
    c: dict[str, int] = {f"blocks.{i}": block for i in range(cfg.n_layers)}
    c["blocks"] = cfg.n_layers * block
    c["hidden_proj"] = B * T * d * d
    if cfg.gate == "learned":
        c["output_gate"] = B * T * (d * cfg.gate_hidden + cfg.gate_hidden)
    n_out = T // cfg.skip_interval if cfg.gate == "fixed" else T
    c["lm_head"] = B * n_out * d * cfg.vocab_size
    c[""] = sum(v for k, v in c.items() if not k.startswith("blocks."))
    return c
