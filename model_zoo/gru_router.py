"""Global GRU load balancer of a MoE router, and the cheaper variants its note proposes.

Source: ``global_gru_optimization.ko.md``. SPECTRARouter keeps one GRU over the token stream,
``self.load_balancer = nn.GRU(hidden_size, num_experts * router_dim)``; with the note's
``spectra_config.json`` (512, 128 experts, router_dim 128) its hidden width is H = 16,384 and it
holds 3 * (512*16384 + 16384*16384) = 830,472,192 parameters (the note rounds to "850M").

``GRURouter`` is that load balancer plus a parameter-free read-out (mean over each expert's
``router_dim`` slice, then softmax), so the whole model has exactly the load balancer's parameters.
``variant`` swaps the load balancer for the note's alternatives: ``lowrank`` (section 2 and the
"구현 예시" code), ``lightweight`` (section 3), ``block_sparse`` (section 4, which the note leaves
as an idea: here block-diagonal GRU weights) and ``grouped`` (section 5).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

__all__ = [
    "Config", "Inputs", "GRURouter", "LowRankGRU", "LightweightRouter", "BlockSparseGRU",
    "GroupedGRU", "build", "example_inputs", "param_formula", "mac_formula",
]

_VARIANTS = ("gru", "lowrank", "lightweight", "block_sparse", "grouped")


@dataclass(frozen=True)
class Config:
    """Builder arguments; the defaults are the note's ``spectra_config.json``."""

    hidden_size: int = 512  # token width I (the GRU's input)
    num_experts: int = 128
    router_dim: int = 128  # per-expert width: GRU hidden H = num_experts * router_dim = 16,384
    variant: Literal["gru", "lowrank", "lightweight", "block_sparse", "grouped"] = "gru"
    rank: int = 256  # lowrank only; the note's "router_dim * 2"
    num_groups: int = 4  # grouped and block_sparse only; the note's "4개 그룹"
    bias: bool = False  # gru, grouped, block_sparse; lowrank and lightweight have none, as in the note

    def __post_init__(self) -> None:
        for key in ("hidden_size", "num_experts", "router_dim", "rank", "num_groups"):
            value = getattr(self, key)
            if value < 1:
                raise ValueError(f"{key}: {value} must be at least 1; use a positive size")
        if self.variant not in _VARIANTS:
            raise ValueError(f"variant: {self.variant!r} is unknown; use one of {', '.join(_VARIANTS)}")
        if self.variant in ("grouped", "block_sparse") and self.router_hidden % self.num_groups:
            raise ValueError(
                f"num_groups: {self.num_groups} does not divide num_experts*router_dim="
                f"{self.router_hidden}; pick a divisor of {self.router_hidden}"
            )
        if self.variant == "block_sparse" and self.hidden_size % self.num_groups:
            raise ValueError(
                f"hidden_size: {self.hidden_size} is not divisible by num_groups={self.num_groups} "
                f"(block_sparse splits the input into equal blocks); use a multiple of {self.num_groups}"
            )

    @property
    def router_hidden(self) -> int:
        """GRU hidden width H = num_experts * router_dim."""
        return self.num_experts * self.router_dim


@dataclass(frozen=True)
class Inputs:
    """Example-input knobs: x is (batch_size, seq_len, hidden_size) (also the spectra_layer family's)."""

    batch_size: int = 1
    seq_len: int = 64

    def __post_init__(self) -> None:
        for key in ("batch_size", "seq_len"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key}: {getattr(self, key)} must be >= 1")


class LowRankGRU(nn.Module):
    """The note's low-rank GRU ("구현 예시"): each gate's weight is V @ U of rank r.

    U_ih / U_hh project to 3 gates x rank, and V_ih / V_hh (shared by the 3 gates) map each back to
    the hidden width, so V is applied 3 times per step. Differences from the note: batch_first and
    one layer only, and the hidden states are collected in a list instead of the note's in-place
    ``h[-1] = h_t``, which breaks backward.
    """

    def __init__(self, input_size: int, hidden_size: int, rank: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.rank = rank
        self.U_ih = nn.Linear(input_size, 3 * rank, bias=False)  # 3 gates
        self.V_ih = nn.Linear(rank, hidden_size, bias=False)
        self.U_hh = nn.Linear(hidden_size, 3 * rank, bias=False)
        self.V_hh = nn.Linear(rank, hidden_size, bias=False)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        B, T, _ = x.shape  # (B, T, I)
        h_t = x.new_zeros(B, self.hidden_size) if h is None else h[-1]  # (B, H)
        outputs = []
        for t in range(T):
            x_gates = self.V_ih(self.U_ih(x[:, t]).view(B, 3, self.rank))  # (B, 3, H)
            h_gates = self.V_hh(self.U_hh(h_t).view(B, 3, self.rank))  # (B, 3, H)
            r_gate = torch.sigmoid(x_gates[:, 0] + h_gates[:, 0])  # reset
            z_gate = torch.sigmoid(x_gates[:, 1] + h_gates[:, 1])  # update
            n_gate = torch.tanh(x_gates[:, 2] + r_gate * h_gates[:, 2])  # new
            h_t = (1 - z_gate) * n_gate + z_gate * h_t  # (B, H)
            outputs.append(h_t)
        return torch.stack(outputs, dim=1), h_t.unsqueeze(0)  # (B, T, H), (1, B, H)


class LightweightRouter(nn.Module):
    """The note's Linear + gating router: no recurrence, ``proj`` gated against ``h_prev``."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.proj = nn.Linear(input_size, hidden_size, bias=False)
        self.gate = nn.Linear(input_size, hidden_size, bias=False)

    def forward(self, x: torch.Tensor, h_prev: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        proj_out = self.proj(x)  # (B, T, H)
        if h_prev is None:
            return proj_out, proj_out
        gate_signal = torch.sigmoid(self.gate(x))  # (B, T, H)
        output = gate_signal * proj_out + (1 - gate_signal) * h_prev  # (B, T, H)
        return output, output


class BlockSparseGRU(nn.Module):
    """A GRU whose W_ih and W_hh are block-diagonal with ``num_groups`` blocks.

    Block g maps input slice g (I/G wide) and hidden slice g (H/G wide) to the r, z, n gates of
    hidden slice g, so it holds 3*(I*H + H*H)/G weights. Blocks are stored densely, (G, 3H/G, I/G)
    and (G, 3H/G, H/G), and applied with einsum; the input side is computed for all steps at once.
    """

    def __init__(self, input_size: int, hidden_size: int, num_groups: int, bias: bool) -> None:
        super().__init__()
        self.hidden_size, self.num_groups = hidden_size, num_groups
        hg, ig = hidden_size // num_groups, input_size // num_groups
        self.weight_ih = nn.Parameter(torch.empty(num_groups, 3 * hg, ig))
        self.weight_hh = nn.Parameter(torch.empty(num_groups, 3 * hg, hg))
        self.bias_ih = nn.Parameter(torch.empty(num_groups, 3 * hg)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(num_groups, 3 * hg)) if bias else None
        bound = 1 / math.sqrt(hidden_size)  # nn.GRU's init
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        B, T, _ = x.shape  # (B, T, I)
        G, H = self.num_groups, self.hidden_size
        gi = torch.einsum("btgi,goi->btgo", x.view(B, T, G, -1), self.weight_ih)  # (B, T, G, 3H/G)
        if self.bias_ih is not None:
            gi = gi + self.bias_ih
        h_t = x.new_zeros(B, G, H // G) if h is None else h[-1].view(B, G, H // G)  # (B, G, H/G)
        outputs = []
        for t in range(T):
            gh = torch.einsum("bgi,goi->bgo", h_t, self.weight_hh)  # (B, G, 3H/G)
            if self.bias_hh is not None:
                gh = gh + self.bias_hh
            i_r, i_z, i_n = gi[:, t].view(B, G, 3, -1).unbind(2)  # 3 x (B, G, H/G)
            h_r, h_z, h_n = gh.view(B, G, 3, -1).unbind(2)
            r_gate, z_gate = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
            n_gate = torch.tanh(i_n + r_gate * h_n)
            h_t = (1 - z_gate) * n_gate + z_gate * h_t  # (B, G, H/G)
            outputs.append(h_t.reshape(B, H))
        return torch.stack(outputs, dim=1), h_t.reshape(1, B, H)  # (B, T, H), (1, B, H)


class GroupedGRU(nn.Module):
    """The note's grouped GRU: ``num_groups`` independent GRUs of width H/G, outputs concatenated.

    The note's code leaves ``bias`` at nn.GRU's default True; here it follows ``Config.bias``.
    """

    def __init__(self, input_size: int, hidden_size: int, num_groups: int, bias: bool) -> None:
        super().__init__()
        group_size = hidden_size // num_groups
        self.grus = nn.ModuleList(
            [nn.GRU(input_size, group_size, bias=bias, batch_first=True) for _ in range(num_groups)]
        )

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(self.grus)
        h_in: list[torch.Tensor | None] = [None] * n if h is None else [c.contiguous() for c in h.chunk(n, -1)]
        outputs: list[torch.Tensor] = []
        h_outs: list[torch.Tensor] = []
        for gru, h_i in zip(self.grus, h_in):
            out_i, h_i = gru(x, h_i)  # (B, T, H/G), (1, B, H/G)
            outputs.append(out_i)
            h_outs.append(h_i)
        return torch.cat(outputs, dim=-1), torch.cat(h_outs, dim=-1)  # (B, T, H), (1, B, H)


def _load_balancer(cfg: Config) -> nn.Module:
    I, H, G = cfg.hidden_size, cfg.router_hidden, cfg.num_groups
    if cfg.variant == "lowrank":
        return LowRankGRU(I, H, cfg.rank)
    if cfg.variant == "lightweight":
        return LightweightRouter(I, H)
    if cfg.variant == "block_sparse":
        return BlockSparseGRU(I, H, G, cfg.bias)
    if cfg.variant == "grouped":
        return GroupedGRU(I, H, G, cfg.bias)
    return nn.GRU(I, H, bias=cfg.bias, batch_first=True)


class GRURouter(nn.Module):
    """SPECTRARouter's global load balancer with a parameter-free routing read-out."""

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.cfg = cfg
        self.load_balancer = _load_balancer(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape  # (B, T, I)
        E, H = self.cfg.num_experts, self.cfg.router_hidden
        if isinstance(self.load_balancer, LightweightRouter):
            h, _ = self.load_balancer(x, x.new_zeros(B, 1, H))  # zero previous state: the gate is used
        else:
            h, _ = self.load_balancer(x)  # (B, T, H)
        logits = h.reshape(B, T, E, -1).mean(-1)  # (B, T, E): each expert's router_dim slice
        return torch.softmax(logits, dim=-1)  # (B, T, E)


def build(cfg: Config) -> GRURouter:
    """Build the router; call under ``torch.device("meta")`` to allocate nothing."""
    return GRURouter(cfg)


def example_inputs(cfg: Config, inputs: Inputs, device: str | torch.device) -> dict[str, torch.Tensor]:
    """Keyword arguments for ``GRURouter.forward``: x of shape (batch_size, seq_len, hidden_size)."""
    return {"x": torch.randn(inputs.batch_size, inputs.seq_len, cfg.hidden_size, device=device)}


def _gru_weights(i: int, h: int) -> int:
    return 3 * (i * h + h * h)  # W_ih (3h, i) + W_hh (3h, h)


def _param_parts(cfg: Config) -> dict[str, int]:
    """Parameters of the load balancer's children (or of the load balancer itself)."""
    I, H, G, r = cfg.hidden_size, cfg.router_hidden, cfg.num_groups, cfg.rank
    bias = 6 * H if cfg.bias else 0  # b_ih and b_hh, 3H each
    parts: dict[str, Callable[[], dict[str, int]]] = {
        "gru": lambda: {"load_balancer": _gru_weights(I, H) + bias},
        "lowrank": lambda: {"load_balancer.U_ih": I * 3 * r, "load_balancer.V_ih": r * H,
                            "load_balancer.U_hh": H * 3 * r, "load_balancer.V_hh": r * H},
        "lightweight": lambda: {"load_balancer.proj": I * H, "load_balancer.gate": I * H},
        "block_sparse": lambda: {"load_balancer": _gru_weights(I, H) // G + bias},
        "grouped": lambda: {f"load_balancer.grus.{g}": _gru_weights(I, H // G) + bias // G for g in range(G)},
    }
    return parts[cfg.variant]()


def param_formula(cfg: Config) -> dict[str, int]:
    """Closed-form parameter counts by module path.

    At the preset (I=512, H=16384, r=256, G=4, no bias): gru 3*(512*16384 + 16384*16384) =
    830,472,192; lowrank 512*768 + 256*16384 + 16384*768 + 256*16384 = 21,364,736; lightweight
    2*512*16384 = 16,777,216; block_sparse 830,472,192/4 = 207,618,048; grouped
    4*3*(512*4096 + 4096*4096) = 226,492,416.
    """
    parts = _param_parts(cfg)
    total = parts.get("load_balancer", sum(parts.values()))
    return {"": total, "load_balancer": total, **parts}


def _step_macs(cfg: Config) -> dict[str, int]:
    """Matmul MACs of one time step for one sample, by module path."""
    I, H, G, r = cfg.hidden_size, cfg.router_hidden, cfg.num_groups, cfg.rank
    parts: dict[str, Callable[[], dict[str, int]]] = {
        "gru": lambda: {"load_balancer": _gru_weights(I, H)},
        # V is applied to each of the 3 gates, so V costs 3r*H per step though it holds r*H weights
        "lowrank": lambda: {"load_balancer.U_ih": I * 3 * r, "load_balancer.V_ih": 3 * r * H,
                            "load_balancer.U_hh": H * 3 * r, "load_balancer.V_hh": 3 * r * H},
        "lightweight": lambda: {"load_balancer.proj": I * H, "load_balancer.gate": I * H},
        "block_sparse": lambda: {"load_balancer": _gru_weights(I, H) // G},
        "grouped": lambda: {f"load_balancer.grus.{g}": _gru_weights(I, H // G) for g in range(G)},
    }
    return parts[cfg.variant]()


def mac_formula(cfg: Config, inputs: Inputs) -> dict[str, int]:
    """Closed-form matmul MACs by module path (FlopCounterMode FLOPs = 2 x these).

    Per step and sample: gru 3*(I*H + H*H); lowrank I*3r + 3r*H + H*3r + 3r*H (38,141,952 at the
    preset); times B*T. The preset gru: 64 * 830,472,192 = 53,150,220,288.
    """
    tokens = inputs.batch_size * inputs.seq_len
    parts = {path: tokens * macs for path, macs in _step_macs(cfg).items()}
    total = parts.get("load_balancer", sum(parts.values()))
    return {"": total, "load_balancer": total, **parts}
