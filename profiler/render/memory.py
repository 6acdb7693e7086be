"""Render simulated ``MemoryReport``s: the peak per plan, what is live at it per module, a timeline."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Group, RenderableType
from rich.filesize import decimal
from rich.table import Table
from rich.text import Text

from paramscope.profiler.memory import LiveBytes, MemoryReport, MemoryRow
from paramscope.profiler.render.formats import Kind, csv_text
from paramscope.profiler.render.text import assumed_line, clean, md_row

__all__ = ["MEMORY", "MemoryView", "memory_table", "memory_modules_table", "memory_markdown", "memory_to_dict",
           "memory_timeline_png", "plan_label", "peak_when"]

_COLUMNS: tuple[tuple[str, str], ...] = (
    ("weights", "weights_bytes"),
    ("grads", "grads_bytes"),
    ("optimizer", "optimizer_bytes"),
    ("saved acts", "activation_bytes"),
    ("temps", "temporary_bytes"),
    ("inputs", "input_bytes"),
)

_CAPTION = ("live at the peak of the simulated step: saved acts = activations saved for backward, temps = "
            "temporaries; exact bytes in --format json; allocator modelled: {alloc}")


def plan_label(report: MemoryReport) -> str:
    """One-line name of a plan, e.g. ``int8 (keep fp32: load_balancer) + adam``."""
    label = report.dtype.value
    if report.amp is not None:
        label = f"amp {report.amp.value}"
    if report.keep:
        kept = ", ".join(f"{p.value}: {path or '<root>'}" for path, p in report.keep)
        label += f" (keep {kept})"
    if report.train is not None:
        label += f" + {report.train.value}"
    if report.checkpoint:
        label += f" (checkpoint {', '.join(report.checkpoint)})"
    return label


def peak_when(report: MemoryReport, sep: str = ", ") -> str:
    """``step 2 backward, in encoder.layers.0`` (``step N`` when training; the module when inside one)."""
    where = f"{sep}in {report.peak_module}" if report.peak_module else ""
    step = f"step {report.peak_step} " if report.train is not None else ""
    return f"{step}{report.peak_phase}{where}"


def _cell(n: int) -> str:
    return f"{decimal(n)}\n{n:,}" if n else "0"


def _human(n: int) -> str:
    return decimal(n) if n else "0"


def _md_cell(n: int) -> str:
    return f"{n:,} ({decimal(n)})" if n else "0"


def _used_columns(items: Sequence[LiveBytes]) -> list[tuple[str, str]]:
    """Columns that are non-zero somewhere; weights always shown."""
    return [(t, a) for t, a in _COLUMNS if a == "weights_bytes" or any(getattr(x, a) for x in items)]


def memory_table(reports: Sequence[MemoryReport], title: str | None = "Peak memory by plan") -> Table:
    """One row per plan: the peak, when it happens, and what is live at it by kind."""
    cols = _used_columns([r.live_at_peak for r in reports])
    table = Table(title=title, caption=_CAPTION.format(alloc=_allocators(reports)))
    table.add_column("plan", style="bold")
    table.add_column("peak", justify="right", style="bold", no_wrap=True)
    table.add_column("when", overflow="fold", min_width=17)
    for name, _ in cols:
        table.add_column(name, justify="right")
    for r in reports:
        table.add_row(plan_label(r), _cell(r.peak_bytes), peak_when(r, "\n"),
                      *(_human(getattr(r.live_at_peak, a)) for _, a in cols))
    return table


def memory_modules_table(report: MemoryReport, *, top: int | None = None) -> Table:
    """Which modules hold what at the peak (own parameters' state, what they allocated), largest first."""
    rows = _largest(report, top)
    cols = _used_columns(rows)
    table = Table(title=f"Live at the peak per module: {plan_label(report)}")
    table.add_column("module", overflow="fold")
    table.add_column("type")
    table.add_column("precision")
    for name, _ in cols:
        table.add_column(name, justify="right")
    table.add_column("total", justify="right", style="bold")
    for r in rows:
        table.add_row(clean(r.path) or "<root>", r.type, r.precision.value,
                      *(_human(getattr(r, a)) for _, a in cols), _human(r.total_bytes))
    return table


def memory_markdown(reports: Sequence[MemoryReport]) -> str:
    """A markdown table with one row per plan (exact bytes, human units in brackets)."""
    cols = _used_columns([r.live_at_peak for r in reports])
    head = ["plan", "peak", "when", *(n for n, _ in cols)]
    lines = ["| " + " | ".join(head) + " |", "|---|---:|---|" + "---:|" * len(cols)]
    for r in reports:
        cells = [plan_label(r), _md_cell(r.peak_bytes), peak_when(r),
                 *(_md_cell(getattr(r.live_at_peak, a)) for _, a in cols)]
        lines.append(md_row(cells))
    return "\n".join(lines) + "\n\n" + _CAPTION.format(alloc=_allocators(reports)) + "\n"


def _allocators(reports: Sequence[MemoryReport]) -> str:
    return ", ".join(sorted({r.allocator.value for r in reports}))


def _largest(report: MemoryReport, top: int | None) -> list[MemoryRow]:
    rows = sorted((r for r in report.rows if r.total_bytes), key=lambda r: r.total_bytes, reverse=True)
    return rows[:top] if top is not None else rows


def memory_modules_markdown(report: MemoryReport, *, top: int | None = None) -> str:
    """The per-module table of one plan in markdown (exact bytes, human units in brackets)."""
    rows = _largest(report, top)
    cols = _used_columns(rows)
    head = ["module", "type", "precision", *(n for n, _ in cols), "total"]
    lines = [f"### Live at the peak per module: {plan_label(report)}", "",
             "| " + " | ".join(head) + " |", "|---|---|---|" + "---:|" * (len(head) - 3)]
    for r in rows:
        lines.append(md_row([r.path or "<root>", r.type, r.precision.value,
                             *(_md_cell(getattr(r, a)) for _, a in cols), _md_cell(r.total_bytes)]))
    return "\n".join(lines) + "\n"


def _bytes_dict(x: LiveBytes) -> dict[str, int]:
    return {f.name: int(getattr(x, f.name)) for f in dataclasses.fields(LiveBytes)}


def memory_to_dict(report: MemoryReport) -> dict[str, Any]:
    """JSON-ready dict; every ``*_bytes`` value is an exact int."""
    return {
        "dtype": report.dtype.value,
        "train": report.train.value if report.train is not None else None,
        "keep": {path: p.value for path, p in report.keep},
        "amp": report.amp.value if report.amp is not None else None,
        "steps": report.steps,
        "checkpoint": list(report.checkpoint),
        "allocator": report.allocator.value,
        "measured_on": report.measured_on,
        "peak_bytes": int(report.peak_bytes),
        "peak_phase": report.peak_phase,
        "peak_module": report.peak_module,
        "peak_step": report.peak_step,
        "live_at_peak": _bytes_dict(report.live_at_peak),
        "recompute_macs": report.recompute_macs,
        "assumptions": [dataclasses.asdict(a) for a in report.assumptions],
        "modules": [
            {"path": r.path, "type": r.type, "precision": r.precision.value, **_bytes_dict(r)}
            for r in report.rows if isinstance(r, MemoryRow)
        ],
    }


def memory_timeline_png(report: MemoryReport, title: str) -> bytes:
    """Stacked live bytes by kind over the step's allocation events, the peak marked; PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [p.event for p in report.timeline]
    fig, ax = plt.subplots(figsize=(10.0, 4.5))
    ys = [[getattr(p.live, a) / 1e6 for p in report.timeline] for _, a in _COLUMNS]
    ax.stackplot(xs, *ys, labels=[n for n, _ in _COLUMNS], step="post")
    peak = max(report.timeline, key=lambda p: p.live.total_bytes, default=None)
    if peak is not None:
        ax.axvline(peak.event, color="black", linestyle="--", linewidth=0.8)
        ax.annotate(f"peak {decimal(report.peak_bytes)}\n{peak_when(report)}", (peak.event, peak.live.total_bytes / 1e6),
                    xytext=(5, -30), textcoords="offset points", fontsize=8)
    _mark_phases(ax, report)
    ax.set_xlabel("allocation / release events")
    ax.set_ylabel("live MB")
    ax.set_title(f"{title}: {plan_label(report)}")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


_PHASE_SHADE = {"backward": "#eeeeee", "optimizer": "#e0e8f0", "zero_grad": "#f0e8e0"}


def _mark_phases(ax: Any, report: MemoryReport) -> None:
    """Shade each phase's span of events and name it at the top when there is room."""
    spans: list[tuple[str, int, int]] = []
    for p in report.timeline:
        if spans and spans[-1][0] == p.phase:
            spans[-1] = (p.phase, spans[-1][1], p.event)
        else:
            spans.append((p.phase, p.event, p.event))
    width = max(1, report.timeline[-1].event if report.timeline else 1)
    top = ax.get_ylim()[1]
    for phase, a, b in spans:
        if phase in _PHASE_SHADE:
            ax.axvspan(a, b, color=_PHASE_SHADE[phase], zorder=0)
        if phase and (b - a) > 0.04 * width:
            ax.text((a + b) / 2, top, phase, fontsize=7, ha="center", va="bottom")


@dataclass(frozen=True)
class MemoryView:
    """What ``memory`` shows: one report per plan, and the N modules holding most at the first plan's peak."""

    model: str
    reports: Sequence[MemoryReport]
    modules: int | None = None


def _assumed(v: MemoryView) -> list[str]:
    """What the meta step assumed (MoE routing, ``if tensor:``), from the first plan that assumed anything."""
    first = next((r for r in v.reports if r.assumptions), None)
    return [] if first is None else [clean(assumed_line(a)) for a in first.assumptions]


def _table(v: MemoryView) -> RenderableType:
    parts: list[RenderableType] = [memory_table(v.reports, title=f"Peak memory: {v.model}")]
    if v.modules:
        parts.append(memory_modules_table(v.reports[0], top=v.modules))
    parts.extend(Text(line) for line in _assumed(v))
    return Group(*parts)


def _md(v: MemoryView) -> str:
    text = f"### Peak memory: {v.model}\n\n" + memory_markdown(v.reports)
    text += "".join(f"\n{line}\n" for line in _assumed(v))
    return text + ("\n" + memory_modules_markdown(v.reports[0], top=v.modules) if v.modules else "")


def _csv(v: MemoryView) -> str:
    """One row per plan (``module`` empty), then with ``--modules`` the first plan's largest holders."""
    names = [f.name for f in dataclasses.fields(LiveBytes)]
    first = v.reports[0]
    return csv_text([
        ("plan", "module", "type", "precision", "peak_bytes", "peak_phase", "peak_module", *names),
        *((plan_label(r), "", "", r.dtype.value, r.peak_bytes, r.peak_phase, r.peak_module,
           *(getattr(r.live_at_peak, a) for a in names)) for r in v.reports),
        *((plan_label(first), m.path, m.type, m.precision.value, m.total_bytes, "", "", *(getattr(m, a) for a in names))
          for m in (_largest(first, v.modules) if v.modules else [])),
    ])


def _dict(v: MemoryView) -> Mapping[str, Any]:
    return {"schema": "paramscope.memory/2", "model": v.model, "plans": [memory_to_dict(r) for r in v.reports]}


MEMORY: Kind[MemoryView] = Kind("memory", table=_table, md=_md, csv=_csv, to_dict=_dict)
