"""Roofline time per module on a hardware profile, from the ops' FLOPs and bytes.

Per op: ``time = max(FLOPs / peak FLOP/s at the op's precision, bytes / memory bandwidth)``, plus
the profile's fixed per-op overhead (0 for datasheet rows; measured by ``paramscope calibrate`` for
this CPU, where eager dispatch costs microseconds per op); a module's time is the sum over the ops
it ran (inclusive, like MACs). On a profile that measured them (``paramscope calibrate``), the
compute term also holds what a CPU's kernels fall short by: a matrix product (or convolution)
runs at the measured rate for its smallest dimension (``Hardware.matmul_efficiency``: a 7-row
Linear or a 32-channel convolution reaches a fraction of a 1024-square product's rate), and a
pooling op pays its window elements at the measured pooling rate (max-pool has no FLOPs, yet
compares 9 elements per output for a 3x3 window). An op is compute-bound when the first term is
the larger. A module's bound is the largest of the time in its memory-bound ops, in its
compute-bound ops, and in per-op overhead. On datasheet rows the estimate assumes every op
reaches the peak it is bound by: no launch overhead, no cache reuse across ops (see
``profiler/bytes.py``), so it is a lower bound on a real device.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from paramscope.profiler.bytes import ByteCount, Fusion, OpCost
from paramscope.profiler.hardware import Hardware
from paramscope.profiler.memory import Precision
from paramscope.profiler.stats import Profile

__all__ = ["Bound", "ModuleRoofline", "Roofline", "roofline", "with_roofline", "op_time"]


class Bound(StrEnum):
    """What limits a module's roofline time."""

    COMPUTE = "compute"
    MEMORY = "memory"
    OVERHEAD = "overhead"
    """Many tiny ops: the fixed per-op cost dominates (calibrated CPU profiles only)."""


@dataclass(frozen=True, slots=True)
class ModuleRoofline:
    """One module's roofline figures (inclusive)."""

    path: str
    flops: int
    bytes: int
    """Bytes moved at the roofline's precision."""
    weight_elems: int
    """Parameter elements read by the ops (re-reads included: a GRU reads W_hh at every step)."""
    roofline_ms: float
    """Sum over ops of max(compute time, memory time)."""
    compute_ms: float
    """FLOPs / peak, summed over ops: the time if memory were free."""
    memory_ms: float
    """bytes / bandwidth, summed over ops: the time if compute were free."""
    memory_bound_ms: float
    """The part of ``roofline_ms`` spent in memory-bound ops."""
    overhead_ms: float
    """The part of ``roofline_ms`` that is per-op overhead."""
    ops: int
    precision: Precision
    """The precision of the module's largest op (by FLOPs), for its ridge point."""
    window: int = 0
    """Pooling-window elements visited (priced on profiles with a measured pooling rate)."""

    @property
    def bound(self) -> Bound:
        compute_bound = self.roofline_ms - self.memory_bound_ms - self.overhead_ms
        parts = {Bound.MEMORY: self.memory_bound_ms, Bound.COMPUTE: compute_bound, Bound.OVERHEAD: self.overhead_ms}
        return max(parts, key=lambda b: parts[b])

    @property
    def intensity(self) -> float | None:
        return self.flops / self.bytes if self.bytes else None


@dataclass(frozen=True, slots=True)
class Roofline:
    """Roofline estimate of one forward on one hardware profile."""

    hardware: Hardware
    precision: Precision | None
    """Storage and compute precision of floating tensors; None = as the model ran."""
    fusion: Fusion
    modules: Mapping[str, ModuleRoofline]
    """Every ``named_modules()`` path; ``""`` is the whole model."""

    @property
    def total(self) -> ModuleRoofline:
        return self.modules[""]


def op_time(op: OpCost, hw: Hardware, precision: Precision | None = None) -> tuple[float, float]:
    """(compute seconds, memory seconds) of one op on ``hw``."""
    compute = 0.0
    if op.flops:
        compute = op.flops / (hw.peak(precision or op.precision) * hw.matmul_efficiency(op.gemm_dim))
    if op.window and hw.pool_gelems:
        compute += op.window / (hw.pool_gelems * 1e9)
    return compute, op.bytes_at(precision) / hw.bandwidth


def roofline(count: ByteCount, hw: Hardware, precision: Precision | None = None) -> Roofline:
    """Price every op of ``count`` on ``hw`` and sum per module.

    Raises:
        ConfigError: ``hw`` lists no peak for a precision an op with FLOPs runs at.
    """
    acc: defaultdict[str, list[float]] = defaultdict(lambda: [0.0] * 10)
    biggest: dict[str, OpCost] = {}
    overhead = hw.op_overhead_us * 1e-6
    for op in count.ops:
        compute, memory = op_time(op, hw, precision)
        row = (op.flops, op.bytes_at(precision), op.weight_elems, max(compute, memory) + overhead, compute, memory,
               memory if memory >= compute else 0.0, overhead, 1, op.window)
        for path in op.stack:
            a = acc[path]
            for i, v in enumerate(row):
                a[i] += v
            if path not in biggest or op.flops > biggest[path].flops:
                biggest[path] = op
    modules = {}
    for path in count.bytes:
        flops, moved, weights, t, c, m, mb, oh, n, window = acc.get(path, [0.0] * 10)
        prec = precision or (biggest[path].precision if path in biggest else Precision.FP32)
        modules[path] = ModuleRoofline(path, int(flops), int(moved), int(weights), t * 1e3, c * 1e3, m * 1e3, mb * 1e3,
                                       oh * 1e3, int(n), prec, int(window))
    return Roofline(hardware=hw, precision=precision, fusion=count.fusion, modules=modules)


def with_roofline(prof: Profile, roof: Roofline) -> Profile:
    """``prof`` with bytes, roofline time and bound per module and in total."""
    def filled(path: str) -> dict[str, object]:
        r = roof.modules.get(path)
        return {} if r is None else {"bytes": r.bytes, "roofline_ms": r.roofline_ms, "bound": r.bound.value}

    rows = tuple(m if m.is_param else dataclasses.replace(m, **filled(m.path)) for m in prof.modules)  # type: ignore[arg-type]
    total = dataclasses.replace(prof.total, **filled(""))  # type: ignore[arg-type]
    return dataclasses.replace(prof, modules=rows, total=total, roofline=roof)
