"""``breakdown --columns``: shapes per layer, layer details, dtype and mode, in every format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paramscope.cli.app import app

runner = CliRunner()

NET = '''
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.head = nn.Linear(8, 4)
        self.unused = nn.Linear(4, 4)

    def forward(self, x):
        y = self.conv(x).mean((2, 3))
        return self.head(y) + self.head(y)
'''


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "colnet.py").write_text(NET, encoding="utf-8")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("target: colnet:Net\ninputs: {x: [2, 3, 16, 16]}\n", encoding="utf-8")
    return cfg


def run(*args: str, columns: str = "80"):
    res = runner.invoke(app, list(args), env={"COLUMNS": columns})
    assert res.exit_code == 0, res.output
    return res.stdout


def test_shape_and_layer_columns_in_the_table(config: Path) -> None:
    out = run("breakdown", str(config), "--columns", "params,macs,shape,kernel", columns="160")
    row = next(line for line in out.splitlines() if line.startswith("│ conv "))
    # output side: (16 + 2*1 - 3) // 2 + 1 = 8
    assert "[2, 3, 16, 16]" in row and "[2, 8, 8, 8]" in row and "3->8 k=3x3 s=2x2 p=1x1" in row
    head = next(line for line in out.splitlines() if line.startswith("│ head "))
    assert "[2, 8]" in head and "[2, 4] (x2 calls)" in head and "8->4" in head
    assert "not called" in next(line for line in out.splitlines() if line.startswith("│ unused "))
    assert "Type" not in out and "% params" not in out  # only the columns asked for


def test_plus_adds_to_the_default_and_json_carries_shapes(config: Path) -> None:
    out = run("breakdown", str(config), "--columns", "+mode,dtype", columns="160")
    assert "Type" in out and "% params" in out and "Mode" in out and "float32" in out and "eval" in out
    doc = json.loads(run("breakdown", str(config), "--columns", "shape", "-f", "json"))
    conv = next(m for m in doc["modules"] if m["path"] == "conv")
    assert conv["input_shapes"] == [[2, 3, 16, 16]] and conv["output_shapes"] == [[2, 8, 8, 8]]
    assert conv["layer"] == "3->8 k=3x3 s=2x2 p=1x1" and conv["dtype"] == "float32" and conv["training"] is False
    md = run("breakdown", str(config), "--columns", "params,shape", "-f", "md")
    assert "| `conv` | 224 | [2, 3, 16, 16] | [2, 8, 8, 8] |" in md


def test_default_json_has_no_shape_keys(config: Path) -> None:
    doc = json.loads(run("breakdown", str(config), "-f", "json"))
    assert all("input_shapes" not in m for m in doc["modules"])


def test_shape_columns_at_80_columns_keep_every_figure() -> None:
    out = run("breakdown", "rg_output_etth1", "--columns", "+shape,kernel", columns="80")
    for figure in ("10,371,074", "3,150,338", "496,891,136", "132,210,176"):
        assert figure in out, figure


def test_unknown_column_is_one_line(config: Path) -> None:
    res = runner.invoke(app, ["breakdown", str(config), "--columns", "params,sahpe"])
    assert res.exit_code == 2
    assert res.output.strip() == "error: --columns params,sahpe: unknown column 'sahpe'; did you mean 'shape'?"
