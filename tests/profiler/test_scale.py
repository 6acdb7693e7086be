"""Row order and counts stay right on a model with 10,000 submodules (issue 13)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import torch
import torch.nn as nn

from paramscope.profiler import profile_model


class Block(nn.Module):
    """Five modules: the block, a Linear, a LayerNorm, a Sequential and its ReLU; one direct parameter."""

    def __init__(self, frozen: bool) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 2, bias=not frozen)
        self.norm = nn.LayerNorm(2)
        self.act = nn.Sequential(nn.ReLU())
        self.gate = nn.Parameter(torch.ones(2), requires_grad=not frozen)
        self.lin.requires_grad_(not frozen)


def _expected(mod: nn.Module, path: str) -> Iterator[tuple[str, int, int, bool]]:
    """(path, params, trainable, is_param) in pre-order, written without paramscope: a container's
    own parameters follow its subtree."""
    yield path, sum(p.numel() for p in mod.parameters()), sum(p.numel() for p in mod.parameters() if p.requires_grad), False
    children = list(mod.named_children())
    for name, child in children:
        yield from _expected(child, f"{path}.{name}" if path else name)
    if children:
        for name, p in mod.named_parameters(recurse=False):
            yield f"{path}.{name}" if path else name, p.numel(), p.numel() if p.requires_grad else 0, True


def test_ten_thousand_modules_rows_in_order_with_right_counts() -> None:
    model = nn.Sequential(*(Block(frozen=i % 3 == 0) for i in range(2000)))  # cpu: tiny, and faster to build than meta
    model.register_parameter("head_bias", nn.Parameter(torch.zeros(7)))
    assert len(list(model.named_modules())) == 10_001
    prof = profile_model(model)
    got = [(m.path, m.params, m.trainable, m.is_param) for m in prof.modules]
    assert got == list(_expected(model, ""))
    # 2000 blocks x (Linear 3*2 [+2 bias when trainable] + LayerNorm 2+2 + gate 2) + head_bias 7;
    # 667 blocks (i % 3 == 0) have no Linear bias
    assert prof.total.params == 2000 * (6 + 4 + 2) + (2000 - 667) * 2 + 7
    assert prof.total.trainable == (2000 - 667) * (6 + 2 + 4 + 2) + 667 * 4 + 7
    assert all(prof.get(m.path) is m for m in prof.modules)


def test_params_only_breakdown_makes_no_example_inputs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``--flops none`` runs no forward, so a target model needs no inputs at all."""
    from typer.testing import CliRunner

    from paramscope.cli.app import app
    from paramscope.profiler.build import build
    from paramscope.profiler.spec import load_spec

    (tmp_path / "tiny.py").write_text("import torch\ndef make():\n    return torch.nn.Linear(3, 2)\n")
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text('target: "tiny:make"\n')
    runner = CliRunner()
    res = runner.invoke(app, ["breakdown", str(cfg), "--flops", "none", "--format", "json"])
    assert res.exit_code == 0, res.output
    assert res.stdout and '"params": 8' in res.stdout  # 3*2 weights + 2 biases
    assert "inputs: missing" in runner.invoke(app, ["breakdown", str(cfg)]).output
    built = build(load_spec("rg_output_etth1"), "meta", inputs=False)
    assert built.args == () and built.kwargs == {}


def test_whatif_jobs_2_writes_the_jobs_1_document() -> None:
    """Worker processes change nothing: same variants, same failed rows, same order (the grid's)."""
    from typer.testing import CliRunner

    from paramscope.cli.app import app

    # 2 ranks x 2 d_models (500 is not divisible by 8 heads: failed rows) x 2 horizons (workload:
    # one baseline each) = 8 variants, 11 configurations
    args = ["whatif", "rg_output_etth1", "--rank", "64,128", "--set", "d_model=512,500", "--pred-len", "96,192",
            "--format", "json"]
    runner = CliRunner()
    one, two = (runner.invoke(app, [*args, "--jobs", jobs]) for jobs in ("1", "2"))
    assert one.exit_code == 0 and two.exit_code == 0, (one.output, two.output)
    assert one.stdout == two.stdout
    variants = json.loads(one.stdout)["variants"]
    # grid order: the knob flags (rank, pred_len) in signature order, then each --set
    assert [(v["knobs"]["rank"], v["knobs"]["pred_len"], v["knobs"]["d_model"]) for v in variants] == [
        (r, p, d) for r in (64, 128) for p in (96, 192) for d in (512, 500)]
    assert [v["status"] for v in variants].count("failed") == 4
