"""Rich renderable for an ``AuditReport``: the backends side by side, disagreements highlighted."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from paramscope.profiler.audit import AuditReport

__all__ = ["render_audit"]


def _macs(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def render_audit(report: AuditReport, *, only_flagged: bool = False) -> RenderableType:
    """A table with one row per module and one MACs column per backend.

    Rows whose backends disagree by more than 1% are shown in bold red with the reason, where known.
    """
    table = Table(title="MACs per module, by backend", show_lines=False)
    table.add_column("module")
    for name in report.backends:
        table.add_column(f"{name} MACs", justify="right")
    table.add_column("max diff", justify="right")
    table.add_column("why")
    for row in report.rows:
        if only_flagged and not row.flagged:
            continue
        style = "bold red" if row.flagged else None
        cells = [row.path or "(root)",
                 *(_macs(row.macs.get(n)) + ("*" if row.added.get(n) else "") for n in report.backends)]
        table.add_row(*cells, f"{row.max_rel_diff:.1%}", row.explanation or "", style=style)
    parts: list[RenderableType] = [table]
    if added := report.added_rules:
        rules = "; ".join(f"{n}: {', '.join(r)}" for n, r in added.items())
        parts.append(Text(f"* includes MACs from paramscope's added formulas, not the library's own ({rules})"))
    for name, error in report.errors.items():
        parts.append(Text(f"{name}: not compared ({error})", style="yellow"))
    return Group(*parts)


def audit_to_dict(report: AuditReport) -> dict[str, object]:
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
