"""The ``audit`` report: the MAC backends side by side per module, disagreements highlighted."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from paramscope.profiler.audit import AuditReport, AuditRow
from paramscope.profiler.render.formats import Kind, csv_text
from paramscope.profiler.render.text import clean, md_row

__all__ = ["AUDIT", "AuditView", "render_audit", "audit_to_dict"]


@dataclass(frozen=True)
class AuditView:
    report: AuditReport
    only_flagged: bool = False
    """Show only the modules whose backends disagree by more than 1%."""

    @property
    def rows(self) -> tuple[AuditRow, ...]:
        return self.report.flagged if self.only_flagged else self.report.rows


def _macs(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _cells(report: AuditReport, row: AuditRow) -> list[str]:
    """``*`` marks a figure that includes MACs from paramscope's added formulas (``_added_lines``)."""
    return [clean(row.path) or "(root)",
            *(_macs(row.macs.get(n)) + ("*" if row.added.get(n) else "") for n in report.backends),
            f"{row.max_rel_diff:.1%}", row.explanation or ""]


def _heads(report: AuditReport) -> list[str]:
    return ["module", *(f"{n} MACs" for n in report.backends), "max diff", "why"]


def _added_lines(report: AuditReport) -> list[str]:
    if not (added := report.added_rules):
        return []
    rules = "; ".join(f"{n}: {', '.join(r)}" for n, r in added.items())
    return [f"* includes MACs from paramscope's added formulas, not the library's own ({rules})"]


def _error_lines(report: AuditReport) -> list[str]:
    return [f"{name}: not compared ({error})" for name, error in report.errors.items()]


def render_audit(report: AuditReport, *, only_flagged: bool = False) -> RenderableType:
    """A table with one row per module and one MACs column per backend.

    Rows whose backends disagree by more than 1% are shown in bold red with the reason, where known.
    """
    view = AuditView(report, only_flagged)
    table = Table(title="MACs per module, by backend", show_lines=False)
    for i, head in enumerate(_heads(report)):
        table.add_column(head, justify="left" if i == 0 or head == "why" else "right", overflow="fold")
    for row in view.rows:
        table.add_row(*(Text(c) for c in _cells(report, row)), style="bold red" if row.flagged else None)
    return Group(table, *(Text(line) for line in _added_lines(report)),
                 *(Text(line, style="yellow") for line in _error_lines(report)))


def _md(v: AuditView) -> str:
    heads = _heads(v.report)
    out = ["### MACs per module, by backend", "", "| " + " | ".join(heads) + " |",
           "| " + " | ".join("---" if i == 0 or h == "why" else "---:" for i, h in enumerate(heads)) + " |"]
    for row in v.rows:
        cells = _cells(v.report, row)
        out.append(md_row([f"**{cells[0]}**" if row.flagged else cells[0], *cells[1:]]))
    lines = _added_lines(v.report) + _error_lines(v.report)
    return "\n".join(out + ([""] + [f"- {line}" for line in lines] if lines else [])) + "\n"


def _csv(v: AuditView) -> str:
    """Exact integers, one column per backend (empty where a backend failed)."""
    names = v.report.backends
    return csv_text([("path", *(f"{n}_macs" for n in names), "max_rel_diff", "flagged", "explanation"),
                     *((row.path, *(row.macs.get(n) for n in names), f"{row.max_rel_diff:.6f}", int(row.flagged),
                        row.explanation) for row in v.rows)])


def audit_to_dict(report: AuditReport) -> dict[str, Any]:
    """Schema ``paramscope.audit/1``: each backend's inclusive MACs per module, exact ints."""
    return {
        "schema": "paramscope.audit/1",
        "backends": list(report.backends),
        "errors": dict(report.errors),
        "modules": [
            {"path": r.path, "macs": dict(r.macs), "max_rel_diff": r.max_rel_diff, "flagged": r.flagged,
             "explanation": r.explanation, "added_macs": dict(r.added)}
            for r in report.rows
        ],
        "added_rules": {name: list(rules) for name, rules in report.added_rules.items()},
        "uncounted": {
            name: [{"name": u.name, "count": u.count, "where": list(u.where)} for u in count.uncounted]
            for name, count in report.counts.items()
        },
        "notes": {name: list(count.notes) for name, count in report.counts.items()},
    }


def _dict(v: AuditView) -> Mapping[str, Any]:
    return audit_to_dict(v.report)


AUDIT: Kind[AuditView] = Kind("audit", table=lambda v: render_audit(v.report, only_flagged=v.only_flagged),
                              md=_md, csv=_csv, to_dict=_dict)
