"""Sweeps and CI conventions through Typer's runner: budgets' comparisons, diff/whatif exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from conftest import one_error_line

from paramscope.cli.app import app

runner = CliRunner()

LINEAR = "import torch.nn as nn\n\ndef make(width=8):\n    return nn.Linear(width, 4)\n"


def run(*args: str):
    return runner.invoke(app, list(args))


_error = one_error_line


def _linear(tmp_path: Path, monkeypatch, width: int = 8, name: str = "c.yaml") -> str:
    (tmp_path / "sweeps_lin.py").write_text(LINEAR)
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = tmp_path / name
    cfg.write_text(f'target: "sweeps_lin:make"\nargs: {{width: {width}}}\ninputs: {{x: [2, {width}]}}\n')
    return str(cfg)


def test_check_accepts_every_comparison(tmp_path: Path, monkeypatch) -> None:
    cfg = _linear(tmp_path, monkeypatch)  # Linear(8, 4): 8*4 + 4 = 36 params; 2*8*4 = 64 MACs
    res = run("check", cfg, "-b", "params>=36", "-b", "params<37", "-b", "macs>63", "-b", "macs<=64")
    assert res.exit_code == 0, res.output
    assert "ok   params>=36: 36 (limit >= 36)" in res.stdout
    for text in ("params>36", "params<36", "macs>=65", "macs<64"):
        failed = run("check", cfg, "-b", text)
        assert failed.exit_code == 1, text
        assert failed.stdout.startswith(f"FAIL {text}:")
    doc = json.loads(run("check", cfg, "-b", "params>36", "--format", "json").stdout)
    assert (doc["ok"], doc["budgets"][0]["value"]) == (False, 36)


def test_check_latency_needs_cpu_and_unknown_submodules_get_a_hint(tmp_path: Path, monkeypatch) -> None:
    cfg = _linear(tmp_path, monkeypatch)
    res = run("check", cfg, "-b", "latency_ms<10000", "--device", "cpu", "--format", "json")
    assert res.exit_code == 0, res.output
    (b,) = json.loads(res.stdout)["budgets"]
    assert b["metric"] == "latency_ms" and 0 < b["value"] < 10_000
    assert _error(run("check", cfg, "-b", "latency_ms<10")) == (
        "error: --budget latency_ms: needs a real device, e.g. --device cpu")
    assert _error(run("check", "rg_output_etth1", "-b", "slot_fuse.score_mpl.params<=1M")) == (
        "error: --budget slot_fuse.score_mpl.params<=1M: no submodule 'slot_fuse.score_mpl'; "
        "did you mean 'slot_fuse.score_mlp'?")
    assert _error(run("check", cfg, "-b", "params=36")).startswith("error: --budget params=36: expected METRIC<=AMOUNT")


def test_diff_exits_1_when_models_differ_0_when_same(tmp_path: Path, monkeypatch) -> None:
    a = _linear(tmp_path, monkeypatch, 8, "a.yaml")
    same = _linear(tmp_path, monkeypatch, 8, "same.yaml")
    assert run("diff", a, same).exit_code == 0
    wide = _linear(tmp_path, monkeypatch, 16, "wide.yaml")
    assert run("diff", a, wide).exit_code == 1


def test_diff_module_lists_every_changed_submodule_with_both_values(tmp_path: Path) -> None:
    other = tmp_path / "lowrank.yaml"
    other.write_text("model: rg_output\nargs:\n  slot_fuse: {score_mode: lowrank, rank: 192}\n")
    res = run("diff", "rg_output_etth1", str(other), "--module", "slot_fuse", "--format", "json")
    assert res.exit_code == 1, res.output
    changed = {d["path"]: d for d in json.loads(res.stdout)["module"]["changed"]}
    assert all(p == "slot_fuse" or p.startswith("slot_fuse.") for p in changed)
    # the full-rank 1536x2048 score matrix becomes rank-192 factors: 1536*2048 - 3584*192 fewer params
    assert changed["slot_fuse"]["baseline_params"] - changed["slot_fuse"]["params"] == 1536 * 2048 - 3584 * 192
    assert any(p.count(".") >= 2 for p in changed)  # deeper than the depth-2 summary
    table = run("diff", "rg_output_etth1", str(other), "--module", "slot_fuse")
    deep = next(p for p in changed if p.count(".") >= 2)
    assert deep in table.stdout and "base params" in table.stdout  # the deep rows join the table
    assert _error(run("diff", "rg_output_etth1", str(other), "--module", "slot_fuze")).startswith(
        "error: --module slot_fuze: no such submodule in either model; did you mean 'slot_fuse'?")


def test_whatif_exits_1_when_every_variant_failed() -> None:
    # d_model must divide by the 8 heads: 500 and 501 cannot be built
    res = run("whatif", "rg_output_etth1", "--set", "d_model=500,501")
    assert res.exit_code == 1, res.output
    assert res.stdout.count("failed") >= 2
    assert run("whatif", "rg_output_etth1", "--set", "d_model=500,512").exit_code == 0


def test_laws_at_the_base_design_per_unit_with_macs_beside_params() -> None:
    from conftest import RG_OUTPUT_NOTE

    res = run("whatif", "rg_output_etth1", "--rank", "128,192,256", "--pred-len", "96,336,720", "--format", "json")
    assert res.exit_code == 0, res.output
    laws = {(s["path"], s["knob"], s["metric"]): s for s in json.loads(res.stdout)["scaling"]}
    # a workload law is the base design's own: the full-rank slot_fuse of the note, whatever rank was swept
    fuse = laws[("slot_fuse", "pred_len", "params")]
    assert (fuse["law"], fuse["coefficients"], fuse["base_design"], fuse["fixed"]) == (
        "constant", [RG_OUTPUT_NOTE["slot_fuse"]], True, {})
    # a design law holds the workload at the base value: low-rank factors 1536*r + r*2048 per unit of rank
    rank = laws[("slot_fuse.score_mlp", "rank", "params")]
    assert (rank["law"], rank["coefficients"][1], rank["fixed"]) == ("linear", 1536 + 2048, {"pred_len": 96})
    # MACs laws beside: projector = Linear(512, pred_len) on 7 channel rows: 7*512 MACs and 513 params per unit
    assert laws[("projector", "pred_len", "macs")]["coefficients"] == [0, 7 * 512]
    assert laws[("projector", "pred_len", "params")]["coefficients"] == [0, 513]
    text = run("whatif", "rg_output_etth1", "--rank", "128,192,256", "--pred-len", "96,336,720").stdout
    assert f"slot_fuse: independent of pred_len ({RG_OUTPUT_NOTE['slot_fuse']:,} at the base design)" in text
    assert "slot_fuse.score_mlp: linear in rank, +3,584 per unit of rank (+ 4,097) at pred_len=96" in text
    assert "projector MACs: linear in pred_len, +3,584 per unit of pred_len (+ 0) at the base design" in text
    assert "per step" not in text


NESTED = """import torch.nn as nn

class Wrap(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.layers = inner
    def forward(self, x):
        return self.layers(x)

def make():
    # encoder -> encoder.layers -> encoder.layers.0 carry one figure; head is separate
    return nn.Sequential(Wrap(nn.Sequential(nn.Linear(8, 8))), nn.Linear(8, 2))
"""


def test_top_lists_distinct_contributors_flat(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "sweeps_nested.py").write_text(NESTED)
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = tmp_path / "n.yaml"
    cfg.write_text('target: "sweeps_nested:make"\ninputs: {x: [3, 8]}\n')
    for sort in ("params", "macs"):
        res = run("breakdown", str(cfg), "--top", "5", "--sort", sort, "--depth", "3", "--format", "csv")
        assert res.exit_code == 0, res.output
        rows = [line.split(",") for line in res.stdout.splitlines()[1:-1]]
        # Linear(8, 8): 72 params, 3*8*8 = 192 MACs, once (not under 0, 0.layers and 0.layers.0); Linear(8, 2): 18, 48
        assert [(r[0], int(r[3]), int(r[7])) for r in rows] == [("0.layers.0", 72, 192), ("1", 18, 48)]
    table = run("breakdown", str(cfg), "--top", "5", "--depth", "3").stdout
    assert "\n│ 0.layers.0 " in table.replace("┃", "│")  # flat: no tree indentation in a ranking


def _seq_linear(tmp_path: Path, monkeypatch) -> str:
    (tmp_path / "sweeps_seqlin.py").write_text("import torch.nn as nn\n\ndef make(out=4):\n    return nn.Linear(7, out)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = tmp_path / "s.yaml"
    cfg.write_text('target: "sweeps_seqlin:make"\nargs: {out: 4}\ninputs: {x: {shape: [1, 96, 7], dtype: float32}}\n')
    return str(cfg)


def test_dim_sweeps_an_input_axis_of_a_target_model_at_the_same_workload(tmp_path: Path, monkeypatch) -> None:
    cfg = _seq_linear(tmp_path, monkeypatch)
    res = run("whatif", cfg, "--dim", "x.1=96,336,720", "--set", "out=4,8", "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    for v in doc["variants"]:
        out, length = v["knobs"]["out"], v["knobs"]["x.1"]
        # Linear(7, out) on length rows: 7*out + out params, length*7*out MACs; the base (out=4) at the same length
        assert (v["params"], v["macs"]) == (8 * out, length * 7 * out)
        assert (v["baseline_params"], v["baseline_macs"]) == (32, length * 7 * 4)
    laws = {(s["path"], s["knob"], s["metric"]): s for s in doc["scaling"]}
    assert laws[("", "x.1", "macs")]["coefficients"] == [0, 7 * 4]  # MACs linear in the axis, base design
    assert laws[("", "x.1", "params")]["law"] == "constant"
    assert (doc["axes"][1]["kind"], doc["axes"][1]["key"]) == ("workload", "inputs.x.shape.1")
    assert _error(run("whatif", cfg, "--dim", "y.1=3")) == "error: --dim y.1: no input 'y'; known: x"
    assert _error(run("whatif", cfg, "--dim", "x.3=3")) == "error: --dim x.3: input x has 3 axes (0..2)"
    assert _error(run("whatif", cfg, "--dim", "x=3")).startswith("error: --dim x=3: expected INPUT.AXIS=V1,V2")


def test_batch_size_of_a_target_model_is_axis_0_of_its_inputs(tmp_path: Path, monkeypatch) -> None:
    cfg = _seq_linear(tmp_path, monkeypatch)
    res = run("whatif", cfg, "--batch-size", "1,8", "--format", "json")
    assert res.exit_code == 0, res.output
    rows = {v["knobs"]["batch_size"]: v for v in json.loads(res.stdout)["variants"]}
    assert all(v["status"] == "ok" for v in rows.values())
    assert {b: (v["macs"], v["baseline_macs"]) for b, v in rows.items()} == {
        b: (b * 96 * 7 * 4, b * 96 * 7 * 4) for b in (1, 8)}  # batch x length x in x out, both sides


def test_plot_lines_params_and_macs_baseline_per_workload_module_at_24_variants(tmp_path: Path, monkeypatch) -> None:
    from functools import partial

    from paramscope.profiler.pipeline import measure
    from paramscope.profiler.render.sweep_plot import plot_lines, sweep_plot
    from paramscope.profiler.spec import load_spec
    from paramscope.profiler.sweep import make_axes, run_sweep, shape_axis

    (tmp_path / "sweeps_plot.py").write_text(
        "import torch.nn as nn\n\ndef make(out=4):\n    return nn.Sequential(nn.Linear(7, out), nn.Tanh())\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = tmp_path / "p.yaml"
    cfg.write_text('target: "sweeps_plot:make"\nargs: {out: 4}\ninputs: {x: {shape: [1, 96, 7]}}\n')
    spec = load_spec(str(cfg))
    outs, lengths = [4, 8, 16, 32, 64, 128], [96, 336, 720, 1440]
    axes = make_axes(spec, {"out": outs}) + (shape_axis(spec, "x", 1, lengths),)
    sweep = run_sweep(spec, axes, measure_fn=partial(measure, device="meta", flops="torch"))
    assert len(sweep.variants) == 24
    x, lines = plot_lines(sweep, module="0")
    assert x.label == "out"  # a line by the design knob with the most values
    by = {(ln.metric, ln.role, ln.label): ln.ys for ln in lines}
    for n in lengths:
        # Linear(7, out) on n rows: 8*out params, 7*n*out MACs; the base (out=4) at the same length
        assert by[("params", "variant", f"x.1={n}")] == tuple(8.0 * o for o in outs)
        assert by[("macs", "variant", f"x.1={n}")] == tuple(7.0 * n * o for o in outs)
        assert by[("macs", "baseline", f"base (x.1={n})")] == tuple(7.0 * n * 4 for _ in outs)
        assert by[("macs", "module", f"0 (x.1={n})")] == by[("macs", "variant", f"x.1={n}")]  # the Linear is all of it
    assert sum(1 for ln in lines if ln.role == "baseline") == 2 * len(lengths)  # one per workload value, per metric
    png = sweep_plot(sweep, module="0")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    res = run("whatif", str(cfg), "--set", "out=4,8,16", "--dim", "x.1=96,336", "--module", "0",
              "--plot", str(tmp_path / "w.png"))
    assert res.exit_code == 0, res.output
    assert (tmp_path / "w.png").read_bytes().startswith(b"\x89PNG")
