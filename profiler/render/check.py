"""The ``check`` report: each budget, its measured value and its limit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text

from paramscope.profiler.budget import BudgetResult
from paramscope.profiler.render.formats import Kind, csv_text
from paramscope.profiler.render.text import clean, md_row
from paramscope.profiler.render.units import fmt_int

__all__ = ["CHECK", "CheckView"]


@dataclass(frozen=True)
class CheckView:
    model: str
    results: Sequence[BudgetResult]


def _num(n: int | float | None) -> str:
    """Counts with thousands separators; milliseconds (latency) with three decimals."""
    if isinstance(n, float):
        return f"{n:,.3f} ms"
    return fmt_int(n)


def _line(r: BudgetResult) -> str:
    return f"{'ok  ' if r.ok else 'FAIL'} {clean(r.budget.text)}: {_num(r.value)} (limit {r.budget.op} {_num(r.budget.limit)})"


def _table(v: CheckView) -> Text:
    return Text("\n".join(_line(r) for r in v.results))


def _md(v: CheckView) -> str:
    out = [f"### Budgets: {v.model}", "", "| status | budget | value | limit |", "|---|---|---:|---:|"]
    out += [md_row(["ok" if r.ok else "**FAIL**", r.budget.text, _num(r.value), f"{r.budget.op} {_num(r.budget.limit)}"])
            for r in v.results]
    return "\n".join(out) + "\n"


def _csv(v: CheckView) -> str:
    return csv_text([("budget", "path", "metric", "value", "limit", "ok"),
                     *((r.budget.text, r.budget.path, r.budget.metric, r.value, r.budget.limit, int(r.ok))
                       for r in v.results)])


def _dict(v: CheckView) -> Mapping[str, Any]:
    return {"schema": "paramscope.check/1", "model": v.model, "ok": all(r.ok for r in v.results),
            "budgets": [{"budget": r.budget.text, "path": r.budget.path, "metric": r.budget.metric,
                         "value": r.value, "limit": r.budget.limit, "ok": r.ok} for r in v.results]}


CHECK: Kind[CheckView] = Kind("check", table=_table, md=_md, csv=_csv, to_dict=_dict)
