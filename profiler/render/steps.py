"""Render ``StepsReport``s: a Rich table per run with its verdict, the verdict line, a JSON dict."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from paramscope.profiler.render.formats import Kind, csv_text
from paramscope.profiler.render.text import md_cell
from paramscope.profiler.render.units import fmt_int, human_bytes
from paramscope.profiler.steps import StepsReport, Verdict

__all__ = ["STEPS", "StepsView", "JSON_SCHEMA", "carry_label", "steps_table", "steps_to_dict", "steps_view", "verdict_line"]

JSON_SCHEMA = "paramscope.steps/1"


def carry_label(report: StepsReport, only_graph: bool = False) -> str:
    """``stats.updated_memory -> memory, ...`` (only links whose value has a grad_fn if asked)."""
    links = [c for c in report.carry if c.carries_graph or not only_graph]
    return ", ".join(f"{c.output} -> {c.input}" for c in links)


def _growth(report: StepsReport) -> str:
    lo, hi = min(report.steady_growth), max(report.steady_growth)
    return f"{lo:,}" if lo == hi else f"{lo:,} to {hi:,}"


def verdict_line(report: StepsReport) -> str:
    """The one-line conclusion, e.g. ``graph grows by 39 nodes per step: ... (carry: a -> b)``."""
    v = report.verdict
    first = " (from step 3; step 1 ran without carried state)"
    if v is Verdict.CONSTANT:
        how = "carried tensors detached" if report.detach else "no graph carried across steps"
        return f"constant per step: {report.rows[-1].graph_nodes:,} graph nodes ({how})"
    if v is Verdict.VARIES:
        return f"graph size varies per step: growth {', '.join(f'{g:,}' for g in report.steady_growth)}{first}"
    culprits = carry_label(report, only_graph=True)
    if report.detach or not culprits:
        return (f"graph grows by {_growth(report)} nodes per step, but no carried tensor holds it: "
                f"the model keeps graph-bearing state elsewhere (a buffer or attribute)")
    return (f"graph grows by {_growth(report)} nodes per step: a carried tensor is not detached "
            f"(carry: {culprits}); feed back .detach()-ed values (see --detach)")


_CAPTION = "graph nodes: grad_fn nodes reachable from the outputs; saved: storages saved for backward still held"
_HEADS = ("step", "graph nodes", "growth", "saved for backward", "growth (bytes)")


def _cells(report: StepsReport) -> list[list[str]]:
    out, prev = [], None
    for r in report.rows:
        grow = "" if r.growth_nodes is None else f"{r.growth_nodes:+,}"
        grow_bytes = "" if prev is None else f"{r.saved_bytes - prev:+,}"
        out.append([str(r.step), fmt_int(r.graph_nodes), grow, human_bytes(r.saved_bytes), grow_bytes])
        prev = r.saved_bytes
    return out


def steps_table(report: StepsReport, title: str | None = None) -> Table:
    """One row per step: graph nodes, growth vs the previous step, saved bytes the graph holds."""
    table = Table(title=title, caption=_CAPTION)
    for name in _HEADS:
        table.add_column(name, justify="right")
    for r, cells in zip(report.rows, _cells(report), strict=True):
        table.add_row(*cells, style="bold red" if r.step >= 3 and (r.growth_nodes or 0) > 0 else None)
    return table


def _title(r: StepsReport, model: str) -> str:
    label = "carried values detached" if r.detach else "carried values fed back as they are"
    return f"Autograd graph per step: {model} ({label}, {r.device})"


def steps_view(reports: Sequence[StepsReport], model: str) -> Group:
    """Each run's table followed by its verdict (red when the graph grows)."""
    parts: list[Any] = []
    for r in reports:
        parts.append(steps_table(r, title=_title(r, model)))
        parts.append(Text(f"carry: {carry_label(r)}"))
        parts.append(Text(verdict_line(r), style="bold red" if r.grows else "bold green"))
    return Group(*parts)


def steps_to_dict(report: StepsReport) -> dict[str, Any]:
    """JSON-ready dict of one run; node counts and bytes are exact ints."""
    return {
        "detach": report.detach,
        "device": report.device,
        "carry": [{"output": c.output, "input": c.input, "carries_graph": c.carries_graph} for c in report.carry],
        "steps": [{"step": r.step, "graph_nodes": r.graph_nodes, "growth_nodes": r.growth_nodes,
                   "saved_bytes": r.saved_bytes} for r in report.rows],
        "steady_growth_nodes": list(report.steady_growth),
        "verdict": report.verdict.value,
        "verdict_line": verdict_line(report),
    }


@dataclass(frozen=True)
class StepsView:
    model: str
    reports: Sequence[StepsReport]
    """The run as given, then (``--detach``) the run with carried values detached."""


def _md(v: StepsView) -> str:
    out: list[str] = []
    for r in v.reports:
        out += [f"### {md_cell(_title(r, v.model))}", "", "| " + " | ".join(_HEADS) + " |", "|" + "---:|" * len(_HEADS)]
        out += ["| " + " | ".join(cells) + " |" for cells in _cells(r)]
        out += ["", f"- {_CAPTION}", f"- carry: {md_cell(carry_label(r))}", f"- **{md_cell(verdict_line(r))}**", ""]
    return "\n".join(out)


def _csv(v: StepsView) -> str:
    return csv_text([("detach", "step", "graph_nodes", "growth_nodes", "saved_bytes", "verdict"),
                     *((int(r.detach), row.step, row.graph_nodes, row.growth_nodes, row.saved_bytes, r.verdict.value)
                       for r in v.reports for row in r.rows)])


def _dict(v: StepsView) -> Mapping[str, Any]:
    return {"schema": JSON_SCHEMA, "model": v.model, "runs": [steps_to_dict(r) for r in v.reports]}


STEPS: Kind[StepsView] = Kind("steps", table=lambda v: steps_view(v.reports, v.model), md=_md, csv=_csv, to_dict=_dict)
