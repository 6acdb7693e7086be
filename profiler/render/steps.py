"""Render ``StepsReport``s: a Rich table per run with its verdict, the verdict line, a JSON dict."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from paramscope.profiler.render.units import fmt_int, human_bytes
from paramscope.profiler.steps import StepsReport, Verdict

__all__ = ["JSON_SCHEMA", "carry_label", "steps_table", "steps_to_dict", "steps_view", "verdict_line"]

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


def steps_table(report: StepsReport, title: str | None = None) -> Table:
    """One row per step: graph nodes, growth vs the previous step, saved bytes the graph holds."""
    caption = "graph nodes: grad_fn nodes reachable from the outputs; saved: storages saved for backward still held"
    table = Table(title=title, caption=caption)
    for name in ("step", "graph nodes", "growth", "saved for backward", "growth (bytes)"):
        table.add_column(name, justify="right")
    prev: int | None = None
    for r in report.rows:
        grow = "" if r.growth_nodes is None else f"{r.growth_nodes:+,}"
        grow_bytes = "" if prev is None else f"{r.saved_bytes - prev:+,}"
        style = "bold red" if r.step >= 3 and (r.growth_nodes or 0) > 0 else None
        table.add_row(str(r.step), fmt_int(r.graph_nodes), grow, human_bytes(r.saved_bytes), grow_bytes, style=style)
        prev = r.saved_bytes
    return table


def steps_view(reports: Sequence[StepsReport], model: str) -> Group:
    """Each run's table followed by its verdict (red when the graph grows)."""
    parts: list[Any] = []
    for r in reports:
        label = "carried values detached" if r.detach else "carried values fed back as they are"
        parts.append(steps_table(r, title=f"Autograd graph per step: {model} ({label}, {r.device})"))
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
