"""Roofline time per module: hand-checked Linear cases on every accelerator, profiles, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from paramscope.cli.app import app
from paramscope.profiler.bytes import count_bytes
from paramscope.profiler.errors import ConfigError
from paramscope.profiler.hardware import builtin_hardware, load_hardware
from paramscope.profiler.memory import Precision
from paramscope.profiler.roofline import Bound, roofline

GPUS = [k for k in builtin_hardware() if k != "cpu"]


def _linear(rows: int, dtype: torch.dtype = torch.float32) -> tuple[nn.Module, torch.Tensor]:
    return nn.Linear(4096, 4096, device="meta", dtype=dtype), torch.empty(rows, 4096, device="meta", dtype=dtype)


def test_the_table_lists_the_issue_accelerators_with_sources() -> None:
    table = builtin_hardware()
    assert set(table) == {"h100-sxm", "h200", "a100-80gb", "l4", "rtx-4090", "mi300x", "cpu"}
    for key, hw in table.items():
        assert hw.source and hw.memory_bandwidth_gbs > 0
        # the cpu row is a calibration (fp32, bf16, fp16 matmuls); the GPU rows are datasheets
        assert {"fp32", "bf16", "fp16"} | (set() if key == "cpu" else {"int8"}) <= set(hw.peak_tflops)


@pytest.mark.parametrize("gpu", GPUS)
def test_linear_batch1_is_memory_bound_and_batch4096_compute_bound(gpu: str) -> None:
    hw = load_hardware(gpu)
    one = roofline(count_bytes(*_linear(1)[:1], (_linear(1)[1],)), hw)
    # 67,158,016 bytes at the datasheet bandwidth; 2*4096*4096 FLOPs take far less at the fp32 peak
    assert one.total.bound is Bound.MEMORY
    assert one.total.roofline_ms == pytest.approx(67_158_016 / hw.bandwidth * 1e3)
    model, x = _linear(4096)
    big = roofline(count_bytes(model, (x,)), hw)
    assert big.total.bound is Bound.COMPUTE
    assert big.total.roofline_ms == pytest.approx(2 * 4096**3 / hw.peak(Precision.FP32) * 1e3)


def test_bf16_halves_the_memory_time_at_batch1() -> None:
    hw = load_hardware("h100-sxm")
    model, x = _linear(1)
    fp32 = roofline(count_bytes(model, (x,)), hw)
    bf16 = roofline(count_bytes(model, (x,)), hw, Precision.BF16)
    assert bf16.total.bytes * 2 == fp32.total.bytes
    assert bf16.total.roofline_ms == pytest.approx(fp32.total.roofline_ms / 2)


def test_custom_profile_and_bad_ones(tmp_path: Path) -> None:
    good = tmp_path / "my.yaml"
    good.write_text("name: toy\nmemory_bandwidth_gbs: 1\npeak_tflops: {fp32: 0.001}\n")
    hw = load_hardware(str(good))
    assert (hw.key, hw.bandwidth, hw.peak(Precision.FP32)) == ("my", 1e9, 1e9)
    with pytest.raises(ConfigError, match="no peak for bf16"):
        hw.peak(Precision.BF16)
    bad = tmp_path / "bad.yaml"
    bad.write_text("memory_bandwidth_gbs: -3\npeak_tflops: {fp32: 1}\n")
    with pytest.raises(ConfigError, match=r"bad.memory_bandwidth_gbs: expected a positive number"):
        load_hardware(str(bad))
    with pytest.raises(ConfigError, match="did you mean 'h100-sxm'"):
        load_hardware("h100-sx")


def test_calibrated_cpu_profile_replaces_the_placeholder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from paramscope.profiler.hardware import Hardware, calibrated_path, save_hardware

    monkeypatch.setenv("PARAMSCOPE_HOME", str(tmp_path))
    assert load_hardware("cpu") == builtin_hardware()["cpu"]
    save_hardware(Hardware("cpu", "measured", "calibrate", 12.5, {"fp32": 0.2}), calibrated_path())
    assert load_hardware("cpu").memory_bandwidth_gbs == 12.5


def test_cli_gru_explains_why_it_is_memory_bound(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["breakdown", "gru_router_spectra", "--set", "router_dim=8", "--hardware", "h100-sxm"]
    table = runner.invoke(app, args)
    assert table.exit_code == 0, table.output
    why = [line for line in table.output.splitlines() if line.startswith("load_balancer: ")]
    # the GRU's W_hh (and, unrolled on meta, W_ih) are read at each of the 64 time steps
    assert len(why) == 1 and "memory-bound" in why[0] and "re-reads its weights 64x per forward" in why[0]
    doc = json.loads(runner.invoke(app, [*args, "--format", "json", "--plot", str(tmp_path / "r.png")]).stdout)
    rows = {m["path"]: m for m in doc["modules"]}
    assert rows["load_balancer"]["bound"] == doc["total"]["bound"] == "memory"
    assert doc["total"]["roofline_ms"] == pytest.approx(rows["load_balancer"]["roofline_ms"], rel=1e-3)
    assert doc["roofline"]["hardware"]["key"] == "h100-sxm"
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_errors_are_one_line() -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["breakdown", "rg_output_etth1", "--hardware", "tpu"])
    assert bad.exit_code == 2 and bad.output.startswith("error: unknown hardware 'tpu'")
    assert len(bad.output.strip().splitlines()) == 1
    bad = runner.invoke(app, ["breakdown", "rg_output_etth1", "--hardware", "l4", "--dtype", "fp8"])
    assert bad.exit_code == 2 and bad.output.startswith("error: --dtype fp8: expected one of fp32")
    bad = runner.invoke(app, ["breakdown", "rg_output_etth1", "--plot", "x.png"])
    assert bad.exit_code == 2 and "--plot needs --hardware" in bad.output


def test_calibrate_measures_positive_figures_and_saves_a_loadable_profile(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import functools

    import paramscope.profiler.calibrate as cal

    small = functools.partial(cal.calibrate, size=64, copy_mb=4)
    result = small(repeats=1)
    hw = result.hardware
    assert hw.memory_bandwidth_gbs > 0 and hw.op_overhead_us > 0
    assert set(hw.peak_tflops) == {"fp32", "bf16", "fp16"} and min(hw.peak_tflops.values()) > 0
    monkeypatch.setattr(cal, "calibrate", small)
    monkeypatch.setenv("PARAMSCOPE_HOME", str(tmp_path))
    out = CliRunner().invoke(app, ["calibrate", "--repeats", "1"])
    assert out.exit_code == 0, out.output
    assert "saved to" in out.output
    assert load_hardware("cpu").source.startswith("paramscope calibrate")
    bad = CliRunner().invoke(app, ["calibrate", "--clock", "cpu"])
    assert bad.exit_code == 2 and bad.output.strip() == "error: Invalid value for '--clock': 'cpu' is not one of 'wall', 'thread'."


def test_whatif_predicts_per_hardware_and_dtype_and_decode_is_memory_bound() -> None:
    runner = CliRunner()
    args = ["whatif", "selective_lm", "--set", "n_layers=1", "--hardware", "h100-sxm,l4", "--dtype", "bf16,fp32",
            "--seq-len", "1", "--format", "json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["schema"] == "paramscope.predict/1"
    rows = {(v["hardware"], v["dtype"]): v for v in doc["variants"]}
    assert set(rows) == {("h100-sxm", "bf16"), ("h100-sxm", "fp32"), ("l4", "bf16"), ("l4", "fp32")}
    # one token at batch 1 (decode): every matrix-vector product is memory-bound on every GPU
    assert {v["bound"] for v in rows.values()} == {"memory"}
    # floating tensors halve; token ids and positions (int64) keep their bytes
    assert 1.99 * rows[("h100-sxm", "bf16")]["bytes"] < rows[("h100-sxm", "fp32")]["bytes"] < 2 * rows[("h100-sxm", "bf16")]["bytes"]
    # memory-bound: time = bytes / bandwidth (+ the small compute-bound remainder), so L4/H100 ~ 3350/300
    ratio = rows[("l4", "bf16")]["roofline_ms"] / rows[("h100-sxm", "bf16")]["roofline_ms"]
    assert ratio == pytest.approx(3350 / 300, rel=0.05)
    table = runner.invoke(app, args[:-2])
    assert table.exit_code == 0 and "predicted forward time: selective_lm" in table.stdout


def test_whatif_hardware_errors() -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["whatif", "selective_lm", "--hardware", "l4", "--dtype", "fp64"])
    assert bad.exit_code == 2 and bad.output.startswith("error: --dtype fp64: expected one of fp32")
    bad = runner.invoke(app, ["whatif", "selective_lm", "--seq-len", "1", "--dtype", "bf16"])
    assert bad.exit_code == 2 and "--dtype and --fusion need --hardware" in bad.output
