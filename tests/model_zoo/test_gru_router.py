"""Tests of the gru_router zoo family against the figures of global_gru_optimization.ko.md."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from paramscope.model_zoo import gru_router as gr
from zoo_testing import (build_meta, called_modules, load_preset, measured_macs, measured_params, module_names,
                         parameters_without_gradient)

PRESET = "gru_router_spectra.yaml"

# Preset I=512, H=16384, r=256, G=4, B=1, T=64; MACs = 64 x (per-step, per-sample MACs).
PRESET_PARAMS = {
    "gru": 830_472_192,  # 3*(512*16384 + 16384*16384)
    "lowrank": 21_364_736,  # 512*768 + 256*16384 + 16384*768 + 256*16384
    "lightweight": 16_777_216,  # 2*512*16384
    "block_sparse": 207_618_048,  # 830,472,192 / 4
    "grouped": 226_492_416,  # 4*3*(512*4096 + 4096*4096)
}
PRESET_MACS = {
    "gru": 53_150_220_288,  # 64 * 830,472,192
    "lowrank": 2_441_084_928,  # 64 * 38,141,952
    "lightweight": 1_073_741_824,  # 64 * 16,777,216
    "block_sparse": 13_287_555_072,  # 64 * 207,618,048
    "grouped": 14_495_514_624,  # 64 * 226,492,416
}
SMALL = gr.Config(hidden_size=8, num_experts=4, router_dim=3, rank=5, num_groups=2)


def test_preset_file() -> None:
    cfg, inputs, doc = load_preset(gr, PRESET)
    assert doc["model"] == "gru_router"
    assert doc["preset_of"] == "spectra_config.json (global GRU load balancer)"
    assert cfg == gr.Config() and inputs == gr.Inputs()  # the defaults are the preset
    assert cfg.router_hidden == 16_384


def test_preset_gru_on_meta_exact() -> None:
    cfg, inputs, _ = load_preset(gr, PRESET)
    model = build_meta(gr, cfg)
    assert all(p.is_meta for p in model.parameters())  # the 830M GRU is never materialised
    assert isinstance(model.load_balancer, nn.GRU)
    assert measured_params(model, ["", "load_balancer"]) == {"": 830_472_192, "load_balancer": 830_472_192}
    macs = measured_macs(model, gr.example_inputs(cfg, inputs, "meta"))
    assert macs[""] == macs["load_balancer"] == 53_150_220_288 == 2 * 26_575_110_144
    assert gr.mac_formula(cfg, inputs)[""] == 53_150_220_288


@pytest.mark.parametrize("variant", [v for v in gr._VARIANTS if v != "gru"])
def test_preset_variants_on_meta(variant: str) -> None:
    cfg, inputs, _ = load_preset(gr, PRESET)
    cfg = dataclasses.replace(cfg, variant=variant)
    model = build_meta(gr, cfg)
    assert gr.param_formula(cfg)[""] == PRESET_PARAMS[variant]
    assert measured_params(model, [""]) == {"": PRESET_PARAMS[variant]}
    assert gr.mac_formula(cfg, inputs)[""] == PRESET_MACS[variant]
    if variant != "grouped":  # 4 GRUs of 4096 on meta: covered by the small-shape test
        assert measured_macs(model, gr.example_inputs(cfg, inputs, "meta"))[""] == PRESET_MACS[variant]


def test_lowrank_macs_exceed_its_params() -> None:
    # V is applied to the 3 gates: 38,141,952 MACs per step against 21,364,736 weights
    cfg = dataclasses.replace(gr.Config(), variant="lowrank")
    assert gr.mac_formula(cfg, gr.Inputs(batch_size=1, seq_len=1))[""] == 38_141_952


@st.composite
def configs(draw: st.DrawFn) -> gr.Config:
    groups = draw(st.integers(1, 3))
    return gr.Config(
        hidden_size=groups * draw(st.integers(1, 4)),
        num_experts=groups * draw(st.integers(1, 3)),
        router_dim=draw(st.integers(1, 4)),
        variant=draw(st.sampled_from(gr._VARIANTS)),
        rank=draw(st.integers(1, 6)),
        num_groups=groups,
        bias=draw(st.booleans()),
    )


@settings(max_examples=25, deadline=None)
@given(cfg=configs())
def test_param_formula_matches_meta_model(cfg: gr.Config) -> None:
    expected = gr.param_formula(cfg)
    model = build_meta(gr, cfg)
    assert measured_params(model, list(expected)) == expected
    assert expected[""] == sum(p.numel() for p in model.load_balancer.parameters())  # read-out is free


@pytest.mark.parametrize("variant", gr._VARIANTS)
@pytest.mark.parametrize(("cfg", "inputs"), [
    (SMALL, gr.Inputs(batch_size=2, seq_len=3)),
    (dataclasses.replace(SMALL, hidden_size=12, num_experts=6, router_dim=4, num_groups=3, bias=True),
     gr.Inputs(batch_size=1, seq_len=5)),
])
def test_mac_formula_matches_flop_counter(variant: str, cfg: gr.Config, inputs: gr.Inputs) -> None:
    cfg = dataclasses.replace(cfg, variant=variant)
    expected = gr.mac_formula(cfg, inputs)
    measured = measured_macs(build_meta(gr, cfg), gr.example_inputs(cfg, inputs, "meta"))
    assert {k: measured.get(k) for k in expected} == expected


@pytest.mark.parametrize("variant", gr._VARIANTS)
@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_forward_shapes(variant: str, device: str) -> None:
    cfg = dataclasses.replace(SMALL, variant=variant, bias=True)
    with torch.device(device):
        model = gr.build(cfg)
    probs = model(**gr.example_inputs(cfg, gr.Inputs(batch_size=2, seq_len=3), device))
    assert probs.shape == (2, 3, cfg.num_experts) and probs.device.type == device
    if device == "cpu":
        torch.testing.assert_close(probs.sum(-1), torch.ones(2, 3))


@pytest.mark.parametrize("variant", gr._VARIANTS)
def test_backward_reaches_every_parameter_and_module(variant: str) -> None:
    cfg = dataclasses.replace(SMALL, variant=variant, bias=True)
    model = gr.build(cfg)
    with called_modules(model) as called:
        probs = model(**gr.example_inputs(cfg, gr.Inputs(batch_size=2, seq_len=4), "cpu"))
    (probs * torch.randn_like(probs)).sum().backward()
    containers = (nn.ModuleList, nn.ModuleDict)  # no forward of their own
    assert called == module_names(model, skip=containers)
    assert parameters_without_gradient(model) == []


def test_block_sparse_with_one_group_is_a_gru() -> None:
    gru = nn.GRU(6, 10, bias=True, batch_first=True)
    block = gr.BlockSparseGRU(6, 10, num_groups=1, bias=True)
    with torch.no_grad():
        for ours, theirs in [("weight_ih", "weight_ih_l0"), ("weight_hh", "weight_hh_l0"),
                             ("bias_ih", "bias_ih_l0"), ("bias_hh", "bias_hh_l0")]:
            getattr(block, ours).copy_(getattr(gru, theirs).view_as(getattr(block, ours)))
    x = torch.randn(2, 5, 6)
    (out, h), (ref_out, ref_h) = block(x), gru(x)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(h, ref_h)


def test_grouped_bias_follows_config() -> None:
    grouped = gr.build(dataclasses.replace(SMALL, variant="grouped")).load_balancer
    assert isinstance(grouped, gr.GroupedGRU)
    assert all(not gru.bias for gru in grouped.grus)


@pytest.mark.parametrize(("changes", "message"), [
    ({"hidden_size": 0}, "hidden_size: 0 must be at least 1"),
    ({"rank": -1}, "rank: -1 must be at least 1"),
    ({"variant": "lstm"}, "variant: 'lstm' is unknown; use one of gru, lowrank"),
    ({"variant": "grouped", "num_groups": 3}, "num_groups: 3 does not divide num_experts\\*router_dim=16384"),
    ({"variant": "block_sparse", "num_groups": 3}, "num_groups: 3 does not divide"),
    ({"variant": "block_sparse", "hidden_size": 510}, "hidden_size: 510 is not divisible by num_groups=4"),
])
def test_impossible_shapes(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}"):
        gr.Config(**changes)


def test_groups_only_checked_where_used() -> None:
    assert gr.Config(hidden_size=510, num_groups=3).variant == "gru"
