"""Slot forecaster with ``slot_fuse.mode=residual_gated_output`` (note: rg_output_param_issue.ko.md).

The note's run ``SUP-ETTh1.M0RGOUTHGBL.sharedpma.el1.k321.e20.vt.pr96.sd0`` gives the totals of
each top-level submodule but only spells out ``slot_fuse`` and the heads. The rest is this
reconstruction, which reproduces every figure of the note exactly (d=512, pred_len=96):

- ``enc_embedding`` (2,670,848), channel-independent patches as in PatchTST:
  ``patch_proj`` Linear(patch_len=84, d) 43,520; ``pos_enc`` learnable Fourier positional
  encoding (Li et al. 2021): ``wr`` Linear(1, d/2, no bias) 256 -> [cos, sin] -> ``mlp``
  Linear(d, pe_hidden) GELU Linear(pe_hidden, d) 525,312; ``norm1`` 1,024; residual
  ``token_mlp`` Linear(d, embed_hidden) GELU Linear(embed_hidden, d) 2,099,712; ``norm2`` 1,024.
- ``encoder`` (3,153,408): ``e_layers`` post-norm layers (q/k/v/out Linear(d, d), SDPA, FFN
  Linear(d, d_ff) GELU Linear(d_ff, d), two LayerNorms) and a final LayerNorm.
- ``slot_attn`` (1,051,648): a shared PMA, ONE MultiheadAttention(d, n_heads) + LayerNorm used by
  all K slots. ``slot_scales=(3, 2, 1)`` ("k321") splits the 7 patch tokens into 3, 2 and 1
  contiguous chunks (K=6); each slot's query is its chunk's mean token. The single chunk is the
  baseline slot ``p=L``.
- ``slot_fuse`` (3,150,338) = ResidualGatedFuse: ``score_mlp`` Linear(3d, hidden) GELU
  Linear(hidden, 1) 3,149,825 (lowrank: Linear(3d, rank, no bias) first), ``gate`` Linear(d, 1) 513.
- ``slot_projectors`` K x Linear(d, pred_len) 295,488; ``projector`` Linear(d, pred_len) 49,248;
  ``output_hgate_bias`` (pred_len,) 96. Total 10,371,074.

Forward: ``y = baseline + sigmoid(gate(z_base) + output_hgate_bias) * sum_k alpha_k * delta_k``
with ``delta_k = slot_projectors[k](z_k) - projector(z_base)`` and ``alpha = softmax_k(score_mlp(
[z_base, z_k, z_k - z_base]))``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SlotFuseConfig", "Config", "Inputs", "build", "example_inputs", "param_formula", "mac_formula"]


@dataclass(frozen=True)
class SlotFuseConfig:
    """The ``slot_fuse`` block: how slot predictions are fused into one forecast."""

    mode: Literal["residual_gated_output"] = "residual_gated_output"
    score_mode: Literal["full", "lowrank"] = "full"
    hidden: int = 2048  # score_mlp width; the note's h512 sweep cuts 2,362,368 params
    rank: int = 256  # used only by score_mode=lowrank (note sweeps 128/192/256/384)
    # validated by Config.__post_init__, so that errors name the key inside args (slot_fuse.rank)


@dataclass(frozen=True)
class Config:
    """Builder arguments; the defaults are the note's ETTh1 pr96 preset."""

    seq_len: int = 336
    pred_len: int = 96
    c_in: int = 7  # ETTh1 channels, handled channel-independently
    d_model: int = 512
    n_heads: int = 8
    d_ff: int = 2048
    e_layers: int = 1  # "el1"
    patch_len: int = 84
    stride: int = 42  # (336 - 84) / 42 + 1 = 7 patch tokens
    pe_hidden: int = 512  # hidden width of the Fourier positional-encoding MLP
    embed_hidden: int = 2048  # hidden width of the embedding's residual token MLP
    slot_scales: tuple[int, ...] = (3, 2, 1)  # "k321": K = 3 + 2 + 1 = 6 slots
    hgate_init: Literal["linear", "sigmix"] = "linear"
    dropout: float = 0.0
    slot_fuse: SlotFuseConfig = field(default_factory=SlotFuseConfig)

    def __post_init__(self) -> None:
        object.__setattr__(self, "slot_scales", tuple(self.slot_scales))  # YAML gives lists
        if isinstance(self.slot_fuse, dict):
            object.__setattr__(self, "slot_fuse", SlotFuseConfig(**self.slot_fuse))
        for key in ("seq_len", "pred_len", "c_in", "d_model", "n_heads", "d_ff", "e_layers",
                    "patch_len", "stride", "pe_hidden", "embed_hidden"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key}: {getattr(self, key)} must be >= 1")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model: {self.d_model} is not divisible by n_heads={self.n_heads}; "
                             f"use a multiple of {self.n_heads}")
        if self.d_model % 2:
            raise ValueError(f"d_model: {self.d_model} is odd; the Fourier encoding needs an even width")
        if self.patch_len > self.seq_len:
            raise ValueError(f"patch_len: {self.patch_len} exceeds seq_len={self.seq_len}; "
                             f"use patch_len <= {self.seq_len}")
        self._check_slots()
        self._check_slot_fuse()
        if self.hgate_init not in ("linear", "sigmix"):
            raise ValueError(f"hgate_init: {self.hgate_init!r} is unknown; use 'linear' or 'sigmix'")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout: {self.dropout} must be in [0, 1)")

    def _check_slots(self) -> None:
        if not self.slot_scales or min(self.slot_scales) < 1:
            raise ValueError(f"slot_scales: {self.slot_scales} must be a non-empty tuple of ints >= 1")
        if 1 not in self.slot_scales:
            raise ValueError(f"slot_scales: {self.slot_scales} has no 1; add 1 for the baseline slot p=L")
        if max(self.slot_scales) > self.n_tokens:
            raise ValueError(f"slot_scales: {max(self.slot_scales)} chunks need >= that many patch tokens, "
                             f"but seq_len={self.seq_len}, patch_len={self.patch_len}, stride={self.stride} "
                             f"give {self.n_tokens}; lower the scale or the stride")

    def _check_slot_fuse(self) -> None:
        sf = self.slot_fuse
        if sf.mode != "residual_gated_output":
            raise ValueError(f"slot_fuse.mode: {sf.mode!r} is not supported; use 'residual_gated_output'")
        if sf.score_mode not in ("full", "lowrank"):
            raise ValueError(f"slot_fuse.score_mode: {sf.score_mode!r} is unknown; use 'full' or 'lowrank'")
        if sf.hidden < 1:
            raise ValueError(f"slot_fuse.hidden: {sf.hidden} must be >= 1")
        if sf.rank < 1:
            raise ValueError(f"slot_fuse.rank: {sf.rank} must be >= 1")

    @property
    def n_tokens(self) -> int:
        """Patch tokens per series, L = (seq_len - patch_len) // stride + 1."""
        return (self.seq_len - self.patch_len) // self.stride + 1

    @property
    def n_slots(self) -> int:
        """K, the number of slots (one per chunk over all scales)."""
        return sum(self.slot_scales)

    @property
    def base_slot(self) -> int:
        """Index of the baseline slot p=L: the chunk of the first scale 1."""
        i = self.slot_scales.index(1)
        return sum(self.slot_scales[:i])


@dataclass(frozen=True)
class Inputs:
    """Example-input knobs."""

    batch_size: int = 1

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size: {self.batch_size} must be >= 1")


class FourierPosEnc(nn.Module):
    """Learnable Fourier features of the token index (Li et al. 2021)."""

    def __init__(self, d_model: int, hidden: int) -> None:
        super().__init__()
        self.wr = nn.Linear(1, d_model // 2, bias=False)
        self.mlp = nn.Sequential(nn.Linear(d_model, hidden), nn.GELU(), nn.Linear(hidden, d_model))
        self.scale = 1.0 / math.sqrt(d_model)

    def forward(self, pos: torch.Tensor) -> torch.Tensor:
        f = self.wr(pos.unsqueeze(-1))  # (L, d/2)
        f = torch.cat([torch.cos(f), torch.sin(f)], dim=-1) * self.scale  # (L, d)
        pe: torch.Tensor = self.mlp(f)  # (L, d)
        return pe


class PatchEmbedding(nn.Module):
    """Series -> patch tokens with Fourier positions and a residual token MLP."""

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        d = cfg.d_model
        self.patch_len, self.stride = cfg.patch_len, cfg.stride
        self.patch_proj = nn.Linear(cfg.patch_len, d)
        self.pos_enc = FourierPosEnc(d, cfg.pe_hidden)
        self.norm1 = nn.LayerNorm(d)
        self.token_mlp = nn.Sequential(nn.Linear(d, cfg.embed_hidden), nn.GELU(), nn.Linear(cfg.embed_hidden, d))
        self.norm2 = nn.LayerNorm(d)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        patches = x.unfold(-1, self.patch_len, self.stride)  # (N, L, patch_len)
        pos = torch.arange(patches.size(1), device=x.device, dtype=x.dtype)  # (L,)
        h = self.norm1(self.patch_proj(patches) + self.pos_enc(pos))  # (N, L, d)
        tokens: torch.Tensor = self.norm2(h + self.dropout(self.token_mlp(h)))  # (N, L, d)
        return tokens


class SelfAttention(nn.Module):
    """Multi-head self-attention with separate q/k/v/out projections and SDPA."""

    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads, self.dropout = n_heads, dropout
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        N, L, C = x.shape
        q, k, v = (p(x).view(N, L, self.n_heads, C // self.n_heads).transpose(1, 2)
                   for p in (self.q_proj, self.k_proj, self.v_proj))  # (N, h, L, C/h)
        p_drop = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p_drop)  # (N, h, L, C/h)
        out: torch.Tensor = self.out_proj(y.transpose(1, 2).reshape(N, L, C))  # (N, L, C)
        return out


class EncoderLayer(nn.Module):
    """Post-norm transformer encoder layer."""

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        d = cfg.d_model
        self.attention = SelfAttention(d, cfg.n_heads, cfg.dropout)
        self.ffn = nn.Sequential(nn.Linear(d, cfg.d_ff), nn.GELU(), nn.Linear(cfg.d_ff, d))
        self.norm1 = nn.LayerNorm(d)
        self.norm2 = nn.LayerNorm(d)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.dropout(self.attention(x)))  # (N, L, d)
        out: torch.Tensor = self.norm2(x + self.dropout(self.ffn(x)))  # (N, L, d)
        return out


class Encoder(nn.Module):
    """A stack of encoder layers and a final LayerNorm."""

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.e_layers))
        self.norm = nn.LayerNorm(cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)  # (N, L, d)
        out: torch.Tensor = self.norm(x)
        return out


class SharedPMA(nn.Module):
    """Pooling by multi-head attention, one attention shared by all slots ("sharedpma")."""

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.slot_scales = cfg.slot_scales
        self.attn = nn.MultiheadAttention(cfg.d_model, cfg.n_heads, dropout=cfg.dropout, batch_first=True)
        self.norm = nn.LayerNorm(cfg.d_model)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        queries, pooled = [], []
        for scale in self.slot_scales:
            for chunk in torch.tensor_split(tokens, scale, dim=1):  # (N, L_c, d), shapes only
                q = chunk.mean(dim=1, keepdim=True)  # (N, 1, d)
                queries.append(q)
                pooled.append(self.attn(q, chunk, chunk, need_weights=False)[0])  # (N, 1, d)
        slots: torch.Tensor = self.norm(torch.cat(queries, dim=1) + torch.cat(pooled, dim=1))  # (N, K, d)
        return slots


class ResidualGatedFuse(nn.Module):
    """Fuse slot forecasts as a softmax-weighted, horizon-gated correction of the baseline."""

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        d, sf = cfg.d_model, cfg.slot_fuse
        first: list[nn.Module] = [nn.Linear(3 * d, sf.hidden)]
        if sf.score_mode == "lowrank":
            first = [nn.Linear(3 * d, sf.rank, bias=False), nn.Linear(sf.rank, sf.hidden)]
        self.score_mlp = nn.Sequential(*first, nn.GELU(), nn.Linear(sf.hidden, 1))
        self.gate = nn.Linear(d, 1)

    def forward(self, z: torch.Tensor, z_base: torch.Tensor, baseline: torch.Tensor,
                extras: torch.Tensor, hgate_bias: torch.Tensor) -> torch.Tensor:
        zb = z_base.unsqueeze(1).expand_as(z)  # (N, K, d)
        alpha: torch.Tensor = self.score_mlp(torch.cat([zb, z, z - zb], dim=-1)).squeeze(-1).softmax(dim=-1)  # (N, K)
        delta = extras - baseline.unsqueeze(1)  # (N, K, P)
        correction = (alpha.unsqueeze(-1) * delta).sum(dim=1)  # (N, P)
        g: torch.Tensor = torch.sigmoid(self.gate(z_base) + hgate_bias)  # (N, P)
        return baseline + g * correction  # (N, P)


def hgate_schedule(pred_len: int, mode: str) -> torch.Tensor:
    """Initial horizon-gate bias: from 0 (gate 0.5) at step 1 down to -4 (gate 0.02) at the end."""
    t = torch.linspace(0.0, 1.0, pred_len)  # on the default device, so free under meta
    if mode == "sigmix":
        return -4.0 * torch.sigmoid(10.0 * (t - 0.5))  # sigmoid-shaped ramp
    return -4.0 * t


class RGOutputForecaster(nn.Module):
    """Patch encoder -> shared-PMA slots -> residual gated output fusion."""

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.base_slot = cfg.base_slot
        self.enc_embedding = PatchEmbedding(cfg)
        self.encoder = Encoder(cfg)
        self.slot_attn = SharedPMA(cfg)
        self.slot_fuse = ResidualGatedFuse(cfg)
        self.slot_projectors = nn.ModuleList(nn.Linear(cfg.d_model, cfg.pred_len) for _ in range(cfg.n_slots))
        self.projector = nn.Linear(cfg.d_model, cfg.pred_len)
        self.output_hgate_bias = nn.Parameter(hgate_schedule(cfg.pred_len, cfg.hgate_init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, S, C = x.shape
        mean = x.mean(dim=1, keepdim=True)  # (B, 1, C) instance norm, no parameters
        std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + 1e-5)
        series = ((x - mean) / std).permute(0, 2, 1).reshape(B * C, S)  # (N, S), N = B*C
        z = self.slot_attn(self.encoder(self.enc_embedding(series)))  # (N, K, d)
        z_base = z[:, self.base_slot]  # (N, d)
        baseline = self.projector(z_base)  # (N, P)
        extras = torch.stack([proj(z[:, k]) for k, proj in enumerate(self.slot_projectors)], dim=1)  # (N, K, P)
        y: torch.Tensor = self.slot_fuse(z, z_base, baseline, extras, self.output_hgate_bias)  # (N, P)
        y = y.reshape(B, C, -1).permute(0, 2, 1)  # (B, P, C)
        return y * std + mean


def build(cfg: Config) -> nn.Module:
    """The forecaster for ``cfg``; works under ``with torch.device("meta")``."""
    return RGOutputForecaster(cfg)


def example_inputs(cfg: Config, inputs: Inputs, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """``forward`` kwargs: a look-back window ``x`` of shape (batch_size, seq_len, c_in)."""
    return {"x": torch.randn(inputs.batch_size, cfg.seq_len, cfg.c_in, device=device)}


def _linear(n_in: int, n_out: int, bias: bool = True) -> int:
    return n_in * n_out + (n_out if bias else 0)


def param_formula(cfg: Config) -> dict[str, int]:
    """Closed-form parameter counts by module path ("" is the whole model)."""
    d, P, sf = cfg.d_model, cfg.pred_len, cfg.slot_fuse
    c: dict[str, int] = {
        "enc_embedding.patch_proj": _linear(cfg.patch_len, d),
        "enc_embedding.pos_enc": d // 2 + _linear(d, cfg.pe_hidden) + _linear(cfg.pe_hidden, d),
        "enc_embedding.token_mlp": _linear(d, cfg.embed_hidden) + _linear(cfg.embed_hidden, d),
    }
    c["enc_embedding"] = sum(c.values()) + 4 * d  # + norm1, norm2
    layer = 4 * _linear(d, d) + _linear(d, cfg.d_ff) + _linear(cfg.d_ff, d) + 4 * d
    for i in range(cfg.e_layers):
        c[f"encoder.layers.{i}"] = layer
    c["encoder"] = cfg.e_layers * layer + 2 * d
    c["slot_attn.attn"] = 4 * _linear(d, d)  # in_proj (3d x d) + out_proj
    c["slot_attn"] = c["slot_attn.attn"] + 2 * d
    layers = [_linear(3 * d, sf.hidden)]  # the note's 3.1: 1536 * 2048 + 2048 = 3,147,776
    if sf.score_mode == "lowrank":
        layers = [_linear(3 * d, sf.rank, bias=False), _linear(sf.rank, sf.hidden)]
    layers += [0, _linear(sf.hidden, 1)]  # GELU, then Linear(hidden, 1): 2,049
    c.update({f"slot_fuse.score_mlp.{i}": n for i, n in enumerate(layers) if n})
    c["slot_fuse.score_mlp"] = sum(layers)
    c["slot_fuse.gate"] = _linear(d, 1)
    c["slot_fuse"] = c["slot_fuse.score_mlp"] + c["slot_fuse.gate"]
    c["slot_projectors"] = cfg.n_slots * _linear(d, P)
    c["projector"] = _linear(d, P)
    c["output_hgate_bias"] = P  # a parameter, not a module
    c[""] = sum(c[k] for k in ("enc_embedding", "encoder", "slot_attn", "slot_fuse",
                               "slot_projectors", "projector", "output_hgate_bias"))
    return c


def mac_formula(cfg: Config, inputs: Inputs) -> dict[str, int]:
    """Closed-form MACs of matmuls (Linear, attention QK^T and AV) by module path."""
    d, P, L, K, sf = cfg.d_model, cfg.pred_len, cfg.n_tokens, cfg.n_slots, cfg.slot_fuse
    N = inputs.batch_size * cfg.c_in  # channel-independent series
    n_scales = len(cfg.slot_scales)
    pos = L * (d // 2 + 2 * d * cfg.pe_hidden)  # once per call, shared by all series
    c: dict[str, int] = {
        "enc_embedding": N * L * (cfg.patch_len * d + 2 * d * cfg.embed_hidden) + pos,
        "encoder": cfg.e_layers * N * L * (4 * d * d + 2 * L * d + 2 * d * cfg.d_ff),
        # per slot: q and out projections of one query; per scale: k/v projections and QK^T, AV
        # over its chunks, which together cover all L tokens
        "slot_attn": N * (2 * K * d * d + n_scales * L * (2 * d * d + 2 * d)),
    }
    first = 3 * d * sf.hidden if sf.score_mode == "full" else 3 * d * sf.rank + sf.rank * sf.hidden
    c["slot_fuse.score_mlp"] = N * K * (first + sf.hidden)
    c["slot_fuse.gate"] = N * d
    c["slot_fuse"] = c["slot_fuse.score_mlp"] + c["slot_fuse.gate"]
    c["slot_projectors"] = N * K * d * P
    c["projector"] = N * d * P
    c[""] = sum(c[k] for k in ("enc_embedding", "encoder", "slot_attn", "slot_fuse", "slot_projectors", "projector"))
    return c
