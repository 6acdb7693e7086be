"""Render ``MemoryReport``s: a Rich table per plan set, a per-module table, markdown and JSON dicts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.filesize import decimal
from rich.table import Table

from paramscope.profiler.memory import MemoryReport, MemoryRow, MemoryTotals

__all__ = ["memory_table", "memory_modules_table", "memory_markdown", "memory_to_dict", "plan_label"]

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
    rows = sorted((r for r in report.rows if r.total_bytes), key=lambda r: r.total_bytes, reverse=True)
    rows = rows[:top] if top is not None else rows
    cols = _used_columns(rows)
    table = Table(title=f"Memory per module: {plan_label(report)}")
    table.add_column("module", overflow="fold")
    table.add_column("type")
    table.add_column("precision")
    for name, _ in cols:
        table.add_column(name, justify="right")
    table.add_column("total", justify="right", style="bold")
    for r in rows:
        table.add_row(r.path or "<root>", r.type, r.precision.value,
                      *(_human(getattr(r, a)) for _, a in cols), _human(r.total_bytes))
    return table


def memory_markdown(reports: Sequence[MemoryReport]) -> str:
    """A markdown table with one row per plan (exact bytes, human units in brackets)."""
    cols = _used_columns([r.totals for r in reports])
    head = ["plan", *(n for n, _ in cols), "peak estimate"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" + "---:|" * (len(head) - 1)]
    for r in reports:
        cells = [plan_label(r), *(_md_cell(getattr(r.totals, a)) for _, a in cols), _md_cell(r.peak_estimate_bytes)]
        lines.append("| " + " | ".join(cells) + " |")
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
