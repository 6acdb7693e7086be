"""Render a ``LatencyReport``: a Rich table with the hook overhead and self-sum check, markdown, JSON."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rich.table import Table
from rich.text import Text

from paramscope.profiler.choices import Clock
from paramscope.profiler.latency import LatencyReport, Timing
from paramscope.profiler.render.text import clean, md_row

__all__ = ["latency_table", "latency_markdown", "latency_to_dict", "latency_summary"]


def _ms(x: float) -> str:
    return f"{x:,.3f}"


def _spread(t: Timing) -> str:
    return f"{_ms(t.p10_ms)}-{_ms(t.p90_ms)}"


SPREAD_WARNING = 0.5
"""A p10-p90 spread wider than this share of the median is said (the machine is busy)."""


def spread_warning(report: LatencyReport) -> str | None:
    """A line when the whole-model times spread over more than half their median, else None."""
    t = report.total_ms
    if t.median_ms <= 0 or (t.p90_ms - t.p10_ms) <= SPREAD_WARNING * t.median_ms:
        return None
    advice = "more --repeats" if report.clock is Clock.THREAD else "--clock thread or more --repeats"
    return (f"warning: p10-p90 spread is {100 * (t.p90_ms - t.p10_ms) / t.median_ms:.0f}% of the median: "
            f"the machine is busy or the times are too short; try {advice}")


def latency_summary(report: LatencyReport) -> str:
    """Two lines: whole-model time and hook overhead; the self-time check; a warning when spread out."""
    t, h = report.total_ms, report.hooked_total_ms
    warning = spread_warning(report)
    return ((
        f"whole model (no hooks): median {_ms(t.median_ms)} ms (p10-p90 {_spread(t)}) on {report.device}, "
        f"{report.clock.value} clock, {report.threads} thread(s), {report.repeats} repeats after "
        f"{report.warmup} warm-up; hooked {_ms(h.median_ms)} ms, "
        f"hook overhead {report.hook_overhead_ms:+,.3f} ms\n"
        f"sum of self times {_ms(report.self_sum_ms)} ms vs hooked whole model: "
        f"{report.self_sum_diff_ms:+,.3f} ms ({report.self_sum_vs_total_pct:+.1f}%); "
        f"vs the unhooked time {report.self_sum_vs_unhooked_pct:+.1f}%"
    ) + ("" if warning is None else f"\n{warning}"))


def latency_table(report: LatencyReport, *, top: int | None = None) -> Table:
    """Per-module median inclusive and self time (ms), spread and calls; summary as caption."""
    rows = list(report.rows)
    if top is not None:
        rows = sorted(rows, key=lambda r: r.self_ms.median_ms, reverse=True)[:top]
    table = Table(title=f"Forward latency per module ({report.device})", caption=latency_summary(report),
                  caption_justify="left")
    table.add_column("module", overflow="fold")
    table.add_column("type")
    table.add_column("calls", justify="right")
    table.add_column("inclusive ms", justify="right")
    table.add_column("p10-p90", justify="right")
    table.add_column("self ms", justify="right", style="bold")
    table.add_column("self %", justify="right")
    base = report.self_sum_ms or 1.0
    for r in rows:
        table.add_row(Text(clean(r.path) or "<root>"), r.type, str(r.calls), _ms(r.inclusive_ms.median_ms),
                      _spread(r.inclusive_ms), _ms(r.self_ms.median_ms), f"{100 * r.self_ms.median_ms / base:.1f}")
    return table


def latency_markdown(report: LatencyReport) -> str:
    """A markdown table of the rows, followed by the summary lines."""
    lines = ["| module | type | calls | inclusive ms | p10-p90 | self ms |", "|---|---|---:|---:|---:|---:|"]
    for r in report.rows:
        lines.append(md_row([r.path or "<root>", r.type, str(r.calls), _ms(r.inclusive_ms.median_ms),
                             _spread(r.inclusive_ms), _ms(r.self_ms.median_ms)]))
    summary = latency_summary(report).replace("\n", "  \n")
    return "\n".join(lines) + "\n\n" + summary + "\n"


def latency_to_dict(report: LatencyReport) -> dict[str, Any]:
    """JSON-ready dict: times are float milliseconds, nested ``Timing``s become dicts."""
    return asdict(report) | {"rows": [asdict(r) for r in report.rows]}
