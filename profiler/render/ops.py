"""``breakdown --ops PATH``: which aten ops one module's MACs come from."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from paramscope.profiler.render.units import fmt_int, fmt_pct, human
from paramscope.profiler.stats import Profile

__all__ = ["ops_table", "ops_markdown", "ops_dict"]


def _rows(profile: Profile, path: str) -> list[tuple[str, int]]:
    return list(profile.ops_of(path).items())


def _title(profile: Profile, path: str) -> str:
    return f"MACs of {path or '(root)'} by op"


def ops_table(profile: Profile, path: str) -> Table:
    table = Table(title=_title(profile, path), title_justify="left")
    for head, justify in (("op", "left"), ("MACs", "right"), ("%", "right"), ("FLOPs", "right")):
        table.add_column(head, justify=justify)  # type: ignore[arg-type]
    rows = _rows(profile, path)
    total = sum(n for _, n in rows)
    for op, n in rows:
        table.add_row(op, fmt_int(n), fmt_pct(n, total), human(2 * n))
    if not rows:
        table.add_row("(no counted op)", "0", "", "0")
    return table


def ops_markdown(profile: Profile, path: str) -> str:
    rows = _rows(profile, path)
    total = sum(n for _, n in rows)
    out = [f"#### {_title(profile, path)}", "", "| op | MACs | % |", "| --- | ---: | ---: |"]
    out += [f"| `{op}` | {fmt_int(n)} | {fmt_pct(n, total)} |" for op, n in rows]
    return "\n".join(out) + "\n"


def ops_dict(profile: Profile, path: str) -> dict[str, Any]:
    return {"path": path, "macs": dict(_rows(profile, path))}
