"""whatif: the seed notes' sweeps, exact scaling laws, failed rows, the JSON and the PNG."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from paramscope.cli.app import app
from paramscope.profiler.sweep import fit_law

runner = CliRunner()


def whatif_json(*args: str) -> dict:
    res = runner.invoke(app, ["whatif", *args, "--format", "json", "--flops", "none"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_rg_output_lowrank_sweep_reproduces_the_note() -> None:
    doc = whatif_json("rg_output_etth1", "--rank", "128,192,256,384", "--pred-len", "96,192,336,720")
    savings = {(v["knobs"]["rank"], v["knobs"]["pred_len"]): -v["delta_params"] / v["baseline_params"] for v in doc["variants"]}
    assert len(savings) == 16
    # The note: "parameters: about 14.03% ~ 25.91% fewer"
    assert round(100 * savings[(128, 96)], 2) == 25.91
    assert round(100 * savings[(384, 720)], 2) == 14.03
    assert all(14.03 <= round(100 * s, 2) <= 25.91 for s in savings.values())
    # each rank is compared with the full-rank model at the same pred_len:
    # saving = 1536*2048 - 3584*rank, independent of pred_len
    for (rank, _), v in zip(savings, doc["variants"], strict=True):
        assert -v["delta_params"] == 1536 * 2048 - 3584 * rank


def test_rg_output_hidden_512() -> None:
    doc = whatif_json("rg_output_etth1", "--hidden", "512")
    (v,) = doc["variants"]
    assert (v["params"], v["baseline_params"]) == (8_008_706, 10_371_074)  # -22.8% in the note
    assert round(100 * v["delta_params"] / v["baseline_params"], 1) == -22.8


def test_scaling_laws() -> None:
    doc = whatif_json("rg_output_etth1", "--pred-len", "96,192,336,720")
    laws = {(s["path"], s["knob"]): s for s in doc["scaling"] if s["metric"] == "params"}
    assert laws[("slot_projectors", "pred_len")]["law"] == "linear"
    assert laws[("slot_projectors", "pred_len")]["coefficients"] == [0, 6 * 513]  # K * (d + 1) per step
    assert laws[("slot_fuse", "pred_len")]["law"] == "constant"


def test_gru_router_quadratic_in_router_dim() -> None:
    doc = whatif_json("gru_router_spectra", "--router-dim", "32,64,128")
    laws = {(s["path"], s["knob"]): s for s in doc["scaling"] if s["metric"] == "params"}
    law = laws[("load_balancer", "router_dim")]
    # 3 * (512 * 128 r + (128 r)^2) = 196,608 r + 49,152 r^2
    assert law["law"] == "quadratic" and law["coefficients"] == [0, 196_608, 49_152]
    by_dim = {v["knobs"]["router_dim"]: v for v in doc["variants"]}
    # the note claims 75% fewer parameters for 128 -> 32; the real saving is 93.18%
    assert round(-100 * by_dim[32]["delta_params"] / by_dim[32]["baseline_params"], 2) == 93.18


def test_failed_variant_is_a_row_and_the_sweep_goes_on() -> None:
    doc = whatif_json("rg_output_etth1", "--set", "d_model=500,512")
    status = {v["knobs"]["d_model"]: v for v in doc["variants"]}
    assert status[500]["status"] == "failed" and "not divisible by n_heads=8" in status[500]["reason"]
    assert status[512]["status"] == "ok" and status[512]["delta_params"] == 0


def test_plot_is_a_real_png(tmp_path: Path) -> None:
    out = tmp_path / "sweep.png"
    res = runner.invoke(app, ["whatif", "rg_output_etth1", "--hidden", "512,1024", "--flops", "none", "--plot", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000


def test_module_option_follows_one_submodule() -> None:
    res = runner.invoke(app, ["whatif", "rg_output_etth1", "--rank", "128", "--module", "slot_fuse.score_mlp", "--flops", "none", "--format", "md"])
    assert res.exit_code == 0, res.output
    assert "| slot_fuse.score_mlp |" in res.stdout.splitlines()[2]
    assert f"{3_149_825 - 2_686_976:,}" in res.stdout  # 462,849


def test_whatif_errors_are_one_line() -> None:
    res = runner.invoke(app, ["whatif", "rg_output_etth1"])
    assert res.exit_code == 2 and res.stderr.strip() == "error: give at least one knob to vary, e.g. --rank 192,384 or --set d_model=256,512"
    res = runner.invoke(app, ["whatif", "rg_output_etth1", "--rank", "128", "--module", "slot_fuse.score"])
    assert res.exit_code == 2 and res.stderr.strip().startswith("error: --module slot_fuse.score: no such submodule")


@settings(max_examples=60, deadline=None)
@given(a=st.integers(-1000, 1000), b=st.integers(-1000, 1000), c=st.integers(-50, 50),
       xs=st.lists(st.integers(1, 2000), min_size=4, max_size=7, unique=True))
def test_fit_law_recovers_polynomials(a: int, b: int, c: int, xs: list[int]) -> None:
    law, coeffs = fit_law(xs, [a + b * x + c * x * x for x in xs])
    expected = "quadratic" if c else "linear" if b else "constant"
    assert law == expected
    assert list(coeffs) + [Fraction(0)] * (3 - len(coeffs)) == [a, b, c]


def test_fit_law_other() -> None:
    assert fit_law([1, 2, 3, 4], [1, 8, 27, 64])[0] == "other"
    with pytest.raises(ValueError):
        fit_law([1, 2], [1, 2, 3])


def test_workload_flag_compares_at_the_same_value() -> None:
    # d_model as a design knob: each value against the base (512); as a workload knob: against itself
    design = whatif_json("rg_output_etth1", "--set", "d_model=256")
    work = runner.invoke(app, ["whatif", "rg_output_etth1", "--set", "d_model=256", "--workload", "d_model",
                               "--format", "json", "--flops", "none"])
    assert work.exit_code == 0, work.output
    (d,), (w,) = design["variants"], json.loads(work.stdout)["variants"]
    assert d["baseline_params"] == 10_371_074 and d["delta_params"] < 0
    assert w["baseline_params"] == w["params"] and w["delta_params"] == 0
    assert json.loads(work.stdout)["axes"][0]["kind"] == "workload"


def test_knob_flag_the_family_lacks_is_one_line() -> None:
    res = runner.invoke(app, ["whatif", "gru_router_spectra", "--hidden", "512"])
    assert res.exit_code == 2
    assert res.stderr.strip().startswith("error: --hidden: gru_router has no such knob (its knobs: --router-dim,")


def test_each_distinct_configuration_is_measured_once() -> None:
    from functools import partial

    from paramscope.profiler.pipeline import measure
    from paramscope.profiler.spec import load_spec
    from paramscope.profiler.sweep import make_axes, run_sweep

    calls: list[dict] = []

    def counting(spec):  # type: ignore[no-untyped-def]
        calls.append({"args": dict(spec.args), "inputs": dict(spec.inputs)})
        return partial(measure, flops=None)(spec)

    spec = load_spec("gru_router_spectra")
    run_sweep(spec, make_axes(spec, {"router_dim": [32, 64, 128]}), measure_fn=counting)
    assert len(calls) == 3  # the base (router_dim 128) is also the baseline and the 128 variant
    spec = load_spec("rg_output_etth1")
    run_sweep(spec, make_axes(spec, {"rank": [128], "pred_len": [96, 720]}), measure_fn=counting)
    assert len(calls) == 3 + 4  # base (= baseline at 96), baseline at 720, two low-rank variants


def test_unknown_knob_key_is_a_user_error_before_any_build() -> None:
    res = runner.invoke(app, ["whatif", "rg_output_etth1", "--set", "nokey=1,2"])
    assert res.exit_code == 2 and res.stderr.strip().startswith("error: knob nokey: 'args.nokey' is not a config key of rg_output")
    res = runner.invoke(app, ["whatif", "rg_output_etth1", "--rank", "abc"])
    assert res.exit_code == 2 and res.stderr.strip() == "error: rank=abc: expected int, got 'abc'"
    res = runner.invoke(app, ["whatif", "rg_output_etth1", "--rank", "[1,2]"])
    assert res.exit_code == 2 and res.stderr.strip().startswith("error: --rank")


def test_whatif_on_a_user_model(user_config) -> None:  # type: ignore[no-untyped-def]
    doc = whatif_json(str(user_config), "--set", "d=8,16,32")
    by_d = {v["knobs"]["d"]: v for v in doc["variants"]}
    # TinyLM(vocab=100, d): emb 100d (head tied) + conv 3d^2+d + lstm 8d^2+8d + qkv 3d^2+3d = 14d^2 + 112d
    for d in (8, 16, 32):
        assert by_d[d]["params"] == 14 * d * d + 112 * d
    laws = {(s["path"], s["knob"]): s for s in doc["scaling"] if s["metric"] == "params"}
    assert laws[("", "d")]["law"] == "quadratic" and laws[("", "d")]["coefficients"] == [0, 112, 14]
    res = runner.invoke(app, ["whatif", str(user_config), "--set", "dd=8,16"])
    assert res.exit_code == 2 and "args.dd: unknown key for usermodel:make (did you mean 'd'?)" in res.stderr
