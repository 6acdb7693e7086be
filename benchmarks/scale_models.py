"""Models for ``run_scale.py``: factories in the ``target: "module:factory"`` form, built from shapes only.

Each returns ``(model, example_inputs)``. Nothing here downloads weights: the transformers
models are built from a config on whatever device ``paramscope`` builds on (meta by default).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def sequential(blocks: int = 4000, width: int = 16, tokens: int = 4) -> tuple[nn.Module, torch.Tensor]:
    """``nn.Sequential`` of ``blocks`` x (Sequential(Linear, ReLU)): 3 x blocks + 1 modules."""
    model = nn.Sequential(*(nn.Sequential(nn.Linear(width, width), nn.ReLU()) for _ in range(blocks)))
    return model, torch.randn(tokens, width)


# Shapes from the published configs (config.json of each model family); layers can be cut for a curve.
LLAMA2_7B = dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                 num_key_value_heads=32, vocab_size=32000)
LLAMA2_70B = dict(hidden_size=8192, intermediate_size=28672, num_hidden_layers=80, num_attention_heads=64,
                  num_key_value_heads=8, vocab_size=32000)


def llama(size: str = "7b", layers: int | None = None, seq: int = 128, hidden: int | None = None) -> tuple[nn.Module, Any]:
    """A Llama-2-shaped ``LlamaForCausalLM`` from a config (``size`` 7b or 70b; ``layers`` cuts depth)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    shape = dict(LLAMA2_7B if size == "7b" else LLAMA2_70B)
    if layers is not None:
        shape["num_hidden_layers"] = layers
    if hidden is not None:  # a narrow model for module-count curves (heads keep head_dim 64)
        shape.update(hidden_size=hidden, intermediate_size=hidden * 2, num_attention_heads=hidden // 64,
                     num_key_value_heads=hidden // 64)
    cfg = LlamaConfig(**shape, max_position_embeddings=4096, use_cache=False, attn_implementation="eager")
    model = LlamaForCausalLM(cfg)
    # an explicit mask: without one transformers looks for packed sequences with .item(), which meta cannot answer
    return model, {"input_ids": torch.zeros(1, seq, dtype=torch.long), "attention_mask": torch.ones(1, seq, dtype=torch.long)}


def mixtral(layers: int | None = None, seq: int = 128) -> tuple[nn.Module, Any]:
    """A Mixtral-8x7B-shaped ``MixtralForCausalLM`` (transformers' defaults are that model's shapes)."""
    from transformers import MixtralConfig, MixtralForCausalLM

    cfg = MixtralConfig(use_cache=False, **({} if layers is None else {"num_hidden_layers": layers}))
    return MixtralForCausalLM(cfg), {"input_ids": torch.zeros(1, seq, dtype=torch.long)}


def deepseek_v3(layers: int | None = None, seq: int = 128) -> tuple[nn.Module, Any]:
    """A DeepSeek-V3-shaped MoE (61 layers, 256 routed experts, 8 per token; transformers' defaults)."""
    from transformers import DeepseekV3Config, DeepseekV3ForCausalLM

    cfg = DeepseekV3Config(use_cache=False, **({} if layers is None else {"num_hidden_layers": layers}))
    return DeepseekV3ForCausalLM(cfg), {"input_ids": torch.zeros(1, seq, dtype=torch.long)}
