"""measure_latency: device checks, per-module times that add up, state restored; renderers."""

from __future__ import annotations

import dataclasses
import io
import json

import pytest
import torch
from rich.console import Console
from torch import nn

from paramscope.profiler.errors import ConfigError, ForwardFailed, ParamscopeError
from paramscope.profiler.latency import Clock, LatencyReport, LatencyRow, Timing, measure_latency
from paramscope.profiler.memory import Allocator, LiveBytes, MemoryReport, MemoryRow, Optimizer, Precision
from paramscope.profiler.render.latency import latency_markdown, latency_table, latency_to_dict, spread_warning
from paramscope.profiler.render.memory import (
    memory_markdown,
    memory_modules_table,
    memory_table,
    memory_to_dict,
)


class Block(nn.Module):
    """Pre-norm transformer block."""

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ln1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]  # (B, T, C)
        return x + self.mlp(self.ln2(x))


class TinyTransformer(nn.Module):
    def __init__(self, d: int = 128, heads: int = 4, layers: int = 3) -> None:
        super().__init__()
        self.embed = nn.Linear(16, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.head = nn.Linear(d, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x)
        for block in self.blocks:
            x = block(x)
        return self.head(x.mean(dim=1))  # functional code in the root: counted as the root's self time


def _hooks_left(model: nn.Module) -> bool:
    return any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


# --- device checks ------------------------------------------------------------------------------


def test_meta_is_refused_with_the_fix() -> None:
    with torch.device("meta"):
        model, x = nn.Linear(4, 4), torch.randn(1, 4)
    msg = r"^latency needs real tensors: build the model on device cpu or cuda$"
    with pytest.raises(ParamscopeError, match=msg):
        measure_latency(model, (x,), device="meta")
    with pytest.raises(ParamscopeError, match=msg):  # a meta model is refused whatever the device
        measure_latency(model, (x,), device="cpu")


def test_bad_repeats_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="repeats"):
        measure_latency(nn.Linear(2, 2), (torch.randn(1, 2),), device="cpu", repeats=0)


def test_forward_failure_names_the_module() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(5, 2))
    with pytest.raises(ForwardFailed, match=r"forward failed in '1'"):
        measure_latency(model, (torch.randn(1, 4),), device="cpu", repeats=1, warmup=1)
    assert not _hooks_left(model)


# --- measurement --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def transformer_report() -> tuple[TinyTransformer, LatencyReport]:
    torch.manual_seed(0)
    model = TinyTransformer().train()
    x = torch.randn(4, 64, 16)  # a forward of a few ms on one thread
    # the thread clock (CPU time of one thread) is not disturbed by other processes on a busy machine
    return model, measure_latency(model, (x,), device="cpu", repeats=40, warmup=5, clock=Clock.THREAD)


def test_self_times_add_up_to_whole_model(transformer_report: tuple[TinyTransformer, LatencyReport]) -> None:
    _, r = transformer_report
    assert (r.clock, r.threads) == (Clock.THREAD, 1)
    assert abs(r.self_sum_vs_total_pct) <= 15
    assert abs(r.self_sum_vs_unhooked_pct) <= 15
    assert r.self_sum_diff_ms == pytest.approx(r.self_sum_ms - r.hooked_total_ms.median_ms)
    assert r.hook_overhead_ms == pytest.approx(r.hooked_total_ms.median_ms - r.total_ms.median_ms)


def test_rows_cover_the_call_tree(transformer_report: tuple[TinyTransformer, LatencyReport]) -> None:
    model, r = transformer_report
    paths = [row.path for row in r.rows]
    assert paths[0] == "" and "blocks.2.mlp.0" in paths and "blocks" not in paths  # ModuleList is never called
    for row in r.rows:
        assert row.calls == 1
        assert row.inclusive_ms.p10_ms <= row.inclusive_ms.median_ms <= row.inclusive_ms.p90_ms
        assert row.self_ms.median_ms <= row.inclusive_ms.median_ms + 1e-9
        assert row.self_ms.median_ms >= 0
    assert model.training and all(m.training for m in model.modules())  # train mode restored
    assert not _hooks_left(model)
    assert torch.get_num_threads() >= 1


def test_thread_clock_is_cpu_only_and_single_threaded() -> None:
    with pytest.raises(ConfigError, match="threads=2"):
        measure_latency(nn.Linear(2, 2), (torch.randn(1, 2),), device="cpu", clock=Clock.THREAD, threads=2)


def test_wall_clock_restores_threads() -> None:
    before = torch.get_num_threads()
    r = measure_latency(nn.Linear(2, 2), (torch.randn(1, 2),), device="cpu", repeats=2, threads=1)
    assert (r.clock, r.threads, torch.get_num_threads()) == (Clock.WALL, 1, before)


def test_shared_module_calls_are_counted() -> None:
    shared = nn.Linear(8, 8)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    r = measure_latency(model, (torch.randn(2, 8),), device="cpu", repeats=3, warmup=1)
    rows = {row.path: row for row in r.rows}
    assert rows["0"].calls == 2 and rows["1"].calls == 1 and "2" not in rows


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device; torch sees none")
def test_cuda_times_with_events() -> None:
    model = TinyTransformer().cuda()
    r = measure_latency(model, (torch.randn(4, 64, 16, device="cuda"),), device="cuda", repeats=10)
    assert r.device.startswith("cuda") and r.total_ms.median_ms > 0
    assert abs(r.self_sum_vs_total_pct) <= 15  # a GPU box is assumed quiet


# --- renderers, on hand-built reports -----------------------------------------------------------


def _render(renderable: object) -> str:
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


def _words(text: str) -> str:
    """The rendered text with table borders dropped and whitespace collapsed (captions wrap)."""
    return " ".join(w for w in text.split() if w.strip("│┃┏┓┗┛┡┩└┘━─┳┻╇┴┬"))


def _latency_report() -> LatencyReport:
    rows = (LatencyRow("", "Net", 1, Timing(10.0, 9.0, 12.0), Timing(1.0, 0.5, 1.5)),
            LatencyRow("fc", "Linear", 2, Timing(8.5, 8.0, 9.0), Timing(8.5, 8.0, 9.0)))
    return LatencyReport("cpu", 20, 3, Timing(9.8, 9.5, 11.0), Timing(10.2, 9.6, 12.0), 0.4, rows,
                         9.5, -0.7, -6.862745098039216, -3.061224489795918, Clock.WALL, 2)


def _memory_reports() -> tuple[MemoryReport, ...]:
    """Two hand-made reports: the GRU router's fp32 inference and its int8 QAT Adam step."""
    rows32 = (MemoryRow(input_bytes=64, path="", type="Net", precision=Precision.FP32),
              MemoryRow(weights_bytes=3_321_888_768, path="load_balancer", type="GRU", precision=Precision.FP32))
    rows8 = (MemoryRow(input_bytes=16, path="", type="Net", precision=Precision.INT8),
             MemoryRow(weights_bytes=3_321_888_768, grads_bytes=3_321_888_768, optimizer_bytes=6_643_777_536,
                       path="load_balancer", type="GRU", precision=Precision.INT8))
    out = []
    for dtype, train, rows, phase in ((Precision.FP32, None, rows32, "forward"),
                                      (Precision.INT8, Optimizer.ADAM, rows8, "optimizer")):
        live = LiveBytes(**{f.name: sum(getattr(r, f.name) for r in rows) for f in dataclasses.fields(LiveBytes)})
        out.append(MemoryReport(dtype, train, (), None, 2, (), Allocator.CPU, "meta", live.total_bytes, phase,
                                "load_balancer", 1, live, rows, ()))
    return tuple(out)


def test_latency_table_shows_overhead_and_check() -> None:
    text = _words(_render(latency_table(_latency_report())))
    assert "<root>" in text and "fc" in text and "8.500" in text
    assert "hook overhead +0.400 ms" in text
    assert "-0.700 ms (-6.9%)" in text and "wall clock, 2 thread(s)" in text
    md = latency_markdown(_latency_report())
    assert md.startswith("| module | type |") and "| fc | Linear | 2 | 8.500 |" in md


def test_a_wide_spread_is_said_with_what_to_do() -> None:
    calm = _latency_report()  # p10-p90 9.5-11.0 around 9.8: 15% of the median, nothing said
    assert spread_warning(calm) is None and "warning" not in latency_markdown(calm)
    busy = dataclasses.replace(calm, total_ms=Timing(10.0, 6.0, 12.0))  # 6 ms spread = 60% of 10 ms
    assert spread_warning(busy) == ("warning: p10-p90 spread is 60% of the median: the machine is busy or the "
                                    "times are too short; try --clock thread or more --repeats")
    assert "try --clock thread" in latency_markdown(busy)
    thread = dataclasses.replace(busy, clock=Clock.THREAD)
    assert str(spread_warning(thread)).endswith("try more --repeats")


def test_latency_to_dict_is_json() -> None:
    d = json.loads(json.dumps(latency_to_dict(_latency_report())))
    assert d["total_ms"] == {"median_ms": 9.8, "p10_ms": 9.5, "p90_ms": 11.0}
    assert d["rows"][1]["self_ms"]["median_ms"] == 8.5


def test_memory_tables_show_bytes_and_units() -> None:
    reports = _memory_reports()
    text = _words(_render(memory_table(reports)))
    assert "3,321,888,832" in text and "3.3 GB" in text and "13,287,555,088" in text and "13.3 GB" in text
    assert "int8 +" in text and "adam" in text and "step 1 optimizer" in text and "in load_balancer" in text
    per_module = _render(memory_modules_table(reports[1]))
    assert "load_balancer" in per_module and "GRU" in per_module and "6.6 GB" in per_module
    md = memory_markdown(reports)
    assert md.splitlines()[0].startswith("| plan | peak | when | weights |") and "| fp32 | 3,321,888,832 (3.3 GB)" in md


def test_memory_to_dict_has_exact_ints() -> None:
    d = json.loads(json.dumps(memory_to_dict(_memory_reports()[1])))
    assert d["live_at_peak"]["weights_bytes"] == 3_321_888_768
    assert d["peak_bytes"] == 4 * 3_321_888_768 + 16  # weights + grads + 2 moments + inputs
    assert d["train"] == "adam" and d["modules"][1]["precision"] == "int8"
    assert (d["peak_phase"], d["peak_module"]) == ("optimizer", "load_balancer")
