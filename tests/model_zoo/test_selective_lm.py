"""Tests of the selective_lm zoo family against the figures of selective_output_lm.ja.md."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from paramscope.model_zoo import selective_lm as slm
from zoo_testing import build_meta, called_modules, forward_macs, load_preset, measured_params, module_names

PRESET = "selective_lm.yaml"
SMALL = slm.Config(vocab_size=37, block_size=16, d_model=8, n_layers=2, n_heads=2, d_ff=12, gate_hidden=4)


def measured_macs(cfg: slm.Config, inputs: slm.Inputs) -> tuple[torch.Tensor, dict[str, int]]:
    """Output and MACs per module on meta; ``blocks`` (a ModuleList) sums its blocks."""
    return forward_macs(build_meta(slm, cfg), slm.example_inputs(cfg, inputs, "meta"), no_grad=False,
                        sums={"blocks": r"blocks\.\d+"})


def test_preset_yaml_lists_every_field() -> None:
    cfg, inputs, doc = load_preset(slm, PRESET)
    assert doc["model"] == "selective_lm"
    assert set(doc["args"]) == {f.name for f in dataclasses.fields(slm.Config)}
    assert cfg == slm.Config()
    assert inputs == slm.Inputs()


def test_preset_figures_exact() -> None:
    cfg, _, _ = load_preset(slm, PRESET)
    model = build_meta(slm, cfg)
    assert sum(p.numel() for p in model.parameters()) == 70_748_929
    assert measured_params(model, ["output_gate", "hidden_proj"]) == {"output_gate": 65_793, "hidden_proj": 262_656}
    counts = slm.param_formula(cfg)
    assert (counts[""], counts["output_gate"], counts["hidden_proj"]) == (70_748_929, 65_793, 262_656)
    assert measured_params(model, list(counts)) == counts


def test_tied_weights_count_once() -> None:
    cfg = dataclasses.replace(slm.Config(), tie_weights=True)
    model = build_meta(slm, cfg)
    assert model.lm_head.weight is model.tok_emb.weight
    assert sum(p.numel() for p in model.parameters()) == 70_748_929 - 50257 * 512
    assert slm.param_formula(cfg)[""] == 70_748_929 - 50257 * 512


def test_fixed_gate_drops_output_gate() -> None:
    cfg = dataclasses.replace(slm.Config(), gate="fixed", skip_interval=2)
    model = build_meta(slm, cfg)
    assert not hasattr(model, "output_gate")
    assert sum(p.numel() for p in model.parameters()) == 70_748_929 - 65_793
    inputs = slm.Inputs()
    learned = slm.mac_formula(slm.Config(), inputs)["lm_head"]
    assert [slm.mac_formula(dataclasses.replace(cfg, skip_interval=n), inputs)["lm_head"] for n in (1, 2, 4)] == [
        learned, learned // 2, learned // 4]


@pytest.mark.parametrize("device", ["meta", "cpu"])
@pytest.mark.parametrize(("gate", "skip", "n_out"), [("learned", 1, 10), ("fixed", 1, 10), ("fixed", 3, 3)])
def test_forward_shapes(device: str, gate: str, skip: int, n_out: int) -> None:
    cfg = dataclasses.replace(SMALL, gate=gate, skip_interval=skip)
    with torch.device(device):
        model = slm.build(cfg)
    y = model(**slm.example_inputs(cfg, slm.Inputs(batch_size=2, seq_len=10), device))
    assert y.shape == (2, n_out, cfg.vocab_size)
    assert y.device.type == device


def test_preset_runs_on_meta() -> None:
    cfg, inputs, _ = load_preset(slm, PRESET)
    y = build_meta(slm, cfg)(**slm.example_inputs(cfg, inputs, "meta"))
    assert y.shape == (1, 128, 50257)


def test_every_submodule_runs() -> None:
    model = build_meta(slm, SMALL)
    with called_modules(model) as seen:
        model(**slm.example_inputs(SMALL, slm.Inputs(seq_len=8), "meta"))
    assert module_names(model, skip=(nn.ModuleList,)) - seen == set()


@pytest.mark.parametrize("cfg", [slm.Config(), dataclasses.replace(slm.Config(), gate="fixed", skip_interval=3)])
def test_mac_formula_preset_per_module(cfg: slm.Config) -> None:
    inputs = slm.Inputs(batch_size=2, seq_len=100)
    _, measured = measured_macs(cfg, inputs)
    expected = slm.mac_formula(cfg, inputs)
    assert {k: measured[k] for k in expected} == expected


@st.composite
def configs(draw: st.DrawFn) -> slm.Config:
    n_heads = draw(st.integers(1, 3))
    block_size = draw(st.integers(1, 16))
    return slm.Config(vocab_size=draw(st.integers(1, 40)), block_size=block_size,
                      d_model=n_heads * draw(st.integers(1, 4)), n_layers=draw(st.integers(1, 3)), n_heads=n_heads,
                      d_ff=draw(st.integers(1, 12)), gate=draw(st.sampled_from(["learned", "fixed"])),
                      skip_interval=draw(st.integers(1, block_size)), gate_hidden=draw(st.integers(1, 8)),
                      tie_weights=draw(st.booleans()))


@settings(max_examples=25, deadline=None)
@given(cfg=configs(), batch_size=st.integers(1, 3), data=st.data())
def test_formulas_match_measurement(cfg: slm.Config, batch_size: int, data: st.DataObject) -> None:
    low = cfg.skip_interval if cfg.gate == "fixed" else 1
    inputs = slm.Inputs(batch_size=batch_size, seq_len=data.draw(st.integers(low, cfg.block_size)))
    model = build_meta(slm, cfg)
    counts = slm.param_formula(cfg)
    assert measured_params(model, list(counts)) == counts
    assert sum(p.numel() for p in model.parameters()) == counts[""]
    y, measured = measured_macs(cfg, inputs)
    n_out = inputs.seq_len // cfg.skip_interval if cfg.gate == "fixed" else inputs.seq_len
    assert y.shape == (batch_size, n_out, cfg.vocab_size)
    expected = slm.mac_formula(cfg, inputs)
    assert {k: measured.get(k, 0) for k in expected} == expected


@pytest.mark.parametrize(("changes", "message"), [
    ({"d_model": 510}, "d_model: 510 is not divisible by n_heads=8"),
    ({"skip_interval": 0}, "skip_interval: 0 must be >= 1"),
    ({"skip_interval": 200}, "skip_interval: 200 exceeds block_size=128"),
    ({"gate": "soft"}, "gate: 'soft' is unknown"),
    ({"vocab_size": 0}, "vocab_size: 0 must be >= 1"),
])
def test_config_errors(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        dataclasses.replace(slm.Config(), **changes)


def test_input_errors() -> None:
    with pytest.raises(ValueError, match=r"^seq_len: 129 exceeds block_size=128"):
        slm.example_inputs(slm.Config(), slm.Inputs(seq_len=129), "meta")
    with pytest.raises(ValueError, match=r"^seq_len: 2 is shorter than skip_interval=4"):
        slm.mac_formula(dataclasses.replace(slm.Config(), gate="fixed", skip_interval=4), slm.Inputs(seq_len=2))
    with pytest.raises(ValueError, match=r"^batch_size: 0 must be >= 1"):
        slm.Inputs(batch_size=0)
