"""``--elementwise``: output elements of element-wise ops, per module (inclusive) and in total."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from typer.testing import CliRunner

from paramscope.cli.app import app
from paramscope.profiler.errors import ConfigError
from paramscope.profiler.flops import backend_for, count_macs


class Head(nn.Module):
    """Linear -> GELU -> LayerNorm, a residual add, then softmax (functional, booked to the root)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(16, 32)
        self.act = nn.GELU()
        self.norm = nn.LayerNorm(32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.act(self.lin(x)))
        return torch.softmax(h + h, dim=-1)


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.ff = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
        self.norm = nn.LayerNorm(8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.norm(self.ff(x)))


class Stack(nn.Module):
    """A ModuleList that never runs its own forward."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([Block(), Block()])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for b in self.blocks:
            x = b(x)
        return x


class ConvNet(nn.Module):
    """No attention, no fused RNN kernel: meta and cpu must agree exactly."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.act = nn.ReLU(inplace=True)
        self.gn = nn.GroupNorm(2, 4)
        self.gru = nn.GRU(4, 5, batch_first=True)
        self.ln = nn.LayerNorm(5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.gn(self.act(self.bn(self.conv(x))))  # (1, 4, 6, 6)
        # contiguous: on cpu, nn.GRU projects a non-contiguous input as matmul + a separate bias
        # add (36 x 15 = 540 more elements than meta, where the bias stays inside addmm)
        seq = h.flatten(2).transpose(1, 2).contiguous()  # (1, 36, 4)
        out, _ = self.gru(seq)
        return F.log_softmax(self.ln(out), dim=-1)


class Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.q = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.q(x).view(2, 8, 2, 8).transpose(1, 2)
        return F.scaled_dot_product_attention(q, q, q)


def _count(model: nn.Module, x: torch.Tensor, **kw):
    with torch.no_grad():
        return count_macs(model.eval(), (x,), **kw)


def test_head_counts_every_output_element_once_per_op() -> None:
    model, x = Head(), torch.randn(4, 16)
    plain = _count(model, x)
    result = _count(model, x, elementwise=True)
    assert plain.elementwise is None
    # the Linear's output is 4 x 32 = 128 elements; gelu, layer_norm, the add and softmax each
    # produce 128 (the bias add is inside addmm: matmul work, not counted here)
    assert result.elementwise == {"": 128 * 4, "lin": 0, "act": 128, "norm": 128}  # root 512
    # MACs are unchanged: 4 x 16 x 32 = 2048
    assert result.macs == plain.macs
    assert result.total_macs == 4 * 16 * 32


def test_inclusive_attribution_and_uncalled_container() -> None:
    result = _count(Stack(), torch.randn(2, 8), elementwise=True)
    # per block, on 2 x 8 = 16 elements: relu 16 + layer_norm 16 + sigmoid 16 = 48
    assert result.elementwise == {
        "": 96, "blocks": 96,  # the ModuleList never runs: the sum of its children, 48 + 48
        "blocks.0": 48, "blocks.0.ff": 16, "blocks.0.ff.0": 0, "blocks.0.ff.1": 16, "blocks.0.norm": 16,
        "blocks.1": 48, "blocks.1.ff": 16, "blocks.1.ff.0": 0, "blocks.1.ff.1": 16, "blocks.1.norm": 16,
    }


def test_forward_only_with_backward() -> None:
    model, x = Head(), torch.randn(4, 16, requires_grad=True)
    result = count_macs(model, (x,), backward=True, elementwise=True)
    assert result.backward_macs is not None
    assert result.elementwise is not None and result.elementwise[""] == 512  # backward ops not added


def test_meta_equals_cpu_without_attention() -> None:
    torch.manual_seed(0)
    counts = {dev: _count(ConvNet().to(dev), torch.randn(1, 3, 8, 8, device=dev), elementwise=True)
              for dev in ("meta", "cpu")}
    meta, cpu = counts["meta"].elementwise, counts["cpu"].elementwise
    assert meta == cpu
    assert meta is not None
    # conv out 1x4x6x6 = 144: batch_norm 144 + relu_ 144 + group_norm 144; layer_norm and
    # log_softmax on the GRU's 1x36x5 = 180 output: 180 + 180
    assert (meta["bn"], meta["act"], meta["gn"], meta["ln"]) == (144, 144, 144, 180)
    assert meta[""] == 144 * 3 + 1800 + 180 * 2  # 2592; .contiguous() (a clone) is not counted
    # GRU on cpu is not a fused kernel: its gate ops are visible. Per step, on 5 hidden units:
    # add, 3 x add_, 2 x mul_, 2 x sigmoid_, sub, tanh_ = 10 ops x 5 = 50; 36 steps -> 1800
    assert meta["gru"] == 36 * 50
    assert not [n for n in counts["cpu"].notes if "fused" in n]


def test_fused_attention_is_disclosed_on_cpu() -> None:
    meta = _count(Attention().to("meta"), torch.randn(2, 8, 16, device="meta"), elementwise=True)
    cpu = _count(Attention(), torch.randn(2, 8, 16), elementwise=True)
    assert meta.elementwise is not None and cpu.elementwise is not None
    # on meta SDPA decomposes (scaling muls, softmax over 2x2x8x8 = 256 scores); on cpu it is one kernel
    assert cpu.elementwise[""] == 0 < meta.elementwise[""]
    assert any("fused kernels (aten::_scaled_dot_product_flash_attention_for_cpu)" in n for n in cpu.notes)
    assert not any("fused" in n for n in meta.notes)


@pytest.mark.parametrize("name", ["thop", "fvcore"])
def test_other_backends_refuse(name: str) -> None:
    with pytest.raises(ConfigError, match=f"^elementwise: needs the torch backend \\(not {name}\\)"):
        count_macs(Head(), (torch.randn(4, 16),), {}, name, elementwise=True)
    # the adapters themselves measure no element-wise counts: None, never a silent 0
    assert backend_for(name).count(Head(), (torch.randn(4, 16),), {}, elementwise=True).elementwise is None


# --- CLI


@pytest.fixture()
def head_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "ew_head_model.py").write_text(
        "import torch\nfrom torch import nn\n\n\n"
        "class Head(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.lin = nn.Linear(16, 32)\n"
        "        self.act = nn.GELU()\n"
        "        self.norm = nn.LayerNorm(32)\n\n"
        "    def forward(self, x):\n"
        "        h = self.norm(self.act(self.lin(x)))\n"
        "        return torch.softmax(h + h, dim=-1)\n",
        encoding="utf-8",
    )
    cfg = tmp_path / "head.yaml"
    cfg.write_text('target: "ew_head_model:Head"\ninputs: {x: [4, 16]}\n', encoding="utf-8")
    return str(cfg)


def _run(*args: str):
    return CliRunner().invoke(app, ["breakdown", *args], env={"COLUMNS": "150"})


def test_cli_column_and_json_only_with_flag(head_config: str) -> None:
    plain = _run(head_config)
    flagged = _run(head_config, "--elementwise")
    assert plain.exit_code == 0 and flagged.exit_code == 0, plain.output + flagged.output
    assert "Elementwise" not in plain.stdout and "elementwise:" not in plain.stdout
    assert "Elementwise" in flagged.stdout
    assert "elementwise: 512 (512) output elements" in flagged.stdout

    doc = json.loads(_run(head_config, "--format", "json").stdout)
    assert "elementwise" not in doc["total"] and all("elementwise" not in m for m in doc["modules"])
    doc = json.loads(_run(head_config, "--format", "json", "--elementwise").stdout)
    assert doc["total"]["elementwise"] == 512 and doc["total"]["macs"] == 2048  # 4 x 16 x 32
    assert {m["path"]: m["elementwise"] for m in doc["modules"]} == {"lin": 0, "act": 128, "norm": 128}


@pytest.mark.parametrize("flops", ["thop", "none"])
def test_cli_needs_torch_backend(head_config: str, flops: str) -> None:
    res = _run(head_config, "--elementwise", "--flops", flops)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert [line for line in res.stderr.splitlines() if line.strip()] == ["error: --elementwise needs --flops torch"]
