"""Models whose forward looks at data, for ``run_peers.py``: ``target: "datadep_models:NAME"`` factories.

Built from shapes only (no weights). The transformers models come from a config; the published
Mixtral-8x7B shape is hidden 4096, ffn 14336, 32 layers, 32 heads / 8 kv heads, 8 experts, top-2,
vocab 32000 (46,702,792,704 parameters).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

MIXTRAL_8X7B = dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                    num_key_value_heads=8, num_local_experts=8, num_experts_per_tok=2, vocab_size=32000)
MIXTRAL_SMALL = dict(hidden_size=256, intermediate_size=512, num_hidden_layers=2, num_attention_heads=8,
                     num_key_value_heads=2, num_local_experts=8, num_experts_per_tok=2, vocab_size=1000)


def mixtral(size: str = "small", experts_implementation: str | None = None, tokens: int = 64) -> tuple[nn.Module, Any]:
    """transformers' MixtralForCausalLM: ``size`` small (issue 8's 2-layer test shape) or 8x7b."""
    from transformers import MixtralConfig, MixtralForCausalLM

    cfg = MixtralConfig(**(MIXTRAL_8X7B if size == "8x7b" else MIXTRAL_SMALL), use_cache=False)
    if experts_implementation is not None:
        cfg._experts_implementation = experts_implementation
    return MixtralForCausalLM(cfg), {"input_ids": torch.zeros(1, tokens, dtype=torch.long)}


class MaskBufferNet(nn.Module):
    """Feature selection by a mask buffer made at init (``x[..., self.keep]``) and a gather by an
    index-table buffer: the shapes after them depend on the buffers' values.

    MACs: tokens x (d*d + kept*d_out) with kept = d - d//4 (every fourth feature dropped).
    """

    def __init__(self, d: int = 512, d_out: int = 256) -> None:
        super().__init__()
        self.register_buffer("keep", torch.arange(d) % 4 != 0)
        self.register_buffer("order", torch.randperm(d, generator=torch.Generator().manual_seed(0)))
        self.mix = nn.Linear(d, d)
        self.head = nn.Linear(int(self.keep.sum()), d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.mix(x[..., self.order])
        return self.head(h[..., self.keep])


def mask_buffer(tokens: int = 128, d: int = 512) -> tuple[nn.Module, torch.Tensor]:
    return MaskBufferNet(d), torch.randn(1, tokens, d)
