"""Predicted forward time over a grid of knobs x hardware x precision (``whatif --hardware``).

Each configuration of the knob grid is built on meta and its ops are counted once
(``count_bytes``); every (hardware, precision) pair then re-prices the same ops with the roofline
(``profiler/roofline.py``): floating tensors are stored and computed at the precision, integer
tensors keep their dtype.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from paramscope.profiler.build import build
from paramscope.profiler.bytes import Fusion, count_bytes
from paramscope.profiler.deadline import timed
from paramscope.profiler.errors import ParamscopeError
from paramscope.profiler.hardware import Hardware
from paramscope.profiler.memory import Precision
from paramscope.profiler.roofline import Bound, Roofline, roofline
from paramscope.profiler.spec import ModelSpec
from paramscope.profiler.sweep import Axis, _override, check_axes

__all__ = ["Prediction", "PredictionGrid", "predict_grid"]


@dataclass(frozen=True, slots=True)
class Prediction:
    """One (knob values, hardware, precision) point."""

    knobs: Mapping[str, Any]
    hardware: str
    precision: str
    """``fp32``, ``bf16``... or ``as run``."""
    roofline_ms: float | None
    """None when the configuration failed to build or run (``reason`` says why)."""
    bound: Bound | None = None
    flops: int = 0
    bytes: int = 0
    slowest: str = ""
    """The top-level submodule with the largest roofline time."""
    slowest_ms: float = 0.0
    slowest_bound: Bound | None = None
    reason: str | None = None

    @property
    def intensity(self) -> float | None:
        return self.flops / self.bytes if self.bytes else None


@dataclass(frozen=True, slots=True)
class PredictionGrid:
    model: str
    axes: tuple[Axis, ...]
    fusion: Fusion
    rows: tuple[Prediction, ...]
    hardware: tuple[Hardware, ...]


def _point(knobs: Mapping[str, Any], roof: Roofline) -> Prediction:
    tops = [r for p, r in roof.modules.items() if p and "." not in p]
    slow = max(tops, key=lambda r: r.roofline_ms, default=roof.total)
    t = roof.total
    return Prediction(knobs, roof.hardware.key, roof.precision.value if roof.precision else "as run",
                      t.roofline_ms, t.bound, t.flops, t.bytes, slow.path, slow.roofline_ms, slow.bound)


def _count(spec: ModelSpec, device: str, fusion: Fusion) -> Any:
    built = build(spec, device)
    return count_bytes(built.model, built.args, built.kwargs, fusion=fusion)


def predict_grid(spec: ModelSpec, axes: Sequence[Axis], hardware: Sequence[Hardware],
                 precisions: Sequence[Precision | None], *, fusion: Fusion = Fusion.NONE, device: str = "meta",
                 progress: Callable[[int, int, str], None] | None = None, timeout: float | None = None,
                 hard_stop: Callable[[], None] | None = None) -> PredictionGrid:
    """Roofline time of every knob configuration on every hardware at every precision.

    A configuration that cannot be built or run, or takes more than ``timeout`` seconds
    (``deadline.timed``; ``hard_stop`` ends a C call that never returns), is a failed row per
    (hardware, precision), with the reason; a hardware without a peak for a precision raises
    ``ConfigError`` before any work.
    """
    check_axes(spec, axes)
    for hw in hardware:
        for p in precisions:
            if p is not None:
                hw.peak(p)
    grid = list(itertools.product(*(a.values for a in axes)))
    rows: list[Prediction] = []
    for i, values in enumerate(grid):
        knobs = {a.label: v for a, v in zip(axes, values, strict=True)}
        if progress is not None:
            progress(i, len(grid), ", ".join(f"{k}={v}" for k, v in knobs.items()) or spec.name)
        one = _override(spec, axes, values) if axes else spec
        try:
            count = _count(one, device, fusion) if timeout is None else timed(
                timeout, functools.partial(_count, device=device, fusion=fusion), one, hard_stop)
        except ParamscopeError as e:
            rows += [Prediction(knobs, hw.key, p.value if p else "as run", None, reason=str(e))
                     for hw in hardware for p in precisions]
            continue
        rows += [_point(knobs, roofline(count, hw, p)) for hw in hardware for p in precisions]
    return PredictionGrid(spec.name, tuple(axes), fusion, tuple(rows), tuple(hardware))
