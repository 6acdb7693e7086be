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


def deepseek_v3(layers: int | None = None, seq: int = 128, expert_modules: bool = True) -> tuple[nn.Module, Any]:
    """A DeepSeek-V3-shaped MoE (61 layers, the first 3 dense, 256 routed experts, 8 per token; transformers' defaults).

    ``expert_modules``: each routed expert its own ``DeepseekV3MLP`` (gate, up, down projections and
    the activation), as in DeepSeek's published modeling code, instead of transformers' two 3-D
    parameters per layer: 58 x 256 x 5 = 74,240 expert modules, the many-module case.
    """
    from transformers import DeepseekV3Config, DeepseekV3ForCausalLM
    from transformers.models.deepseek_v3 import modeling_deepseek_v3 as hf

    cfg = DeepseekV3Config(use_cache=False, attn_implementation="eager",
                           **({} if layers is None else {"num_hidden_layers": layers}))
    if not expert_modules:
        return DeepseekV3ForCausalLM(cfg), _ids(seq)
    fused, moe_init = hf.DeepseekV3Experts, hf.DeepseekV3MoE.__init__

    def init(self: nn.Module, config: Any) -> None:  # the fused 3-D experts are never made
        hf.DeepseekV3Experts = ExpertModules  # type: ignore[misc]
        try:
            moe_init(self, config)
        finally:
            hf.DeepseekV3Experts = fused  # type: ignore[misc]

    hf.DeepseekV3MoE.__init__ = init  # type: ignore[method-assign]
    try:
        model = DeepseekV3ForCausalLM(cfg)
    finally:
        hf.DeepseekV3MoE.__init__ = moe_init  # type: ignore[method-assign]
    return model, _ids(seq)


def _ids(seq: int) -> dict[str, torch.Tensor]:
    return {"input_ids": torch.zeros(1, seq, dtype=torch.long), "attention_mask": torch.ones(1, seq, dtype=torch.long)}


class ExpertModules(nn.ModuleList):
    """Routed experts as one module each, called like transformers' ``DeepseekV3Experts``."""

    def __init__(self, cfg: Any) -> None:
        from transformers.models.deepseek_v3.modeling_deepseek_v3 import DeepseekV3MLP

        super().__init__(DeepseekV3MLP(cfg, intermediate_size=cfg.moe_intermediate_size)
                         for _ in range(cfg.n_routed_experts))

    def forward(self, hidden: torch.Tensor, top_k_index: torch.Tensor, top_k_weights: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(hidden)
        with torch.no_grad():
            mask = nn.functional.one_hot(top_k_index, num_classes=len(self)).permute(2, 1, 0)  # expert, k, token
            hit = torch.greater(mask.sum(dim=(-1, -2)), 0).nonzero()
        for e in hit[:, 0].tolist():
            pos, token = torch.where(mask[e])
            y = self[e](hidden[token]) * top_k_weights[token, pos, None]
            out.index_add_(0, token, y.to(out.dtype))
        return out
