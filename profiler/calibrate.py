"""Measure this machine's achieved matmul FLOP/s and memory bandwidth: a ``cpu`` hardware profile.

Method (a few seconds):

- Matmul: ``torch.mm`` per precision, 2 M K N FLOPs per call; for each shape the best of
  ``repeats`` timed calls after one warm-up. fp32 takes the median over four layer-like shapes
  (1024^3, 256x1024x1024, 64x1024x4096, 32x512x2048): the throughput a model's layers achieve,
  not the best case of one large square product (a 49-row Linear of the rg_output preset reaches
  27-37 GFLOP/s on the development machine where a 1024^3 product reaches 50).
  bf16 and fp16 use one 256^3 product: CPUs without native half-precision matmul run them 50x
  slower, and a 1024^3 product would take seconds.
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

# (M, K, N) as multiples of size/4: 1024^3, 256x1024x1024, 64x1024x4096 and 32x512x2048 at size 1024
_SHAPES: tuple[tuple[float, float, float], ...] = ((4, 4, 4), (1, 4, 4), (0.25, 4, 16), (0.125, 2, 8))
_MATMUL_DTYPES: dict[str, tuple[torch.dtype, tuple[tuple[float, float, float], ...]]] = {
    "fp32": (torch.float32, _SHAPES), "bf16": (torch.bfloat16, ((1, 1, 1),)), "fp16": (torch.float16, ((1, 1, 1),)),
}
"""precision -> (dtype, the (M, K, N) shapes it is timed at)"""


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


def _matmul_rate(dtype: torch.dtype, mkn: list[int], repeats: int, clock: Clock) -> float:
    """Achieved TFLOP/s of one (M, K) x (K, N) product."""
    m, k, n = mkn
    pair = (torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype))
    return 2 * m * k * n / _best(functools.partial(torch.mm, *pair), repeats, clock) / 1e12


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
            for name, (dtype, shapes) in _MATMUL_DTYPES.items():
                rates = sorted(_matmul_rate(dtype, [max(int(size * f / 4), 16) for f in mkn], repeats, clock)
                               for mkn in shapes)
                tflops[name] = rates[len(rates) // 2]
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
