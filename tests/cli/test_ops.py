"""``breakdown --ops PATH``: a module's MACs by aten op add up to its MACs, with the op formulas."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from paramscope.cli.app import app

runner = CliRunner()


def test_ops_add_up_to_the_module_macs_on_every_top_module() -> None:
    res = runner.invoke(app, ["breakdown", "rg_output_etth1", "-f", "json"])
    doc = json.loads(res.stdout)
    for m in [m for m in doc["modules"] if m["depth"] == 1 and m["macs"]] + [{"path": "", "macs": doc["total"]["macs"]}]:
        res = runner.invoke(app, ["breakdown", "rg_output_etth1", "-f", "json", "--ops", m["path"]])
        assert res.exit_code == 0, res.output
        ops = json.loads(res.stdout)["ops"]
        assert ops["path"] == m["path"] and sum(ops["macs"].values()) == m["macs"], m["path"]


def test_ops_name_the_aten_op_and_its_formula(tmp_path) -> None:
    (tmp_path / "opsnet.py").write_text(
        "from torch import nn\n"
        "def make():\n"
        "    return nn.Sequential(nn.Conv1d(4, 8, 3), nn.Flatten(), nn.Linear(8 * 30, 5))\n", encoding="utf-8")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("target: opsnet:make\ninputs: {x: [2, 4, 32]}\n", encoding="utf-8")
    res = runner.invoke(app, ["breakdown", str(cfg), "-f", "json", "--ops", ""])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["ops"]["macs"] == {
        "aten.convolution": 2 * 30 * 8 * 4 * 3,  # batch x output length x out ch x (in ch x kernel)
        "aten.addmm": 2 * 240 * 5,
    }
    md = runner.invoke(app, ["breakdown", str(cfg), "-f", "md", "--ops", "0"]).stdout
    assert "| `aten.convolution` | 5,760 | 100.0% |" in md


def test_ops_errors_are_one_line() -> None:
    for args, needle in [
        (["--ops", "slot_atn"], "--ops slot_atn: no such submodule; did you mean 'slot_attn'?"),
        (["--ops", "slot_attn", "--flops", "thop"], "--ops needs --flops torch"),
        (["--ops", "slot_attn", "-f", "csv"], "--ops has no csv form"),
    ]:
        res = runner.invoke(app, ["breakdown", "rg_output_etth1", *args])
        assert res.exit_code == 2, res.output
        assert res.output.strip().splitlines() == [f"error: {needle}"] or needle in res.output.strip(), res.output
        assert len(res.output.strip().splitlines()) == 1
