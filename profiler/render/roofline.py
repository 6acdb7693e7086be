"""Roofline renderers: one "why" line per module, the JSON block, and the roofline plot."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paramscope.profiler.hardware import hardware_dict
from paramscope.profiler.render.formats import Kind
from paramscope.profiler.predict import Prediction, PredictionGrid
from paramscope.profiler.render.units import human, human_bytes
from paramscope.profiler.roofline import Bound, ModuleRoofline, Roofline
from paramscope.profiler.stats import ModuleStats, Profile

if TYPE_CHECKING:  # profiler.calibrate imports torch
    from paramscope.profiler.calibrate import Calibration

__all__ = [
    "why_line", "why_lines", "roofline_header", "roofline_to_dict", "plot_roofline", "prediction_table",
    "prediction_markdown", "prediction_to_dict", "PREDICT", "CALIBRATE", "CalibrationView",
]


def _ms(x: float) -> str:
    return f"{x:.3g} ms"


def _rate(flops_per_s: float) -> str:
    return human(flops_per_s, "FLOP/s")


def roofline_header(roof: Roofline) -> str:
    """What the estimate was made for, in one line."""
    hw = roof.hardware
    prec = roof.precision.value if roof.precision else "as run"
    peaks = ", ".join(f"{k} {v:g}" for k, v in hw.peak_tflops.items())
    overhead = f" + {hw.op_overhead_us:g} us" if hw.op_overhead_us else ""
    peak = "peak x measured matmul efficiency" if hw.matmul_dim_tflops else "peak"
    pool = " (+ pooling windows at the measured rate)" if hw.pool_gelems else ""
    return (f"roofline on {hw.key} ({hw.name}): {hw.memory_bandwidth_gbs:g} GB/s, peak TFLOP/s {peaks}; "
            f"precision {prec}, fusion {roof.fusion.value}; per op max(FLOPs/{peak}{pool}, bytes/bandwidth){overhead}, "
            "summed")


def why_line(label: str, r: ModuleRoofline, roof: Roofline, params: int) -> str:
    """Why a module takes its roofline time, e.g. ``memory-bound: moves 213 GB ...``."""
    hw = roof.hardware
    if not r.ops or r.roofline_ms == 0:
        return f"{label}: no work (no op ran, or only views)"
    peak = hw.peak(r.precision) if r.flops else None
    ridge = f", ridge {hw.ridge(r.precision):.3g}" if peak else ""
    intensity = f"{r.intensity:.3g} FLOP/B{ridge}" if r.intensity is not None else "no bytes"
    reuse = ""
    if params and r.weight_elems > params * 1.5:
        reuse = f" (re-reads its weights {r.weight_elems / params:.3g}x per forward)"
    moves = f"{human_bytes(r.bytes)}{reuse} at {hw.memory_bandwidth_gbs:g} GB/s = {_ms(r.memory_ms)}"
    work = _work(r, hw.pool_gelems, peak)
    if r.bound is Bound.OVERHEAD:
        return (f"{label}: overhead-bound, {_ms(r.roofline_ms)}: {r.ops} ops x {hw.op_overhead_us:g} us each = "
                f"{_ms(r.overhead_ms)}; moves {moves}; its {work}; {intensity}")
    if r.bound is Bound.MEMORY:
        return f"{label}: memory-bound, {_ms(r.roofline_ms)}: moves {moves}; its {work}; {intensity}"
    return f"{label}: compute-bound, {_ms(r.roofline_ms)}: {work}; moves {moves}; {intensity}"


def _work(r: ModuleRoofline, pool_gelems: float | None, peak: float | None) -> str:
    """The compute term in words: FLOPs at the peak (or at the measured rate), pooling windows."""
    pool_ms = r.window / (pool_gelems * 1e9) * 1e3 if r.window and pool_gelems else 0.0
    parts = []
    if peak:
        flop_ms = r.compute_ms - pool_ms
        rate = r.flops / (flop_ms / 1e3) if flop_ms > 0 else peak
        at = (f"{_rate(rate)} {r.precision.value} (measured rate for its matmul shapes; peak {_rate(peak)})"
              if rate < 0.99 * peak else f"{_rate(peak)} {r.precision.value}")
        parts.append(f"{human(r.flops, 'FLOP')} at {at} = {_ms(flop_ms)}")
    if pool_ms:
        parts.append(f"{human(r.window)} pooling-window elements at {pool_gelems:g}G/s = {_ms(pool_ms)}")
    return " + ".join(parts) or "no FLOPs"


def why_lines(profile: Profile, rows: Sequence[ModuleStats]) -> list[str]:
    """One line per shown module (and the total) saying what bounds its time on the hardware."""
    roof: Roofline | None = profile.roofline
    if roof is None:
        return []
    lines = [roofline_header(roof)]
    for m in rows:
        r = roof.modules.get(m.path)
        if r is not None and not m.is_param:
            lines.append(why_line(m.path, r, roof, m.params))
    lines.append(why_line("(total)", roof.total, roof, profile.total.params))
    return lines


def roofline_to_dict(roof: Roofline) -> dict[str, Any]:
    """The ``roofline`` block of the breakdown JSON: the hardware and the per-module detail."""
    return {
        "hardware": {"key": roof.hardware.key, **hardware_dict(roof.hardware)},
        "precision": roof.precision.value if roof.precision else None,
        "fusion": roof.fusion.value,
        "modules": [{"path": r.path, "roofline_ms": r.roofline_ms, "compute_ms": r.compute_ms,
                     "memory_ms": r.memory_ms, "overhead_ms": r.overhead_ms, "bound": r.bound.value,
                     "flops": r.flops, "bytes": r.bytes, "weight_elements_read": r.weight_elems} for r in roof.modules.values()],
    }


def plot_roofline(profile: Profile, rows: Sequence[ModuleStats], path: Path,
                  measured_ms: Mapping[str, float] | None = None) -> None:
    """A log-log roofline: the hardware's roof and one point per module (intensity, FLOP/s).

    A module's predicted FLOP/s is its FLOPs over its roofline time, so memory-bound modules sit
    on the slanted roof and compute-bound ones on the flat one; with ``measured_ms`` (from
    ``--latency``) a hollow marker shows the FLOP/s it achieved, straight below its prediction.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    roof: Roofline = profile.roofline
    hw = roof.hardware
    points = [(m.path, roof.modules[m.path]) for m in rows if not m.is_param and m.path in roof.modules]
    points = [(p, r) for p, r in points if r.flops and r.bytes and r.roofline_ms]
    fig, ax = plt.subplots(figsize=(10, 5.5), dpi=110)
    xs = [r.flops / r.bytes for _, r in points] or [1.0]
    lo, hi = min(min(xs) / 4, 0.05), max(max(xs) * 4, 1e3)
    grid = [lo * (hi / lo) ** (i / 200) for i in range(201)]
    precs = sorted({r.precision for _, r in points} or {roof.precision or _fp32()}, key=lambda p: -hw.peak(p))
    for prec in precs:
        peak = hw.peak(prec)
        ax.plot(grid, [min(peak, x * hw.bandwidth) for x in grid], color="black", lw=1.2,
                label=f"roof {prec.value}: {_rate(peak)}, {hw.memory_bandwidth_gbs:g} GB/s")
    cmap = plt.get_cmap("tab20")
    for i, (label, r) in enumerate(points):
        x, color = r.flops / r.bytes, cmap(i % 20)
        marker = "s" if r.bound is Bound.MEMORY else ("o" if r.bound is Bound.COMPUTE else "^")
        ax.scatter([x], [r.flops / (r.roofline_ms / 1e3)], marker=marker, color=color, zorder=3,
                   label=f"{label} ({r.bound.value}, {r.roofline_ms:.3g} ms)")
        if measured_ms and measured_ms.get(label):
            ax.scatter([x], [r.flops / (measured_ms[label] / 1e3)], marker=marker, facecolors="none",
                       edgecolors=[color], zorder=3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOPs per byte moved)")
    ax.set_ylabel("FLOP/s (filled: predicted" + (", hollow: measured)" if measured_ms else ")"))
    ax.set_title(f"{profile.model} on {hw.key}: squares memory-bound, circles compute-bound, triangles overhead",
                 fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def _fp32() -> Any:
    from paramscope.profiler.memory import Precision

    return Precision.FP32


def _knob_text(knobs: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in knobs.items()) or "(base)"


def _prediction_cells(p: Prediction, fastest: float | None) -> list[str]:
    if p.roofline_ms is None:
        return [_knob_text(p.knobs), p.hardware, p.precision, "failed", "", "", "", "", p.reason or ""]
    rel = f"{p.roofline_ms / fastest:.3g}x" if fastest else "-"
    slow = f"{p.slowest} {p.slowest_ms:.3g} ms ({p.slowest_bound.value if p.slowest_bound else '-'})"
    return [_knob_text(p.knobs), p.hardware, p.precision, f"{p.roofline_ms:.4g}", rel,
            p.bound.value if p.bound else "-", human_bytes(p.bytes),
            "-" if p.intensity is None else f"{p.intensity:.3g}", slow]


PREDICTION_HEADS = ["knobs", "hardware", "dtype", "predicted ms", "vs fastest", "bound", "bytes", "FLOP/B",
                    "slowest top-level module"]


def _fastest(grid: PredictionGrid) -> float | None:
    times = [p.roofline_ms for p in grid.rows if p.roofline_ms]
    return min(times) if times else None


def prediction_lines(grid: PredictionGrid) -> list[str]:
    """The footer: what each hardware row is, and the model of time."""
    lines = [f"{hw.key}: {hw.name}, {hw.memory_bandwidth_gbs:g} GB/s; source: {hw.source}" for hw in grid.hardware]
    return [*lines, f"time per op = max(FLOPs / peak at the dtype, bytes / bandwidth), summed; fusion {grid.fusion.value}"]


def prediction_table(grid: PredictionGrid) -> Any:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(f"predicted forward time: {grid.model}"), title_justify="left",
                  caption=escape("\n".join(prediction_lines(grid))), caption_justify="left")
    for i, h in enumerate(PREDICTION_HEADS):
        table.add_column(h, justify="left" if i < 3 or i in (5, 8) else "right")
    fastest = _fastest(grid)
    for p in grid.rows:
        style = "red" if p.roofline_ms is None else ("bold" if p.bound is Bound.MEMORY else None)
        table.add_row(*[escape(c) for c in _prediction_cells(p, fastest)], style=style)
    return table


def prediction_markdown(grid: PredictionGrid) -> str:
    fastest = _fastest(grid)
    out = [f"### predicted forward time: {grid.model}", "", "| " + " | ".join(PREDICTION_HEADS) + " |",
           "|" + "|".join("---" if i < 3 or i in (5, 8) else "---:" for i in range(len(PREDICTION_HEADS))) + "|"]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in _prediction_cells(p, fastest)) + " |" for p in grid.rows]
    return "\n".join([*out, "", *(f"- {line}" for line in prediction_lines(grid))]) + "\n"


def prediction_to_dict(grid: PredictionGrid) -> dict[str, Any]:
    """``paramscope.predict/1``: one entry per (knobs, hardware, dtype)."""
    return {
        "schema": "paramscope.predict/1", "model": grid.model, "fusion": grid.fusion.value,
        "hardware": [{"key": hw.key, **hardware_dict(hw)} for hw in grid.hardware],
        "variants": [{"knobs": dict(p.knobs), "hardware": p.hardware, "dtype": p.precision,
                      "status": "ok" if p.roofline_ms is not None else "failed", "reason": p.reason,
                      "roofline_ms": p.roofline_ms, "bound": p.bound.value if p.bound else None, "flops": p.flops,
                      "bytes": p.bytes, "intensity": p.intensity, "slowest": p.slowest or None,
                      "slowest_ms": p.slowest_ms, "slowest_bound": p.slowest_bound.value if p.slowest_bound else None}
                     for p in grid.rows],
    }


PREDICT: Kind[PredictionGrid] = Kind("whatif --hardware", table=prediction_table, md=prediction_markdown,
                                     to_dict=prediction_to_dict)


@dataclass(frozen=True)
class CalibrationView:
    """A calibration and where its profile was saved (None: not saved)."""

    result: Calibration
    saved_to: Path | None


def _calibration_text(v: CalibrationView) -> str:
    hw = v.result.hardware
    lines = [f"calibrated {hw.name} in {v.result.seconds:.1f} s (clock {v.result.clock.value})",
             *(f"  matmul {k}: {t * 1e3:.1f} GFLOP/s" for k, t in hw.peak_tflops.items()),
             *(f"  matmul fp32, smallest dimension {d} (operands not cached): {t * 1e3:.1f} GFLOP/s"
               for d, t in hw.matmul_dim_tflops.items()),
             *([f"  max-pool: {hw.pool_gelems:.3g}G window elements/s"] if hw.pool_gelems else []),
             f"  memory bandwidth (copy): {hw.memory_bandwidth_gbs:.2f} GB/s",
             f"  per-op overhead: {hw.op_overhead_us:.2f} us",
             f"saved to {v.saved_to}; used by --hardware cpu" if v.saved_to else "not saved (--no-save)"]
    return "\n".join(lines) + "\n"


def _calibration_dict(v: CalibrationView) -> dict[str, Any]:
    return {"schema": "paramscope.calibrate/1", "saved_to": None if v.saved_to is None else str(v.saved_to),
            "clock": v.result.clock.value, "threads": v.result.threads, "seconds": v.result.seconds,
            "profile": hardware_dict(v.result.hardware)}


CALIBRATE: Kind[CalibrationView] = Kind("calibrate", table=_calibration_text, to_dict=_calibration_dict)
