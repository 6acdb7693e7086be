"""``memory`` on a data-dependent model: transformers' Mixtral (issue 8's config) on meta, against cpu.

The step runs under the same meta execution as ``breakdown``: the default experts implementation
(``torch._grouped_mm``, whose meta kernel accepts only bf16) and the eager one (``nonzero`` on the
routing) both run on meta, inference and training. On cpu the comparison run replays the meta
run's routing (``replay=True``: the router's top-k takes the same seeded stand-ins), so every
storage has the same size on both sides and the tracker's figures must be equal, kind by kind.

Tolerance against the c10 allocator (memory_real.py): 0.1%. The real peak is higher by a few KB
that are no tensor of the step: the cpu RNG state ``torch.random.fork_rng`` saves so that the
user's generator is left as found (a 5,056-byte tensor), and small allocations of the profiler
session itself; on these ~15-130 MB peaks that is below 0.04%.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from datadep_models import mixtral
from memory_real import real_peak, within

from paramscope.profiler.assumptions import params_on_meta
from paramscope.profiler.memory import MemoryReport, Optimizer, Precision, plan_memory

pytest.importorskip("transformers")

TOKENS = 64
IMPLS = [None, "eager"]


def _meta(impl: str | None, dtype: Precision, train: Optimizer | None) -> tuple[MemoryReport, torch.nn.Module]:
    with params_on_meta():
        model = mixtral(impl)
    ids = torch.zeros(1, TOKENS, dtype=torch.long, device="meta")
    return plan_memory(model, (), {"input_ids": ids}, dtype=dtype, train=train), model


@pytest.mark.parametrize("impl", IMPLS, ids=["grouped_mm", "eager"])
@pytest.mark.parametrize("train", [None, Optimizer.ADAM], ids=["inference", "adam"])
def test_mixtral_runs_on_meta_with_its_assumptions_listed(impl: str | None, train: Optimizer | None) -> None:
    report, model = _meta(impl, Precision.FP32, train)
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())  # rotary inv_freq, kept real on cpu
    assert report.live_at_peak.weights_bytes == 4 * params + buffers
    assert report.peak_module.startswith("model.layers.") and report.peak_module.endswith("mlp.experts")
    if train is not None:  # Adam: two fp32 moments per element, a 4-byte step per tensor
        assert report.live_at_peak.optimizer_bytes == 8 * params + 4 * len(list(model.parameters()))
    if impl == "eager":  # the routing feeds nonzero: assumed, once per layer and step, stated
        (a,) = report.assumptions
        assert a.op == "aten::topk" and a.where == "model.layers.*.mlp.gate"
        assert a.count == 2 * (report.steps if train is not None else 1) and "seed 0" in a.assumed
    else:  # grouped_mm sizes every buffer by tokens x top_k whatever the routing: nothing to assume
        assert report.assumptions == ()


def test_mixtral_bf16_grouped_mm_halves_the_weights() -> None:
    fp32, _ = _meta(None, Precision.FP32, Optimizer.ADAM)
    bf16, _ = _meta(None, Precision.BF16, Optimizer.ADAM)
    assert 2 * bf16.live_at_peak.weights_bytes == fp32.live_at_peak.weights_bytes  # buffers (inv_freq) too
    assert bf16.peak_phase == fp32.peak_phase == "optimizer"


def _cpu(impl: str | None, dtype: Precision, train: Optimizer | None) -> tuple[MemoryReport, int]:
    torch.manual_seed(0)
    model = mixtral(impl)
    ids = torch.randint(0, 1000, (1, TOKENS))
    real, report = real_peak(lambda: plan_memory(model, (), {"input_ids": ids}, dtype=dtype, train=train,
                                                 device="cpu", replay=True), ((), {"input_ids": ids}))
    return report, real


@pytest.mark.parametrize(("impl", "dtype", "train"), [
    ("eager", Precision.FP32, None),
    ("eager", Precision.FP32, Optimizer.ADAM),
    pytest.param(None, Precision.FP32, None, marks=pytest.mark.slow),
    pytest.param(None, Precision.FP32, Optimizer.ADAM, marks=pytest.mark.slow),
    pytest.param(None, Precision.BF16, Optimizer.ADAM, marks=pytest.mark.slow),
    pytest.param("eager", Precision.BF16, Optimizer.ADAM, marks=pytest.mark.slow),
], ids=["eager-inference", "eager-adam", "grouped_mm-inference", "grouped_mm-adam", "grouped_mm-bf16-adam",
        "eager-bf16-adam"])
def test_mixtral_meta_equals_a_cpu_run_with_the_same_routing(impl: str | None, dtype: Precision,
                                                             train: Optimizer | None) -> None:
    meta, _ = _meta(impl, dtype, train)
    cpu, real = _cpu(impl, dtype, train)
    key: Any = lambda r: (r.peak_bytes, r.peak_phase, r.peak_module, r.peak_step, r.live_at_peak)  # noqa: E731
    assert key(meta) == key(cpu)
    drawn: Any = lambda r: [(a.op, a.where, a.line, a.assumed, a.count) for a in r.assumptions]  # noqa: E731
    assert drawn(meta) == drawn(cpu)  # the same draws (which ops read them may differ: cpu indexes for real)
    assert within(meta.peak_bytes, real, 0.1) and meta.peak_bytes <= real, (meta.peak_bytes, real)
