"""Where MACs are booked: a forward called directly, a functional call at the root, a module never run."""

from __future__ import annotations

import io

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from rich.console import Console

from paramscope.profiler import profile_model
from paramscope.profiler.flops import count_macs, not_called
from paramscope.profiler.render.table import breakdown_table, profile_to_dict, select_rows


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(8, 16)
        self.out = nn.Linear(16, 4)

    def forward(self, x):
        return self.out(self.lin.forward(x))  # no hooks fire for lin


class Model(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = Block()
        self.proj = nn.Linear(8, 8, bias=False)
        self.unused = nn.Linear(8, 8)

    def forward(self, x):  # x: (4, 8)
        return self.block(x) + F.linear(x, self.proj.weight).sum()  # proj's weight, used at the root


# block.lin: 4*8*16 = 512; block.out: 4*16*4 = 256; F.linear at the root: 4*8*8 = 256
@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_macs_are_booked_where_they_happened(device):
    with torch.device(device):
        model, x = Model(), torch.randn(4, 8)
    result = count_macs(model, (x,))
    assert result.macs["block.lin"] == 512 and result.calls["block.lin"] == 0
    assert result.macs["block"] == 512 + 256 and result.macs["block.out"] == 256
    assert result.macs["proj"] == 0 and result.macs[""] == 512 + 256 + 256  # the functional use stays at the root
    assert any("'block.lin' ran as block.lin.forward(...)" in n for n in result.notes)
    assert not_called(result) == {"proj", "unused"}


def test_a_module_never_run_is_not_a_measured_zero():
    with torch.device("meta"):
        model, x = Model(), torch.randn(4, 8)
    profile = profile_model(model, (x,), flops=count_macs(model, (x,)))
    doc = {m["path"]: m for m in profile_to_dict(profile)["modules"]}
    assert doc["unused"]["calls"] == 0 and doc["unused"]["macs"] is None and doc["unused"]["flops"] is None
    assert doc["block.lin"]["macs"] == 512
    console = Console(file=io.StringIO(), width=140, color_system=None)
    console.print(breakdown_table(profile, select_rows(profile, depth=None)))
    lines = {line.split("│")[1].strip(): line for line in console.file.getvalue().splitlines() if line.count("│") > 3}
    assert "not called" in lines["unused"] and "not called" in lines["proj"]
    assert "not called" not in lines["block.lin"]


def test_the_audit_says_where_a_direct_forward_went():
    from paramscope.profiler.audit import audit

    with torch.device("meta"):
        model, x = Model(), torch.randn(4, 8)
    row = {r.path: r for r in audit(model, (x,), backends=("torch", "thop")).rows}["block.lin"]
    assert row.macs == {"torch": 512, "thop": 0}
    assert row.explanation == ("'block.lin' ran as block.lin.forward(...) without hooks: torch books its MACs to it, "
                               "the others to its caller")
