"""A transformers Mixtral with the default experts implementation (``torch._grouped_mm``) on cpu."""

from __future__ import annotations

import pytest
import torch

from paramscope.profiler.flops import count_macs

transformers = pytest.importorskip("transformers")

HIDDEN, FFN, LAYERS, EXPERTS, TOP_K, HEADS, KV_HEADS, VOCAB, TOKENS = 256, 512, 2, 8, 2, 8, 2, 1000, 64
HEAD_DIM = HIDDEN // HEADS

# Per layer: every token goes through TOP_K experts of three matrices (gate, up, down);
# the router is one (HIDDEN x EXPERTS) projection per token.
EXPERT_MACS = TOKENS * TOP_K * 3 * HIDDEN * FFN  # 50,331,648
ROUTER_MACS = TOKENS * HIDDEN * EXPERTS  # 131,072
# q and o projections HIDDEN x HIDDEN, k and v HIDDEN x (KV_HEADS*HEAD_DIM); QK^T and AV per query head
ATTN_MACS = TOKENS * HIDDEN * (2 * HIDDEN + 2 * KV_HEADS * HEAD_DIM) + HEADS * TOKENS * TOKENS * 2 * HEAD_DIM
LM_HEAD_MACS = TOKENS * HIDDEN * VOCAB  # 16,384,000
TOTAL = LAYERS * (EXPERT_MACS + ROUTER_MACS + ATTN_MACS) + LM_HEAD_MACS


def test_the_analytic_total_is_the_issue_figure():
    assert ATTN_MACS == 12_582_912
    assert TOTAL == 142_475_264
    assert TOTAL - LAYERS * EXPERT_MACS == 41_811_968  # the count before _grouped_mm had a formula


def test_mixtral_grouped_mm_experts_are_counted_on_cpu():
    config = transformers.MixtralConfig(
        hidden_size=HIDDEN, intermediate_size=FFN, num_hidden_layers=LAYERS, num_local_experts=EXPERTS,
        num_experts_per_tok=TOP_K, num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, vocab_size=VOCAB,
    )
    torch.manual_seed(0)
    model = transformers.MixtralForCausalLM(config).eval()
    ids = torch.randint(0, VOCAB, (1, TOKENS))
    result = count_macs(model, (), {"input_ids": ids})
    assert result.uncounted == ()
    assert result.total_macs == TOTAL
    experts = [p for p in result.macs if p.endswith("mlp.experts")]
    assert experts and all(result.macs[p] == EXPERT_MACS for p in experts)
    assert result.added_macs["_grouped_mm"][""] == LAYERS * EXPERT_MACS
