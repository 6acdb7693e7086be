"""Conventions users expect from a command line: -h, --version, exit codes, options given once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paramscope import __version__
from paramscope.cli.app import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def one_error_line(res) -> str:
    assert res.exit_code == 2, res.output
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    return lines[0]


def test_short_help_and_version() -> None:
    assert run("-h").exit_code == 0 and "breakdown" in run("-h").stdout
    res = run("breakdown", "-h")
    assert res.exit_code == 0 and "--depth" in res.stdout
    res = run("--version")
    assert (res.exit_code, res.stdout) == (0, f"paramscope {__version__}\n")


@pytest.mark.parametrize("args", [
    ("breakdown", "rg_output_etth1", "--depth", "1", "--depth", "2"),
    ("breakdown", "rg_output_etth1", "--format", "json", "-f", "md"),
    ("whatif", "rg_output_etth1", "--flops", "none", "--flops=torch", "--set", "rank=1"),
])
def test_a_single_valued_option_given_twice_is_an_error(args: tuple[str, ...]) -> None:
    assert "given 2 times" in one_error_line(run(*args))


def test_list_options_accumulate() -> None:
    res = run("check", "rg_output_etth1", "-b", "params<=11M", "-b", "slot_fuse.params<=4M", "--format", "json")
    assert res.exit_code == 0 and len(json.loads(res.stdout)["budgets"]) == 2


def test_whatif_exits_1_when_every_variant_failed() -> None:
    # d_model must be divisible by the 8 heads: neither variant can be built (failed rows, then exit 1)
    res = run("whatif", "rg_output_etth1", "--set", "d_model=500,501", "--flops", "none", "--format", "json")
    assert res.exit_code == 1, res.output
    assert {v["status"] for v in json.loads(res.stdout)["variants"]} == {"failed"}
    assert run("whatif", "rg_output_etth1", "--set", "d_model=500,512", "--flops", "none").exit_code == 0


def test_audit_exits_1_when_every_backend_failed(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text(
        "import torch.nn as nn\n\nclass Broken(nn.Linear):\n    def forward(self, x):\n"
        "        raise RuntimeError('no forward today')\n\ndef make():\n    return Broken(4, 4)\n", encoding="utf-8")
    cfg = tmp_path / "broken.yaml"
    cfg.write_text('target: "broken:make"\ninputs:\n  x: {shape: [1, 4]}\n', encoding="utf-8")
    res = run("audit", str(cfg), "--backends", "torch,thop", "--format", "json")
    assert res.exit_code == 1, res.output
    assert set(json.loads(res.stdout)["errors"]) == {"torch", "thop"}


def test_dtype_takes_torch_names_beside_the_short_ones() -> None:
    short = json.loads(run("memory", "selective_lm", "--dtype", "fp32,bf16", "-f", "json").stdout)
    long = json.loads(run("memory", "selective_lm", "--dtype", "float32,torch.bfloat16", "-f", "json").stdout)
    assert [p["dtype"] for p in long["plans"]] == ["fp32", "bf16"]
    assert [p["peak_bytes"] for p in long["plans"]] == [p["peak_bytes"] for p in short["plans"]]
    res = run("breakdown", "selective_lm", "--bytes", "--dtype", "bfloat16", "-f", "json")
    assert res.exit_code == 0 and json.loads(res.stdout)["total"]["bytes"] > 0
    assert "expected one of fp32" in one_error_line(run("memory", "selective_lm", "--dtype", "float33"))
