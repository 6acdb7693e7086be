"""Render ``MemoryReport``s: a Rich table per plan set, a per-module table, markdown and JSON dicts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Group, RenderableType
from rich.filesize import decimal
from rich.table import Table

from paramscope.profiler.memory import MemoryReport, MemoryRow, MemoryTotals
from paramscope.profiler.render.formats import Kind, csv_text
from paramscope.profiler.render.text import clean, md_row

__all__ = ["MEMORY", "MemoryView", "memory_table", "memory_modules_table", "memory_markdown", "memory_to_dict", "plan_label"]

_COLUMNS: tuple[tuple[str, str], ...] = (
    ("weights", "weights_bytes"),
    ("buffers", "buffers_bytes"),
    ("master fp32", "master_weights_bytes"),
    ("gradients", "grads_bytes"),
    ("optimizer", "optimizer_bytes"),
    ("activations", "activation_bytes"),
)


def plan_label(report: MemoryReport) -> str:
    """One-line name of a plan, e.g. ``int8 (keep fp32: load_balancer) + adam``."""
    label = report.dtype.value
    if report.keep:
        kept = ", ".join(f"{p.value}: {path or '<root>'}" for path, p in report.keep)
        label += f" (keep {kept})"
    if report.train is not None:
        label += f" + {report.train.value}"
    return label


def _cell(n: int) -> str:
    """Decimal human unit over the exact bytes, e.g. ``1.2 MB`` / ``1,234,567``."""
    return f"{decimal(n)}\n{n:,}" if n else "0"


def _human(n: int) -> str:
    return decimal(n) if n else "0"


def _md_cell(n: int) -> str:
    return f"{n:,} ({decimal(n)})" if n else "0"


def _used_columns(totals: Sequence[MemoryTotals | MemoryRow]) -> list[tuple[str, str]]:
    """Columns that are non-zero somewhere; weights always shown."""
    return [(t, a) for t, a in _COLUMNS if a == "weights_bytes" or any(getattr(x, a) for x in totals)]


def memory_table(reports: Sequence[MemoryReport], title: str | None = "Memory by precision") -> Table:
    """One row per plan: each memory column and the peak estimate, in bytes and human units."""
    cols = _used_columns([r.totals for r in reports])
    table = Table(title=title, caption="peak estimate = sum of the columns; decimal units over exact bytes")
    table.add_column("plan", style="bold")
    for name, _ in cols:
        table.add_column(name, justify="right")
    table.add_column("peak estimate", justify="right", style="bold")
    for r in reports:
        table.add_row(plan_label(r), *(_cell(getattr(r.totals, a)) for _, a in cols), _cell(r.peak_estimate_bytes))
    return table


def memory_modules_table(report: MemoryReport, *, top: int | None = None) -> Table:
    """Per-module breakdown of one plan (what each module owns directly), largest first.

    Cells are human units only; exact bytes are in ``memory_to_dict`` and ``memory_markdown``.
    """
    rows = _largest(report, top)
    cols = _used_columns(rows)
    table = Table(title=f"Memory per module: {plan_label(report)}")
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
    cols = _used_columns([r.totals for r in reports])
    head = ["plan", *(n for n, _ in cols), "peak estimate"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" + "---:|" * (len(head) - 1)]
    for r in reports:
        cells = [plan_label(r), *(_md_cell(getattr(r.totals, a)) for _, a in cols), _md_cell(r.peak_estimate_bytes)]
        lines.append(md_row(cells))
    return "\n".join(lines) + "\n\npeak estimate = sum of the columns; exact bytes, decimal units in brackets\n"


def _largest(report: MemoryReport, top: int | None) -> list[MemoryRow]:
    rows = sorted((r for r in report.rows if r.total_bytes), key=lambda r: r.total_bytes, reverse=True)
    return rows[:top] if top is not None else rows


def memory_modules_markdown(report: MemoryReport, *, top: int | None = None) -> str:
    """The per-module table of one plan in markdown (exact bytes, human units in brackets)."""
    rows = _largest(report, top)
    cols = _used_columns(rows)
    head = ["module", "type", "precision", *(n for n, _ in cols), "total"]
    lines = [f"### Memory per module: {plan_label(report)}", "",
             "| " + " | ".join(head) + " |", "|---|---|---|" + "---:|" * (len(head) - 3)]
    for r in rows:
        lines.append(md_row([r.path or "<root>", r.type, r.precision.value,
                             *(_md_cell(getattr(r, a)) for _, a in cols), _md_cell(r.total_bytes)]))
    return "\n".join(lines) + "\n"


def _bytes_dict(x: MemoryTotals | MemoryRow) -> dict[str, int]:
    return {a: int(getattr(x, a)) for _, a in _COLUMNS}


def memory_to_dict(report: MemoryReport) -> dict[str, Any]:
    """JSON-ready dict; every ``*_bytes`` value is an exact int."""
    return {
        "dtype": report.dtype.value,
        "train": report.train.value if report.train is not None else None,
        "keep": {path: p.value for path, p in report.keep},
        "measured_on": report.measured_on,
        "totals": _bytes_dict(report.totals),
        "peak_estimate_bytes": int(report.peak_estimate_bytes),
        "modules": [
            {"path": r.path, "type": r.type, "precision": r.precision.value, **_bytes_dict(r)}
            for r in report.rows
        ],
    }


@dataclass(frozen=True)
class MemoryView:
    """What ``memory`` shows: one report per plan, and the N largest modules of the first plan."""

    model: str
    reports: Sequence[MemoryReport]
    modules: int | None = None


def _table(v: MemoryView) -> RenderableType:
    parts: list[RenderableType] = [memory_table(v.reports, title=f"Memory by precision: {v.model}")]
    if v.modules:
        parts.append(memory_modules_table(v.reports[0], top=v.modules))
    return Group(*parts)


def _md(v: MemoryView) -> str:
    text = f"### Memory by precision: {v.model}\n\n" + memory_markdown(v.reports)
    return text + ("\n" + memory_modules_markdown(v.reports[0], top=v.modules) if v.modules else "")


def _csv(v: MemoryView) -> str:
    """One row per plan (``module`` empty), then with ``--modules`` the first plan's largest modules."""
    first = v.reports[0]
    return csv_text([
        ("plan", "module", "type", "precision", *(a for _, a in _COLUMNS), "total_bytes"),
        *((plan_label(r), "", "", r.dtype.value, *(getattr(r.totals, a) for _, a in _COLUMNS), r.peak_estimate_bytes)
          for r in v.reports),
        *((plan_label(first), m.path, m.type, m.precision.value, *(getattr(m, a) for _, a in _COLUMNS), m.total_bytes)
          for m in (_largest(first, v.modules) if v.modules else [])),
    ])


def _dict(v: MemoryView) -> Mapping[str, Any]:
    return {"schema": "paramscope.memory/1", "model": v.model, "plans": [memory_to_dict(r) for r in v.reports]}


MEMORY: Kind[MemoryView] = Kind("memory", table=_table, md=_md, csv=_csv, to_dict=_dict)
