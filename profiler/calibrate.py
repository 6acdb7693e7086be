"""Measure this machine's achieved matmul FLOP/s and memory bandwidth: a ``cpu`` hardware profile.

Method (a few seconds):

- Matmul: ``torch.mm`` of two n x n matrices per precision, 2 n^3 FLOPs per call; the best of
  ``repeats`` timed calls after one warm-up. n = 1024 for fp32; bf16 and fp16 use n = 256, because
  CPUs without native half-precision matmul run them 50x slower (a 1024 product would take seconds).
- Bandwidth: ``dst.copy_(src)`` of a 256 MB fp32 buffer, which reads and writes it once
  (2 x 256 MB moved under the byte model of ``profiler/bytes.py``); the best of ``repeats``.
- Per-op overhead: the time of an element-wise op on a one-element tensor (dispatch and kernel
  launch, no work); the roofline adds it to every op on this profile, because at batch 1 the
  eager framework's per-op cost is of the same order as the work.
- ``clock``: ``thread`` (default) counts the CPU time of this thread with one intra-op thread, so
  other processes on a shared machine do not inflate the figures (pair it with ``breakdown
  --latency --clock thread``); ``wall`` uses ``time.perf_counter`` and the current thread count.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from paramscope.profiler.hardware import Hardware
from paramscope.profiler.latency import Clock

__all__ = ["Calibration", "calibrate"]

_MATMUL_DTYPES = {"fp32": (torch.float32, 1), "bf16": (torch.bfloat16, 4), "fp16": (torch.float16, 4)}
"""precision -> (dtype, divisor of the matrix size)"""


@dataclass(frozen=True, slots=True)
class Calibration:
    """What was measured, and the profile made from it."""

    hardware: Hardware
    matmul_tflops: dict[str, float]
    bandwidth_gbs: float
    op_overhead_us: float
    clock: Clock
    threads: int
    seconds: float
    """How long the calibration took (wall clock)."""


def _best(fn: Callable[[], object], repeats: int, clock: Clock) -> float:
    """Fastest of ``repeats`` timed calls after one warm-up, in seconds."""
    now = time.thread_time if clock is Clock.THREAD else time.perf_counter
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = now()
        fn()
        best = min(best, now() - start)
    return max(best, 1e-9)


def calibrate(*, size: int = 1024, copy_mb: int = 256, repeats: int = 5, clock: Clock = Clock.THREAD,
              threads: int | None = None) -> Calibration:
    """Measure matmul throughput, copy bandwidth and per-op overhead on this CPU."""
    began = time.perf_counter()
    before = torch.get_num_threads()
    use = 1 if clock is Clock.THREAD else (threads or before)
    torch.set_num_threads(use)
    try:
        with torch.inference_mode():
            tflops = {}
            for name, (dtype, shrink) in _MATMUL_DTYPES.items():
                n = max(size // shrink, 16)
                pair = (torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype))
                tflops[name] = 2 * n**3 / _best(functools.partial(torch.mm, *pair), repeats, clock) / 1e12
            elems = copy_mb * 1_000_000 // 4
            src, dst = torch.ones(elems), torch.empty(elems)
            gbs = 2 * elems * 4 / _best(lambda: dst.copy_(src), repeats, clock) / 1e9
            tiny = torch.ones(1)
            overhead = _best(lambda: [torch.neg(tiny) for _ in range(1000)], repeats, clock) / 1000 * 1e6
    finally:
        torch.set_num_threads(before)
    hw = Hardware(
        key="cpu", name=f"this machine's CPU ({use} thread{'s' if use > 1 else ''}, calibrated)",
        source=(f"paramscope calibrate: torch.mm {size}x{size} and a {copy_mb} MB copy, best of {repeats}, "
                f"clock {clock.value}, torch {torch.__version__}"),
        memory_bandwidth_gbs=round(gbs, 3), peak_tflops={k: round(v, 5) for k, v in tflops.items()},
        op_overhead_us=round(overhead, 3),
    )
    return Calibration(hw, tflops, gbs, overhead, clock, use, time.perf_counter() - began)
