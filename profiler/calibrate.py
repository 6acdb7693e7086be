"""Measure this machine's achieved matmul FLOP/s and memory bandwidth: a ``cpu`` hardware profile.

Method (10-20 seconds on a loaded 2-core machine). Every figure is the median of ``repeats`` timed
calls after one warm-up: the statistic ``--latency`` reports, so that a busy machine slows the
calibration as it slows the measurement it is compared with.

- Matmul by shape: a CPU's matmul rate depends on the smallest dimension of an (M, K) x (K, N)
  product (on the development machine a 7-row product reaches about 8-13 GFLOP/s, a 32-channel
  convolution 20-27, a 1024-square product 55-75; the byte model sees no such penalty). fp32
  ``torch.mm`` is timed at M = 1, 4, 16, 64, 256 and ``size`` with K = N = ``size``, each call on
  the next of several distinct input and weight matrices (32 MB of weights at size 1024) so that,
  as in a forward and as the byte model assumes, neither operand is in cache; per M the median of
  ``repeats`` passes. Saved as ``matmul_dim_tflops`` (the smallest dimension is M here); the fp32
  peak is the rate at M = ``size``. The roofline prices a matmul or convolution by its smallest
  dimension (``Hardware.matmul_efficiency``).
- bf16 and fp16 use one 256^3 product: CPUs without native half-precision matmul run them 50x
  slower, and a 1024^3 product would take seconds.
- Pooling: ``max_pool2d`` (3x3 window, stride 2) on a 64-channel map: window elements visited
  per second (``pool_gelems``; the kernel compares element by element, it has no FLOPs).
- Bandwidth: ``dst.copy_(src)`` of a 256 MB fp32 buffer, which reads and writes it once
  (2 x 256 MB moved under the byte model of ``profiler/bytes.py``).
- Per-op overhead: the time of an element-wise op on a one-element tensor (dispatch and kernel
  launch, no work); the roofline adds it to every op on this profile, because at batch 1 the
  eager framework's per-op cost is of the same order as the work.
- ``clock``: ``thread`` (default) counts the CPU time of this thread with one intra-op thread, so
  other processes on a shared machine do not inflate the figures (pair it with ``breakdown
  --latency --clock thread``); ``wall`` uses ``time.perf_counter`` and the current thread count.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from paramscope.profiler.hardware import Hardware
from paramscope.profiler.latency import Clock

__all__ = ["Calibration", "calibrate"]

_ROWS = (1, 4, 16, 64, 256)
"""Rows M the fp32 matmul is timed at (and ``size``)."""
_HALF = {"bf16": torch.bfloat16, "fp16": torch.float16}
_COLD_MB = 32
"""Total size of the distinct weight matrices one pass cycles through (more than a last-level cache)."""


@dataclass(frozen=True, slots=True)
class Calibration:
    """What was measured, and the profile made from it."""

    hardware: Hardware
    matmul_tflops: dict[str, float]
    dim_tflops: dict[int, float]
    pool_gelems: float
    bandwidth_gbs: float
    op_overhead_us: float
    clock: Clock
    threads: int
    seconds: float
    """How long the calibration took (wall clock)."""


def _median(fn: Callable[[], object], repeats: int, clock: Clock) -> float:
    """Median of ``repeats`` timed calls after one warm-up, in seconds (the statistic ``--latency``
    reports, so that a loaded machine slows the calibration as it slows the measurement)."""
    now = time.thread_time if clock is Clock.THREAD else time.perf_counter
    fn()
    times = []
    for _ in range(repeats):
        start = now()
        fn()
        times.append(now() - start)
    return max(statistics.median(times), 1e-9)


def _matmul_rate(dtype: torch.dtype, m: int, k: int, n: int, repeats: int, clock: Clock) -> float:
    """Achieved TFLOP/s of one (M, K) x (K, N) product, operands in cache."""
    pair = (torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype))
    return 2 * m * k * n / _median(functools.partial(torch.mm, *pair), repeats, clock) / 1e12


def _dim_rates(size: int, repeats: int, clock: Clock) -> dict[int, float]:
    """Achieved fp32 TFLOP/s of (M, size) x (size, size) products per M, weights not in cache."""
    weights = [torch.randn(size, size) for _ in range(max(2, _COLD_MB * 1_000_000 // (4 * size * size)))]
    rates = {}
    for m in sorted({r for r in _ROWS if r < size} | {size}):
        pairs = list(zip([torch.randn(m, size) for _ in weights], weights))
        per_pass = _median(functools.partial(_products, pairs), repeats, clock)
        rates[m] = 2 * m * size * size * len(weights) / per_pass / 1e12
    return rates


def _products(pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    for a, w in pairs:
        torch.mm(a, w)


def _pool_rate(size: int, repeats: int, clock: Clock) -> float:
    """Window elements per second (1e9) of a 3x3, stride-2 max-pool over a 64-channel map."""
    side = max(size // 8, 8)
    x = torch.randn(1, 64, side, side)
    out = (side + 1) // 2
    return 64 * out * out * 9 / _median(lambda: torch.nn.functional.max_pool2d(x, 3, 2, 1), repeats, clock) / 1e9


def calibrate(*, size: int = 1024, copy_mb: int = 256, repeats: int = 5, clock: Clock = Clock.THREAD,
              threads: int | None = None) -> Calibration:
    """Measure matmul throughput, copy bandwidth and per-op overhead on this CPU."""
    began = time.perf_counter()
    before = torch.get_num_threads()
    use = 1 if clock is Clock.THREAD else (threads or before)
    torch.set_num_threads(use)
    try:
        with torch.inference_mode():
            rows = _dim_rates(size, repeats, clock)
            tflops = {"fp32": rows[size]}
            half = max(size // 4, 16)
            tflops.update({k: _matmul_rate(dt, half, half, half, repeats, clock) for k, dt in _HALF.items()})
            pool = _pool_rate(size, repeats, clock)
            elems = copy_mb * 1_000_000 // 4
            src, dst = torch.ones(elems), torch.empty(elems)
            gbs = 2 * elems * 4 / _median(lambda: dst.copy_(src), repeats, clock) / 1e9
            tiny = torch.ones(1)
            overhead = _median(lambda: [torch.neg(tiny) for _ in range(1000)], repeats, clock) / 1000 * 1e6
    finally:
        torch.set_num_threads(before)
    hw = Hardware(
        key="cpu", name=f"this machine's CPU ({use} thread{'s' if use > 1 else ''}, calibrated)",
        source=(f"paramscope calibrate: torch.mm (M, {size}) x ({size}, {size}) by M, max_pool2d and a "
                f"{copy_mb} MB copy, median of {repeats}, clock {clock.value}, torch {torch.__version__}"),
        memory_bandwidth_gbs=round(gbs, 3), peak_tflops={k: round(v, 5) for k, v in tflops.items()},
        op_overhead_us=round(overhead, 3), matmul_dim_tflops={m: round(v, 5) for m, v in rows.items()},
        pool_gelems=round(pool, 4),
    )
    return Calibration(hw, tflops, rows, pool, gbs, overhead, clock, use, time.perf_counter() - began)
