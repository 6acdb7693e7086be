"""Tests of the rg_output zoo family against the figures of rg_output_param_issue.ko.md."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from paramscope.model_zoo import rg_output as rg
from conftest import RG_OUTPUT_NOTE
from zoo_testing import build_meta, called_modules, forward_macs, load_preset, measured_params, module_names

PRESET = "rg_output_etth1.yaml"


def preset_args(args: dict[str, Any]) -> dict[str, Any]:
    """The preset's ``args`` as ``rg.Config`` takes them: YAML spells the tuple and the nested config."""
    args["slot_scales"] = tuple(args["slot_scales"])
    args["slot_fuse"] = rg.SlotFuseConfig(**args["slot_fuse"])
    return args


def measured_macs(cfg: rg.Config, inputs: rg.Inputs) -> tuple[torch.Tensor, dict[str, int]]:
    """Output and MACs per module on meta; ``slot_projectors`` (a ModuleList) sums its Linears."""
    return forward_macs(build_meta(rg, cfg), rg.example_inputs(cfg, inputs, "meta"), no_grad=False,
                        sums={"slot_projectors": r"slot_projectors\..*"})


def total_params(**changes: Any) -> int:
    return rg.param_formula(dataclasses.replace(rg.Config(), **changes))[""]


def test_preset_yaml_lists_every_field() -> None:
    cfg, _, doc = load_preset(rg, PRESET, preset_args)
    assert doc["model"] == "rg_output"
    assert doc["preset_of"] == "SUP-ETTh1.M0RGOUTHGBL.sharedpma.el1.k321.e20.vt.pr96.sd0"
    assert set(doc["args"]) == {f.name for f in dataclasses.fields(rg.Config)}
    assert set(doc["args"]["slot_fuse"]) == {f.name for f in dataclasses.fields(rg.SlotFuseConfig)}
    assert cfg == rg.Config()
    assert (cfg.n_tokens, cfg.n_slots) == (7, 6)


def test_preset_figures_exact() -> None:
    cfg, _, _ = load_preset(rg, PRESET, preset_args)
    model = build_meta(rg, cfg)
    assert measured_params(model, list(RG_OUTPUT_NOTE), parameter_keys=True) == RG_OUTPUT_NOTE
    assert sum(p.numel() for p in model.parameters()) == RG_OUTPUT_NOTE[""]
    formula = rg.param_formula(cfg)
    assert {k: formula[k] for k in RG_OUTPUT_NOTE} == RG_OUTPUT_NOTE


@pytest.mark.parametrize("device", ["meta", "cpu"])
@pytest.mark.parametrize("hgate_init", ["linear", "sigmix"])
def test_forward_shapes(device: str, hgate_init: str) -> None:
    cfg = dataclasses.replace(load_preset(rg, PRESET, preset_args)[0], hgate_init=hgate_init)
    inputs = rg.Inputs(batch_size=2)
    with torch.device(device):
        model = rg.build(cfg)
    y = model(**rg.example_inputs(cfg, inputs, device))
    assert y.shape == (2, cfg.pred_len, cfg.c_in)
    assert y.device.type == device
    assert model.output_hgate_bias.shape == (cfg.pred_len,)
    if device == "cpu":
        assert torch.isfinite(y).all()
        bias = model.output_hgate_bias.detach()
        assert bias[0] > bias[-1]  # the gate starts more open at short horizons


def test_every_submodule_runs() -> None:
    cfg = rg.Config(seq_len=24, pred_len=5, c_in=2, d_model=8, n_heads=2, d_ff=8, e_layers=2, patch_len=6,
                    stride=3, pe_hidden=4, embed_hidden=4, slot_fuse=rg.SlotFuseConfig(score_mode="lowrank"))
    model = build_meta(rg, cfg)
    with called_modules(model) as seen:
        model(**rg.example_inputs(cfg, rg.Inputs(), "meta"))
    mha_inner = {f"{n}.{c}" for n, m in model.named_modules() if isinstance(m, nn.MultiheadAttention)
                 for c, _ in m.named_modules() if c}  # MHA uses its out_proj weights functionally
    expected = module_names(model, skip=(nn.ModuleList,)) - mha_inner
    assert expected - seen == set()


def test_note_hidden_sweep() -> None:
    assert total_params(slot_fuse=rg.SlotFuseConfig(hidden=512)) == 8_008_706


def test_note_pred_len_720() -> None:
    counts = rg.param_formula(dataclasses.replace(rg.Config(), pred_len=720))
    assert counts["slot_projectors"] == 2_216_160
    model = build_meta(rg, dataclasses.replace(rg.Config(), pred_len=720))
    assert measured_params(model, list(counts), parameter_keys=True) == counts


def test_note_lowrank_sweep() -> None:
    savings: dict[tuple[int, int], float] = {}
    for pred_len in (96, 192, 336, 720):
        full = total_params(pred_len=pred_len)
        for rank in (128, 192, 256, 384):
            low = total_params(pred_len=pred_len, slot_fuse=rg.SlotFuseConfig(score_mode="lowrank", rank=rank))
            assert full - low == 1536 * 2048 - 3584 * rank
            savings[rank, pred_len] = round(100 * (full - low) / full, 2)
    assert savings[128, 96] == 25.91
    assert savings[384, 720] == 14.03
    assert all(14.03 <= s <= 25.91 for s in savings.values())


@pytest.mark.parametrize("score_mode", ["full", "lowrank"])
def test_mac_formula_preset_per_module(score_mode: str) -> None:
    cfg = dataclasses.replace(load_preset(rg, PRESET, preset_args)[0], slot_fuse=rg.SlotFuseConfig(score_mode=score_mode, rank=128))
    inputs = rg.Inputs(batch_size=3)
    _, measured = measured_macs(cfg, inputs)
    expected = rg.mac_formula(cfg, inputs)
    assert {k: measured[k] for k in expected} == expected


@st.composite
def configs(draw: st.DrawFn) -> rg.Config:
    n_heads = draw(st.integers(1, 3))
    seq_len = draw(st.integers(4, 40))
    patch_len = draw(st.integers(1, seq_len))
    stride = draw(st.integers(1, 8))
    n_tokens = (seq_len - patch_len) // stride + 1
    others = draw(st.lists(st.integers(1, min(n_tokens, 4)), max_size=2))
    scales = tuple(draw(st.permutations([1, *others])))
    fuse = rg.SlotFuseConfig(score_mode=draw(st.sampled_from(["full", "lowrank"])),
                             hidden=draw(st.integers(1, 12)), rank=draw(st.integers(1, 6)))
    return rg.Config(seq_len=seq_len, pred_len=draw(st.integers(1, 12)), c_in=draw(st.integers(1, 3)),
                     d_model=n_heads * draw(st.sampled_from([2, 4])), n_heads=n_heads, d_ff=draw(st.integers(1, 12)),
                     e_layers=draw(st.integers(1, 2)), patch_len=patch_len, stride=stride,
                     pe_hidden=draw(st.integers(1, 8)), embed_hidden=draw(st.integers(1, 8)), slot_scales=scales,
                     hgate_init=draw(st.sampled_from(["linear", "sigmix"])), slot_fuse=fuse)


@settings(max_examples=25, deadline=None)
@given(cfg=configs(), batch_size=st.integers(1, 3))
def test_formulas_match_measurement(cfg: rg.Config, batch_size: int) -> None:
    inputs = rg.Inputs(batch_size=batch_size)
    model = build_meta(rg, cfg)
    counts = rg.param_formula(cfg)
    assert measured_params(model, list(counts), parameter_keys=True) == counts
    assert sum(p.numel() for p in model.parameters()) == counts[""]
    y, measured = measured_macs(cfg, inputs)
    assert y.shape == (batch_size, cfg.pred_len, cfg.c_in)
    expected = rg.mac_formula(cfg, inputs)
    assert {k: measured.get(k, 0) for k in expected} == expected


@pytest.mark.parametrize(("changes", "message"), [
    ({"d_model": 510}, "d_model: 510 is not divisible by n_heads=8"),
    ({"d_model": 9, "n_heads": 1}, "d_model: 9 is odd"),
    ({"patch_len": 400}, "patch_len: 400 exceeds seq_len=336"),
    ({"stride": 300}, "slot_scales: 3 chunks need >= that many patch tokens"),
    ({"slot_scales": (3, 2)}, "slot_scales: (3, 2) has no 1"),
    ({"slot_scales": (0, 1)}, "slot_scales: (0, 1) must be"),
    ({"pred_len": 0}, "pred_len: 0 must be >= 1"),
    ({"hgate_init": "cosine"}, "hgate_init: 'cosine' is unknown"),
    ({"dropout": 1.0}, "dropout: 1.0 must be in [0, 1)"),
])
def test_config_errors(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as err:
        dataclasses.replace(rg.Config(), **changes)
    assert str(err.value).startswith(message)


@pytest.mark.parametrize(("changes", "message"), [
    ({"rank": 0}, "slot_fuse.rank: 0 must be >= 1"),
    ({"hidden": 0}, "slot_fuse.hidden: 0 must be >= 1"),
    ({"score_mode": "svd"}, "slot_fuse.score_mode: 'svd' is unknown"),
    ({"mode": "concat"}, "slot_fuse.mode: 'concat' is not supported"),
])
def test_slot_fuse_errors(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        rg.Config(slot_fuse=rg.SlotFuseConfig(**changes))
