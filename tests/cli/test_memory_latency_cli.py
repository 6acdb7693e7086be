"""`paramscope memory` and `breakdown --latency` through Typer's runner."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from paramscope.cli.app import app

runner = CliRunner()
GRU_PARAMS = 830_472_192  # 3 * (512*16384 + 16384*16384)


def memory_json(*args: str) -> dict:
    res = runner.invoke(app, ["memory", *args, "--format", "json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_gru_router_inference_weights_by_precision() -> None:
    plans = {p["dtype"]: p for p in memory_json("gru_router_spectra", "--dtype", "fp32,bf16,int8,int4")["plans"]}
    assert plans["fp32"]["live_at_peak"]["weights_bytes"] == 3_321_888_768  # 4 bytes each
    assert plans["bf16"]["live_at_peak"]["weights_bytes"] == 2 * GRU_PARAMS
    assert plans["int8"]["live_at_peak"]["weights_bytes"] == GRU_PARAMS
    assert plans["int4"]["live_at_peak"]["weights_bytes"] == GRU_PARAMS // 2
    assert all(p["peak_phase"] == "forward" and p["train"] is None for p in plans.values())


def test_train_adam_json_reports_the_peak_and_what_is_live() -> None:
    (plan,) = memory_json("gru_router_spectra", "--dtype", "fp32", "--train", "adam")["plans"]
    live = plan["live_at_peak"]
    assert set(live) == {"weights_bytes", "grads_bytes", "optimizer_bytes", "activation_bytes",
                         "temporary_bytes", "input_bytes"}
    assert plan["peak_bytes"] == sum(live.values())
    assert live["grads_bytes"] == 4 * GRU_PARAMS and plan["peak_phase"] == "optimizer"
    assert live["optimizer_bytes"] == 2 * 4 * GRU_PARAMS + 4 * 2  # exp_avg, exp_avg_sq; two step scalars
    assert plan["steps"] == 2 and plan["allocator"] == "cpu" and plan["measured_on"] == "meta"


@pytest.mark.parametrize(("preset", "router"), [("gru_router_spectra", "load_balancer"), ("rg_output_etth1", "slot_fuse")])
def test_mixed_plan_router_fp32_rest_int8(preset: str, router: str) -> None:
    doc = memory_json(preset, "--dtype", "int8", "--keep", f"fp32:{router}")
    mods = {m["path"]: m for m in doc["plans"][0]["modules"]}
    assert mods[router]["precision"] == "fp32"
    plain = memory_json(preset, "--dtype", "int8")["plans"][0]["live_at_peak"]["weights_bytes"]
    mixed = doc["plans"][0]["live_at_peak"]["weights_bytes"]
    assert mixed > plain  # the kept submodule costs 4 bytes per parameter instead of 1
    res = runner.invoke(app, ["memory", preset, "--dtype", "int8", "--keep", f"fp32:{router}"])
    assert res.exit_code == 0 and f"keep fp32: {router}" in res.stdout


def test_table_says_when_and_timeline_is_a_png(tmp_path) -> None:  # type: ignore[no-untyped-def]
    png = tmp_path / "t.png"
    res = runner.invoke(app, ["memory", "rg_output_etth1", "--dtype", "fp32", "--train", "adam", "--modules", "3",
                              "--timeline", str(png)])
    assert res.exit_code == 0, res.output
    assert "step 1 optimizer, in slot_fuse.score_mlp.0" in res.stdout.replace("\n", " ") or "optimizer" in res.stdout
    assert "Live at the peak per module" in res.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_memory_errors_are_one_line() -> None:
    res = runner.invoke(app, ["memory", "gru_router_spectra", "--dtype", "fp8"])
    assert res.exit_code == 2 and res.stderr.strip() == "error: --dtype fp8: expected one of fp32, bf16, fp16, int8, int4"
    res = runner.invoke(app, ["memory", "gru_router_spectra", "--keep", "fp32:load_balancr"])
    assert res.exit_code == 2 and "load_balancr" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    res = runner.invoke(app, ["memory", "gru_router_spectra", "--allocator", "tpu"])
    assert res.exit_code == 2 and res.stderr.strip() == "error: --allocator tpu: expected one of cpu, cuda"
    res = runner.invoke(app, ["memory", "gru_router_spectra", "--amp", "int8"])
    assert res.exit_code == 2 and res.stderr.strip() == "error: --amp int8: expected bf16 or fp16"


def test_latency_on_meta_is_a_user_error() -> None:
    res = runner.invoke(app, ["breakdown", "rg_output_etth1", "--latency"])
    assert res.exit_code == 2
    assert res.stderr.strip() == "error: --latency needs real tensors: pass --device cpu or --device cuda"


@pytest.mark.parametrize("preset", ["titan_stream", "rg_output_etth1"])
def test_latency_self_times_add_up(preset: str) -> None:
    # thread clock: robust against other processes on a shared 2-core CI machine
    res = runner.invoke(app, ["breakdown", preset, "--device", "cpu", "--latency", "--clock", "thread",
                              "--repeats", "5", "--warmup", "2", "--format", "json", "--flops", "none"])
    assert res.exit_code == 0, res.output
    lat = json.loads(res.stdout)["latency"]
    assert lat["rows"] and all(r["inclusive_ms"]["median_ms"] >= 0 for r in lat["rows"])
    assert abs(lat["self_sum_vs_total_pct"]) <= 15.0
    assert "hook_overhead_ms" in lat


def test_check_memory_budgets() -> None:
    # rg_output_etth1: fp32 Adam step peak 191,114,704 B (the 191.1 MB), inference far below
    res = runner.invoke(app, ["check", "rg_output_etth1", "-b", "peak<=16GB", "-b", "train.peak<=190MB"])
    assert res.exit_code == 1, res.output
    assert "ok   peak<=16GB" in res.stdout and "FAIL train.peak<=190MB: 191,114,704" in res.stdout
    res = runner.invoke(app, ["check", "rg_output_etth1", "-b", "train.peak<=0.2GiB"])
    assert res.exit_code == 0, res.output  # 0.2 * 2**30 = 214,748,365
    res = runner.invoke(app, ["check", "rg_output_etth1", "-b", "encoder.peak<=1GB"])
    assert res.exit_code == 2 and "train.peak<=AMOUNT" in res.stderr
