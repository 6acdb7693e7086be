"""Tables at 80 columns never cut a figure; piped output is not padded; COLUMNS is honoured;
names with ``|``, newlines or escape codes cannot break a table."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from typer.testing import CliRunner

from conftest import RG_OUTPUT_NOTE

from paramscope.cli.app import app

runner = CliRunner()


def run(*args: str, columns: str | None = "80") -> str:
    res = runner.invoke(app, list(args), env={"COLUMNS": columns} if columns is not None else {})
    assert res.exit_code in (0, 1), res.output
    return res.stdout


def assert_uncut(out: str, figures: list[int]) -> None:
    assert "…" not in out, out  # rich's ellipsis: something was cut
    for n in figures:
        assert re.search(rf"(?<![\d,]){re.escape(f'{n:,}')}(?![\d,])", out), (f"{n:,}", out)


def test_breakdown_at_80_columns_keeps_every_figure() -> None:
    out = run("breakdown", "rg_output_etth1")
    shown = list(csv.DictReader(io.StringIO(run("breakdown", "rg_output_etth1", "--format", "csv"))))  # the same rows
    assert_uncut(out, [int(r[k]) for r in shown for k in ("params", "macs") if r[k]])
    assert_uncut(out, [RG_OUTPUT_NOTE[""], RG_OUTPUT_NOTE["slot_fuse.score_mlp"]])  # the note's 10,371,074 ...
    assert max(len(line) for line in out.splitlines()) <= 80


def test_whatif_and_diff_at_80_columns() -> None:
    sweep = ("whatif", "rg_output_etth1", "--rank", "192,384", "--pred-len", "96,720", "--flops", "none")
    out = run(*sweep)
    doc = json.loads(run(*sweep, "--format", "json"))
    figures = [v[k] for v in doc["variants"] for k in ("params", "delta_params")]
    assert_uncut(out, [abs(n) for n in figures] + [doc["baseline"]["params"]])
    assert max(len(line) for line in out.splitlines()) <= 80
    pair = ("diff", "rg_output_etth1", "titan_stream", "--flops", "none")
    doc = json.loads(run(*pair, "--format", "json"))
    assert_uncut(run(*pair), [doc["base"]["params"], doc["other"]["params"],
                              *(abs(n) for c in doc["changed"] for n in (c["params"], c["baseline_params"], c["delta_params"]))])


def test_memory_at_80_columns_keeps_every_byte_count() -> None:
    out = run("memory", "gru_router_spectra", "--dtype", "fp32,int8", "--train", "adam")
    plans = json.loads(run("memory", "gru_router_spectra", "--dtype", "fp32,int8", "--train", "adam", "-f", "json"))
    from rich.filesize import decimal

    assert_uncut(out, [p["peak_bytes"] for p in plans["plans"]])  # the peak: exact and in decimal units
    for p in plans["plans"]:  # what is live at it: decimal units (exact bytes in json)
        assert all(decimal(n) in out for n in p["live_at_peak"].values() if n), out


@pytest.mark.parametrize("args", [
    ("audit", "rg_output_etth1", "--backends", "torch,thop"),
    ("groups", "rg_output_etth1", "--group", "fuse=slot_fuse", "--group", "enc=enc_embedding,encoder"),
    ("steps", "titan_stream", "--steps", "3"),
    ("check", "rg_output_etth1", "-b", "params<=11M", "-b", "slot_fuse.params<=2M"),
    ("zoo", "list"),
    ("zoo", "show", "gru_router"),
])
def test_other_tables_at_80_columns_cut_nothing(args: tuple[str, ...]) -> None:
    out = run(*args)
    doc = json.loads(run(*args, "--format", "json"))
    figures = [int(n) for n in re.findall(r'"[a-z_]*(?:macs|elements|nodes|value|limit)": (\d{4,})', json.dumps(doc))]
    assert_uncut(out, figures[:200])


def test_piped_output_is_not_padded_and_columns_is_honoured() -> None:
    wide = run("breakdown", "rg_output_etth1", columns=None)  # no terminal, no COLUMNS: natural width
    assert not any(line.endswith(" ") for line in wide.splitlines())
    assert "FLOPs" in wide and max(len(line) for line in wide.splitlines()) < 140
    narrow = run("breakdown", "rg_output_etth1", columns="100")
    assert max(len(line) for line in narrow.splitlines()) <= 100


ODD = '''
import torch.nn as nn


def make():
    m = nn.Sequential()
    m.add_module("a|b", nn.Linear(4, 4))
    m.add_module("two\\nlines", nn.Linear(4, 2))
    m.add_module("esc\\x1b[31mred", nn.Linear(2, 2))
    return m
'''


def test_odd_module_names_are_escaped(tmp_path) -> None:
    (tmp_path / "odd.py").write_text(ODD, encoding="utf-8")
    cfg = tmp_path / "odd.yaml"
    cfg.write_text('target: "odd:make"\ninputs:\n  x: {shape: [1, 4]}\n', encoding="utf-8")
    md = run("breakdown", str(cfg), "--format", "md")
    rows = [line for line in md.splitlines() if line.startswith("|")]
    assert all(len(re.split(r"(?<!\\)\|", r)) == len(re.split(r"(?<!\\)\|", rows[0])) for r in rows)
    assert "`a\\|b`" in md and "`two\\nlines`" in md and "\x1b" not in md
    table = run("breakdown", str(cfg))
    assert "two\\nlines" in table and "esc\\x1b[31mred" in table and "\x1b" not in table
