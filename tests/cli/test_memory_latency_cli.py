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


def test_gru_router_weights_by_precision() -> None:
    plans = {p["dtype"]: p["totals"] for p in memory_json("gru_router_spectra", "--dtype", "fp32,bf16,int8,int4")["plans"]}
    assert plans["fp32"]["weights_bytes"] == 3_321_888_768  # 4 bytes each
    assert plans["bf16"]["weights_bytes"] == 2 * GRU_PARAMS
    assert plans["int8"]["weights_bytes"] == GRU_PARAMS
    assert plans["int4"]["weights_bytes"] == GRU_PARAMS // 2


def test_train_adam_adds_gradients_and_two_moments() -> None:
    (plan,) = memory_json("gru_router_spectra", "--dtype", "fp32", "--train", "adam")["plans"]
    t = plan["totals"]
    assert t["grads_bytes"] == 4 * GRU_PARAMS
    assert t["optimizer_bytes"] == 2 * 4 * GRU_PARAMS  # exp_avg and exp_avg_sq in fp32
    assert t["activation_bytes"] > 0


@pytest.mark.parametrize(("preset", "router"), [("gru_router_spectra", "load_balancer"), ("rg_output_etth1", "slot_fuse")])
def test_mixed_plan_router_fp32_rest_int8(preset: str, router: str) -> None:
    doc = memory_json(preset, "--dtype", "int8", "--keep", f"fp32:{router}")
    mods = {m["path"]: m for m in doc["plans"][0]["modules"]}
    assert mods[router]["precision"] == "fp32"
    plain = memory_json(preset, "--dtype", "int8")["plans"][0]["totals"]["weights_bytes"]
    mixed = doc["plans"][0]["totals"]["weights_bytes"]
    assert mixed > plain  # the kept submodule costs 4 bytes per parameter instead of 1
    res = runner.invoke(app, ["memory", preset, "--dtype", "int8", "--keep", f"fp32:{router}"])
    assert res.exit_code == 0 and f"keep fp32: {router}" in res.stdout


def test_memory_errors_are_one_line() -> None:
    res = runner.invoke(app, ["memory", "gru_router_spectra", "--dtype", "fp8"])
    assert res.exit_code == 2 and res.stderr.strip() == "error: --dtype fp8: expected one of fp32, bf16, fp16, int8, int4"
    res = runner.invoke(app, ["memory", "gru_router_spectra", "--keep", "fp32:load_balancr"])
    assert res.exit_code == 2 and "load_balancr" in res.stderr and len(res.stderr.strip().splitlines()) == 1


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
