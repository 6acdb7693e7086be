"""The spectra_layer family against gru_qat_analysis.ko.md (the figures live in its preset's ``note:``)."""

from __future__ import annotations

import json

import pytest
from torch import nn
from typer.testing import CliRunner

from paramscope.cli.app import app
from paramscope.model_zoo import registry
from paramscope.model_zoo import spectra_layer as sl
from paramscope.profiler.memory import Precision, plan_memory_sweep
from zoo_testing import build_meta, load_preset, measured_macs, measured_params

PRESET = "spectra_layer_qat"
NOTE = registry.preset_note(PRESET)
runner = CliRunner()


def test_preset_is_the_defaults_and_the_note_is_beside_it() -> None:
    cfg, inputs, doc = load_preset(sl, PRESET + ".yaml")
    assert doc["model"] == "spectra_layer" and cfg == sl.Config() and inputs == sl.Inputs()
    assert NOTE["file"] == registry.get_family("spectra_layer").source == "gru_qat_analysis.ko.md"


def test_the_load_balancer_is_the_notes_gru() -> None:
    cfg = sl.Config()
    model = build_meta(sl, cfg)
    gru, want = model.load_balancer, NOTE["gru"]
    assert isinstance(gru, nn.GRU) and gru.batch_first
    assert (gru.input_size, gru.num_layers, gru.bias) == (cfg.hidden_size, want["num_layers"], want["bias"])
    assert gru.hidden_size == cfg.num_experts * cfg.router_dim  # hidden_size: num_experts*router_dim
    # bias=False: only W_ih (3H, d) and W_hh (3H, H); d = H = 512 here
    assert [n for n, _ in gru.named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]
    assert measured_params(model, ["load_balancer"]) == {"load_balancer": 3 * (512 * 512 + 512 * 512)}


def test_params_and_macs_match_the_formulas() -> None:
    cfg, inputs = sl.Config(), sl.Inputs()
    model = build_meta(sl, cfg)
    formula = sl.param_formula(cfg)
    assert measured_params(model, list(formula)) == formula
    assert formula[""] == 1_050_624 + 1_572_864 + 8 * 1_050_112 + 2_048 == 11_026_432
    macs = sl.mac_formula(cfg, inputs)
    measured = measured_macs(model, sl.example_inputs(cfg, inputs, "meta"))
    assert {k: measured[k] for k in ("", "load_balancer")} == {k: macs[k] for k in ("", "load_balancer")}
    # 64 tokens: attn 4*64*512^2 + 2*64^2*512, GRU 64*3*(512^2 + 512^2), experts 64*8*2*512*1024
    assert macs[""] == 67_108_864 + 4_194_304 + 100_663_296 + 536_870_912


def test_hidden_state_has_the_notes_shape() -> None:
    cfg, inputs = sl.Config(), sl.Inputs(batch_size=3, seq_len=5)
    model = build_meta(sl, cfg)
    y, hn = model(**sl.example_inputs(cfg, inputs, "meta"))
    dims = {"1": 1, "batch_size": inputs.batch_size, "num_experts*router_dim": cfg.router_hidden}
    assert tuple(hn.shape) == tuple(dims[str(d)] for d in NOTE["hidden_state"]) == (1, 3, 512)
    assert y.shape == (3, 5, cfg.hidden_size)


def test_the_notes_precision_plans() -> None:
    cfg, inputs = sl.Config(), sl.Inputs(seq_len=8)
    model = build_meta(sl, cfg)
    kwargs = sl.example_inputs(cfg, inputs, "meta")
    fp32, bf16, int8 = plan_memory_sweep(model, (), kwargs, dtypes=[Precision.FP32, Precision.BF16, Precision.INT8])
    saving = 100 * (fp32.live_at_peak.weights_bytes - bf16.live_at_peak.weights_bytes) / fp32.live_at_peak.weights_bytes
    assert saving == NOTE["half_precision_memory_saving_pct"]  # "memory 50% saved"
    assert 2 ** Precision.INT8.bits == NOTE["int8_levels"]  # 256 levels
    assert int8.live_at_peak.weights_bytes == 11_026_432  # one byte each
    # the recommended hybrid: the GRU stays fp32, the rest int8 -> 4 bytes x 1,572,864 + 1 byte x the rest
    keep = {path: Precision(p) for path, p in NOTE["keep"].items()}
    (mixed,) = plan_memory_sweep(model, (), kwargs, dtypes=[Precision.INT8], keep=keep)
    assert mixed.live_at_peak.weights_bytes == 4 * 1_572_864 + (11_026_432 - 1_572_864)


@pytest.mark.parametrize("detach", [False, True])
def test_steps_carries_hn_by_default(detach: bool) -> None:
    args = ["steps", PRESET, "--steps", "3", "--set", "seq_len=4", "--format", "json"]
    res = runner.invoke(app, args + (["--detach"] if detach else []))
    assert res.exit_code == 0, res.output
    runs = json.loads(res.stdout)["runs"]
    assert [(c["output"], c["input"]) for c in runs[0]["carry"]] == [("hn", "hn")]
    assert runs[0]["verdict"] == "grows"  # the note: hn handed on, its graph too
    if detach:
        assert runs[1]["verdict"] == "constant"


def test_bad_sizes_are_named() -> None:
    with pytest.raises(ValueError, match="hidden_size: 500 is not divisible by n_heads=8"):
        sl.Config(hidden_size=500)
    with pytest.raises(ValueError, match="router_dim: 0 must be at least 1"):
        sl.Config(router_dim=0)
