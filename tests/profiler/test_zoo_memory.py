"""The simulated step of every zoo family gives the same peak and kinds on meta and on cpu."""

from __future__ import annotations

import pytest
from test_zoo_flops import FAMILY_CASES

from paramscope.cli.parse import parse_sets
from paramscope.profiler import build, load_spec
from paramscope.profiler.memory import MemoryReport, Optimizer, Precision, plan_memory


def _plan(name: str, device: str) -> MemoryReport:
    sets = [*FAMILY_CASES[name], "inputs.seq_len=8"] if name == "gru_router_spectra" else FAMILY_CASES[name]
    built = build(load_spec(name, parse_sets(sets)), device)
    return plan_memory(built.model, built.args, built.kwargs, dtype=Precision.FP32, train=Optimizer.ADAM,
                       device=device)


@pytest.mark.parametrize("name", list(FAMILY_CASES))
def test_simulated_peak_meta_equals_cpu(name: str) -> None:
    meta, cpu = _plan(name, "meta"), _plan(name, "cpu")
    assert meta.peak_bytes > meta.live_at_peak.weights_bytes > 0
    assert meta.live_at_peak == cpu.live_at_peak
    assert (meta.peak_phase, meta.peak_module) == (cpu.peak_phase, cpu.peak_module)
