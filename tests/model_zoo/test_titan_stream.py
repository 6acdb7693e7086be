"""Tests of the titan_stream zoo family against the figures of titan_stream_fixes.zh.md."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from paramscope.model_zoo import titan_stream as ts
from zoo_testing import (build_meta, called_modules, load_preset, measured_macs, measured_params, module_names,
                         parameters_without_gradient)

PRESET = "titan_stream.yaml"

# The note's keyword grouping (exp/exp_online_forecast.py:423-429); a name without one is "head".
BACKBONE_KEYWORDS = ["backbone", "encoder", "embedding", "core", "input_proj", "q_proj", "k_proj", "v_proj"]
HEAD_KEYWORDS = ["memory", "head", "gate", "persistent"]

# head -> (head params, whole-model params, share as the note rounds it)
HEAD_FIGURES = {
    "mean": (172_704, 1_540_516, "11.2"),  # note: 11.5% (inconsistent with 35.1%, see module docstring)
    "flatten_mlp": (202_360_992, 203_728_804, "99"),
    "attention_pool": (739_744, 2_107_556, "35.1"),
}
SMALL = ts.Config(c_in=3, seq_len=6, pred_len=4, d_model=8, n_heads=2, n_layers=2, d_ff=12,
                  n_persistent=2, forecast_hidden_dim=10)


def test_preset_file() -> None:
    cfg, inputs, doc = load_preset(ts, PRESET)
    assert doc["model"] == "titan_stream"
    assert set(doc["args"]) == {f.name for f in dataclasses.fields(ts.Config)}  # every field explicit
    assert cfg == ts.Config() and cfg.head == "attention_pool"
    assert inputs == ts.Inputs(batch_size=1)


@pytest.mark.parametrize("head", list(HEAD_FIGURES))
def test_head_counts_and_shares(head: str) -> None:
    head_params, total, share = HEAD_FIGURES[head]
    cfg = dataclasses.replace(load_preset(ts, PRESET)[0], head=head)
    model = build_meta(ts, cfg)
    assert measured_params(model, ["", "head"]) == {"": total, "head": head_params}
    assert total - head_params == 1_367_812  # the same rest of the model for every head
    digits = len(share.partition(".")[2])
    assert f"{100 * head_params / total:.{digits}f}" == share


def test_flatten_first_layer_is_the_notes_201m() -> None:
    model = build_meta(ts, dataclasses.replace(ts.Config(), head="flatten_mlp"))
    assert sum(p.numel() for p in model.head.net[1].parameters()) == 201_328_128  # 131072*1536 + 1536


def test_note_parameter_grouping_with_mean_head() -> None:
    model = build_meta(ts, dataclasses.replace(ts.Config(), head="mean"))
    backbone: list[int] = []
    head: list[int] = []
    for name, p in model.named_parameters():
        (backbone if any(k in name for k in BACKBONE_KEYWORDS) else head).append(p.numel())
        assert any(k in name for k in BACKBONE_KEYWORDS + HEAD_KEYWORDS), name
    assert (len(backbone), sum(backbone)) == (32, 1_253_632)  # note: 32 params, 1.25M elements
    assert (len(head), sum(head)) == (9, 286_884)  # note: 9 params, 287K elements


def test_preset_macs_on_meta() -> None:
    cfg, inputs, _ = load_preset(ts, PRESET)
    expected = ts.mac_formula(cfg, inputs)
    assert expected[""] == 1_496_335_104
    assert expected["head"] == 67_977_216  # the peers' head_attn at batch 2: 135,954,432
    measured = measured_macs(build_meta(ts, cfg), ts.example_inputs(cfg, inputs, "meta"))
    assert {k: measured.get(k) for k in expected} == expected


@st.composite
def configs(draw: st.DrawFn) -> ts.Config:
    n_heads = draw(st.integers(1, 3))
    return ts.Config(
        c_in=draw(st.integers(1, 4)), seq_len=draw(st.integers(1, 6)), pred_len=draw(st.integers(1, 5)),
        d_model=n_heads * draw(st.integers(1, 4)), n_heads=n_heads, n_layers=draw(st.integers(1, 3)),
        d_ff=draw(st.integers(1, 9)), n_persistent=draw(st.integers(0, 3)),
        head=draw(st.sampled_from(ts._HEADS)), forecast_hidden_dim=draw(st.integers(1, 7)),
    )


@settings(max_examples=25, deadline=None)
@given(cfg=configs())
def test_param_formula_matches_meta_model(cfg: ts.Config) -> None:
    expected = ts.param_formula(cfg)
    assert measured_params(build_meta(ts, cfg), list(expected)) == expected


@pytest.mark.parametrize("head", ts._HEADS)
@pytest.mark.parametrize(("cfg", "inputs"), [
    (SMALL, ts.Inputs(batch_size=2)),
    (dataclasses.replace(SMALL, d_model=12, n_heads=3, n_layers=1, n_persistent=0, seq_len=5), ts.Inputs(batch_size=1)),
])
def test_mac_formula_matches_flop_counter(head: str, cfg: ts.Config, inputs: ts.Inputs) -> None:
    cfg = dataclasses.replace(cfg, head=head)
    expected = ts.mac_formula(cfg, inputs)
    measured = measured_macs(build_meta(ts, cfg), ts.example_inputs(cfg, inputs, "meta"))
    assert {k: measured.get(k) for k in expected} == expected


@pytest.mark.parametrize("head", ts._HEADS)
@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_forward_shapes(head: str, device: str) -> None:
    cfg = dataclasses.replace(SMALL, head=head)
    with torch.device(device):
        model = ts.build(cfg)
    forecast, stats = model(**ts.example_inputs(cfg, ts.Inputs(batch_size=2), device))
    assert forecast.shape == (2, cfg.pred_len, cfg.c_in) and forecast.device.type == device
    assert stats["updated_memory"].shape == stats["updated_momentum"].shape == (2, 8, 8)
    # the next time slice takes the detached state back (the note's P0 fix)
    again, _ = model(**ts.example_inputs(cfg, ts.Inputs(batch_size=2), device),
                     memory=stats["updated_memory"].detach(), momentum=stats["updated_momentum"].detach())
    assert again.shape == forecast.shape


@pytest.mark.parametrize("head", ts._HEADS)
def test_backward_reaches_every_parameter_and_module(head: str) -> None:
    cfg = dataclasses.replace(SMALL, head=head)
    model = ts.build(cfg)
    with called_modules(model) as called:
        forecast, _ = model(**ts.example_inputs(cfg, ts.Inputs(batch_size=2), "cpu"))
    (forecast * torch.randn_like(forecast)).sum().backward()
    # MultiheadAttention uses out_proj's weight directly, never its forward
    assert called == module_names(model) - {"head.forecast_attn.out_proj"}
    assert parameters_without_gradient(model) == []


def test_memory_gradient_is_the_closed_form() -> None:
    torch.manual_seed(0)
    memory = ts.NeuralMemory(SMALL)
    x, q, k, v = (torch.randn(2, 5, 8) for _ in range(4))
    M = torch.randn(2, 8, 8, requires_grad=True)
    loss = 0.5 * ((k @ M.transpose(1, 2) - v) ** 2).sum(-1).mean(1).sum()  # per sample: mean_t
    (grad,) = torch.autograd.grad(loss, M)
    _, new_memory, new_momentum = memory(x, q, k, v, M.detach(), None)
    theta, eta, alpha = torch.sigmoid(memory.coef_proj(x.mean(1))).view(2, 3, 1, 1).unbind(1)
    torch.testing.assert_close(new_momentum, -theta * grad)  # S_0 = 0
    torch.testing.assert_close(new_memory, (1 - alpha) * M.detach() + new_momentum)


@pytest.mark.parametrize(("changes", "message"), [
    ({"d_model": 250}, "d_model: 250 is not divisible by n_heads=8; use a multiple of 8"),
    ({"seq_len": 0}, "seq_len: 0 must be at least 1"),
    ({"n_persistent": -1}, "n_persistent: -1 is negative"),
    ({"head": "max"}, "head: 'max' is unknown; use one of mean, flatten_mlp, attention_pool"),
    ({"dropout": 1.0}, "dropout: 1.0 is outside \\[0, 1\\)"),
])
def test_impossible_shapes(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}"):
        ts.Config(**changes)
