"""Bytes moved per op and per module: hand-checked cases (each figure from a formula beside it)."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from typer.testing import CliRunner

from paramscope.cli.app import app
from paramscope.profiler.bytes import Fusion, count_bytes, reprice
from paramscope.profiler.flops import count_macs
from paramscope.profiler.memory import Precision

F32 = 4


def linear_bytes(n_in: int, n_out: int, rows: int, itemsize: int = F32) -> int:
    """addmm reads weight, bias and input once and writes the output once."""
    return itemsize * (n_in * n_out + n_out + rows * n_in + rows * n_out)


def test_linear_4096_batch1_moves_the_issue_figure() -> None:
    lin = nn.Linear(4096, 4096, device="meta")
    count = count_bytes(lin, (torch.empty(1, 4096, device="meta"),))
    # issue 14: 4 x (4096x4096 + 4096 + 4096 + 4096)
    assert count.total_bytes == 4 * (4096 * 4096 + 4096 + 4096 + 4096) == 67_158_016
    assert count.flops[""] == 2 * 4096 * 4096


def test_bf16_halves_the_bytes_run_in_bf16_or_repriced() -> None:
    lin = nn.Linear(4096, 4096, device="meta")
    fp32 = count_bytes(lin, (torch.empty(1, 4096, device="meta"),))
    bf16_run = count_bytes(lin.to(torch.bfloat16), (torch.empty(1, 4096, device="meta", dtype=torch.bfloat16),))
    assert bf16_run.total_bytes == fp32.total_bytes // 2 == 33_579_008
    assert reprice(fp32, Precision.BF16)[""] == bf16_run.total_bytes
    assert bf16_run.ops[0].precision is Precision.BF16


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 64), st.integers(1, 64), st.integers(1, 16))
def test_linear_bytes_formula(n_in: int, n_out: int, rows: int) -> None:
    lin = nn.Linear(n_in, n_out, device="meta")
    assert count_bytes(lin, (torch.empty(rows, n_in, device="meta"),)).total_bytes == linear_bytes(n_in, n_out, rows)


class Views(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(-1).unsqueeze(0).t()


class InPlace(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.clone()  # reads n, writes n
        return torch.relu_(y)  # writes y in place: n


class Broadcast(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.expand(16, 8) * 2.0  # the expanded input is 8 distinct elements; the output 128


def test_views_move_nothing_and_in_place_writes_once() -> None:
    x = torch.empty(4, 8, device="meta")
    assert count_bytes(Views(), (x,)).total_bytes == 0
    assert count_bytes(InPlace(), (x,)).total_bytes == F32 * 3 * 32
    assert count_bytes(Broadcast(), (torch.empty(8, device="meta"),)).total_bytes == F32 * (8 + 16 * 8)


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.up = nn.Linear(64, 64)
        self.act = nn.GELU()
        self.down = nn.Linear(64, 64)
        self.heads = nn.ModuleList([nn.Linear(64, 8), nn.Linear(64, 8)])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = self.down(self.act(self.up(x)))
        return [head(h) for head in self.heads]


def test_inclusive_per_module_and_uncalled_container_sums_children() -> None:
    count = count_bytes(MLP().to("meta"), (torch.empty(8, 64, device="meta"),))
    act = F32 * 2 * 8 * 64  # gelu reads and writes [8, 64]
    assert count.bytes["up"] == count.bytes["down"] == linear_bytes(64, 64, 8)
    assert count.bytes["act"] == act
    assert count.bytes["heads.0"] == linear_bytes(64, 8, 8)
    assert count.bytes["heads"] == 2 * linear_bytes(64, 8, 8)
    assert count.bytes[""] == 2 * linear_bytes(64, 64, 8) + act + 2 * linear_bytes(64, 8, 8)


def test_elementwise_fusion_drops_the_intermediate_round_trip() -> None:
    model, x = MLP().to("meta"), torch.empty(8, 64, device="meta")
    plain = count_bytes(model, (x,))
    fused = count_bytes(model, (x,), fusion=Fusion.ELEMENTWISE)
    h = F32 * 8 * 64
    # the up-projection's output is written once fewer and read by GELU for free
    assert fused.bytes["up"] == plain.bytes["up"] - h
    assert fused.bytes["act"] == plain.bytes["act"] - h
    assert fused.bytes[""] == plain.bytes[""] - 2 * h
    # a model output is always written
    assert fused.bytes["heads"] == plain.bytes["heads"]


def test_flops_are_the_mac_count_on_a_zoo_model() -> None:
    from paramscope.profiler.build import build
    from paramscope.profiler.spec import load_spec

    built = build(load_spec("rg_output_etth1"), "meta")
    count = count_bytes(built.model, built.args, built.kwargs)
    macs = count_macs(built.model, built.args, built.kwargs).macs
    assert {p: f // 2 for p, f in count.flops.items()} == dict(macs)


@pytest.mark.parametrize("steps", [1, 5])
def test_gru_reads_its_recurrent_weights_every_time_step(steps: int) -> None:
    i, h = 6, 10
    gru = nn.GRU(i, h, batch_first=True, bias=False, device="meta")
    count = count_bytes(gru, (torch.empty(1, steps, i, device="meta"),))
    # under dispatch nn.GRU unrolls: one addmm per step with W_ih and one with W_hh
    assert sum(op.weight_elems for op in count.ops) == steps * (3 * h * i + 3 * h * h)


def test_fused_cpu_lstm_kernel_reads_w_hh_per_step() -> None:
    i, h, steps = 6, 10, 7
    lstm = nn.LSTM(i, h, batch_first=True, bias=False)
    count = count_bytes(lstm, (torch.randn(1, steps, i),))
    kernels = [op for op in count.ops if "rnn" in op.op]
    if not kernels:
        pytest.skip("this torch build unrolls nn.LSTM on cpu; the unrolled case is tested on the GRU")
    assert sum(op.weight_elems for op in kernels) == (4 * h * i + steps * 4 * h * h)


def test_meta_and_cpu_agree() -> None:
    torch.manual_seed(0)
    model = MLP()
    cpu = count_bytes(model, (torch.randn(8, 64),))
    meta = count_bytes(model.to("meta"), (torch.empty(8, 64, device="meta"),))
    assert cpu.bytes == meta.bytes


def test_cli_bytes_json_and_table() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["breakdown", "rg_output_etth1", "--bytes", "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    rows = {m["path"]: m for m in doc["modules"]}
    assert doc["total"]["bytes"] > rows["slot_fuse"]["bytes"] > rows["slot_fuse.gate"]["bytes"] > 0
    assert rows["slot_fuse"]["intensity"] == pytest.approx(rows["slot_fuse"]["flops"] / rows["slot_fuse"]["bytes"])
    assert rows["output_hgate_bias"]["bytes"] is None
    table = runner.invoke(app, ["breakdown", "rg_output_etth1", "--bytes", "--depth", "1"])
    assert table.exit_code == 0 and "FLOP/B" in table.output and "bytes moved per forward" in table.output
    bad = runner.invoke(app, ["breakdown", "rg_output_etth1", "--bytes", "--fusion", "all"])
    assert bad.exit_code == 2 and bad.output.strip() == "error: Invalid value for '--fusion': 'all' is not one of 'none', 'elementwise'."


def test_an_embedding_lookup_reads_only_the_selected_rows() -> None:
    emb = nn.Embedding(50_000, 64, device="meta")
    ids = torch.zeros(1, 3, dtype=torch.int64, device="meta")
    # int64 ids (3 x 8 bytes), three fp32 rows read, three rows written
    assert count_bytes(emb, (ids,)).total_bytes == 3 * 8 + F32 * 3 * 64 + F32 * 3 * 64


class _Attention(nn.Module):
    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.scaled_dot_product_attention(q, k, v)


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_attention_is_one_fused_kernel_on_every_device(device: str) -> None:
    b, h, length, source, e = 2, 4, 128, 256, 32
    q = torch.zeros(b, h, length, e, device=device)
    kv = torch.zeros(b, h, source, e, device=device)
    ops = count_bytes(_Attention(), (q, kv, kv.clone())).ops
    assert [o.op for o in ops] == ["aten::scaled_dot_product_attention"]
    # q, k, v read once and the output written once: no b*h*L*S score matrix (1 MB here) in memory
    assert ops[0].bytes_at() == F32 * (2 * b * h * length * e + 2 * b * h * source * e)
    # the two products q k^T and p v, as the MAC count has them
    assert ops[0].flops == 2 * b * h * length * source * (e + e) == 2 * count_macs(_Attention(), (q, kv, kv)).macs[""]


def test_multihead_attention_calls_the_fused_kernel_on_meta() -> None:
    mha = nn.MultiheadAttention(64, 4, batch_first=True, device="meta")
    x = torch.empty(2, 10, 64, device="meta")
    ops = count_bytes(mha, (x, x, x), {"need_weights": False}).ops
    fused = [o for o in ops if o.op == "aten::scaled_dot_product_attention"]
    # one call over (2 batches x 4 heads) of 10 x 16: q, k, v in, the output out
    assert len(fused) == 1 and fused[0].bytes_at() == F32 * 4 * (2 * 4 * 10 * 16)
    assert sum(o.flops for o in ops) == 2 * count_macs(mha, (x, x, x), {"need_weights": False}).macs[""]
