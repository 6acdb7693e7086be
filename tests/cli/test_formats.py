"""Every command x every format through Typer's runner: the output parses as its format, or the
format is refused with one ``error:`` line and exit 2 (never a Rich table in a csv file)."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paramscope.cli.app import app
from paramscope.profiler.render.formats import Format

runner = CliRunner()

STATEFUL = '''
import torch
import torch.nn as nn


class Stream(nn.Module):
    """One step of a streaming model: the new state is returned and fed back (not detached)."""

    def __init__(self, d: int = 8):
        super().__init__()
        self.cell = nn.Linear(2 * d, d)

    def forward(self, x, state=None):
        state = torch.zeros_like(x) if state is None else state
        new = torch.tanh(self.cell(torch.cat([x, state], dim=-1)))
        return new.sum(), new


def make(d: int = 8):
    return Stream(d)
'''

# command -> its arguments; {cfg} is the tiny user model of conftest, {stream} a stateful one
COMMANDS: dict[str, list[str]] = {
    "breakdown": ["breakdown", "{cfg}"],
    "whatif": ["whatif", "{cfg}", "--set", "d=16,32"],
    "diff": ["diff", "{cfg}", "{cfg2}"],
    "audit": ["audit", "{cfg}", "--backends", "torch"],
    "memory": ["memory", "{cfg}", "--dtype", "fp32,int8", "--modules", "2"],
    "check": ["check", "{cfg}", "-b", "params<=1M", "-b", "macs<=1G"],
    "groups": ["groups", "{cfg}", "--group", "embed=emb", "--group", "rest=conv,rnn,qkv"],
    "steps": ["steps", "{stream}", "--carry", "1=state", "--steps", "3"],
    "zoo list": ["zoo", "list"],
    "zoo show": ["zoo", "show", "rg_output"],
}
REFUSED = {("zoo show", Format.CSV)}  # three tables of different columns: no one csv form


@pytest.fixture(scope="module")
def configs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from conftest import USER_MODEL

    d = tmp_path_factory.mktemp("formats")
    (d / "usermodel.py").write_text(USER_MODEL, encoding="utf-8")
    (d / "stream.py").write_text(STATEFUL, encoding="utf-8")
    inputs = "inputs:\n  ids: {shape: [2, 8], dtype: int64, high: 100}\n"
    (d / "user.yaml").write_text(f'target: "usermodel:make"\nargs: {{vocab: 100, d: 16}}\n{inputs}', encoding="utf-8")
    (d / "user2.yaml").write_text(f'target: "usermodel:make"\nargs: {{vocab: 100, d: 32}}\n{inputs}', encoding="utf-8")
    (d / "stream.yaml").write_text('target: "stream:make"\ninputs:\n  x: {shape: [2, 8]}\n', encoding="utf-8")
    return {"cfg": str(d / "user.yaml"), "cfg2": str(d / "user2.yaml"), "stream": str(d / "stream.yaml")}


def md_tables(text: str) -> list[list[list[str]]]:
    """The markdown tables in ``text`` as rows of cells (``\\|`` is part of a cell)."""
    tables: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            current.append([c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
        elif current:
            tables.append(current)
            current = []
    return tables


def check_parses(fmt: Format, out: str) -> None:
    assert out.strip(), "no output"
    if fmt is Format.JSON:
        doc = json.loads(out)
        assert isinstance(doc, dict) and str(doc.get("schema", "")).startswith("paramscope.")
    elif fmt is Format.CSV:
        rows = list(csv.reader(io.StringIO(out)))
        assert len(rows) >= 2 and all(len(r) == len(rows[0]) for r in rows), rows
    elif fmt is Format.MD:
        tables = md_tables(out)
        assert tables, out
        for t in tables:
            assert len(t) >= 2 and set("".join(t[1])) <= set("-:"), t[:2]
            assert all(len(r) == len(t[0]) for r in t), t
        assert "┃" not in out and "│" not in out  # no box table slipped in


@pytest.mark.parametrize("fmt", list(Format), ids=lambda f: f.value)
@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_every_format(command: str, fmt: Format, configs: dict[str, str], tmp_path: Path) -> None:
    args = [a.format(**configs) for a in COMMANDS[command]]
    res = runner.invoke(app, [*args, "--format", fmt.value])
    if (command, fmt) in REFUSED:
        assert res.exit_code == 2
        assert res.stdout == "" and res.stderr.count("\n") == 1 and res.stderr.startswith("error: --format"), res.stderr
        return
    assert res.exit_code in (0, 1), res.output  # check and steps exit 1 on purpose (over budget, growing graph)
    check_parses(fmt, res.stdout)
    out = tmp_path / f"out.{fmt.value}"
    res = runner.invoke(app, [*args, "--format", fmt.value, "--output", str(out)])
    assert res.exit_code in (0, 1) and res.stdout == "", res.stdout  # everything goes to the file
    check_parses(fmt, out.read_text(encoding="utf-8"))
