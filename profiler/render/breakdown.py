"""The ``breakdown`` report: the per-module table, with per-module latency when it was measured."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType

from paramscope.profiler.render import ops, table
from paramscope.profiler.render.formats import Kind, csv_text
from paramscope.profiler.stats import ModuleStats, Profile

if TYPE_CHECKING:  # profiler.latency imports torch; the renderers import it only when there is latency
    from paramscope.profiler.latency import LatencyReport

__all__ = ["BREAKDOWN", "BreakdownView"]


@dataclass(frozen=True)
class BreakdownView:
    """What ``breakdown`` shows: a profile, the rows chosen from it, and optional latency."""

    profile: Profile
    rows: Sequence[ModuleStats]
    latency: LatencyReport | None = None
    """Every module's latency (JSON has all of it; table, md and csv the rows down to ``depth``)."""
    depth: int | None = None
    top: int | None = None
    ops: str | None = None
    columns: tuple[str, ...] | None = None
    """The table/md columns (``--columns``; None: the default set)."""
    """A module path whose MACs are also shown by aten op (``--ops``)."""

    @property
    def shown_latency(self) -> LatencyReport | None:
        """The latency rows down to ``depth`` (the root stays), as the table shows them."""
        if self.latency is None or self.depth is None:
            return self.latency
        depth = self.depth
        rows = tuple(r for r in self.latency.rows if not r.path or r.path.count(".") < depth)
        return dataclasses.replace(self.latency, rows=rows)


def _why(v: BreakdownView, *, markdown: bool) -> str:
    """``--hardware``: one line per shown module saying what bounds its time (empty otherwise)."""
    from paramscope.profiler.render.roofline import why_lines

    lines = why_lines(v.profile, v.rows)
    return "\n".join(f"- {line}" if markdown else line for line in lines)


def _table(v: BreakdownView) -> RenderableType:
    parts: list[RenderableType] = [table.breakdown_table(v.profile, list(v.rows), v.columns)]
    if v.profile.roofline is not None:
        from rich.text import Text

        parts.append(Text("\n" + _why(v, markdown=False)))
    if (lat := v.shown_latency) is not None:
        from paramscope.profiler.render.latency import latency_table

        parts.append(latency_table(lat, top=v.top))
    if v.ops is not None:
        parts.append(ops.ops_table(v.profile, v.ops))
    return Group(*parts)


def _md(v: BreakdownView) -> str:
    text = table.breakdown_markdown(v.profile, list(v.rows), v.columns)
    if v.profile.roofline is not None:
        text += "\n" + _why(v, markdown=True) + "\n"
    if (lat := v.shown_latency) is not None:
        from paramscope.profiler.render.latency import latency_markdown

        text += "\n" + latency_markdown(lat)
    if v.ops is not None:
        text += "\n" + ops.ops_markdown(v.profile, v.ops)
    return text


def _csv(v: BreakdownView) -> str:
    """The breakdown csv; with latency, each row's median inclusive and self ms joined by path."""
    text = table.breakdown_csv(v.profile, list(v.rows))
    if v.latency is None:
        return text
    times = {r.path: (r.inclusive_ms.median_ms, r.self_ms.median_ms) for r in v.latency.rows}
    head, *rows = csv.reader(io.StringIO(text))
    return csv_text([(*head, "latency_ms", "self_ms"),
                     *((*row, *((None, None) if (ms := times.get(row[0])) is None else (f"{ms[0]:.6f}", f"{ms[1]:.6f}")))
                       for row in rows)])


def _dict(v: BreakdownView) -> Mapping[str, Any]:
    doc = table.profile_to_dict(v.profile)
    if v.profile.roofline is not None:
        from paramscope.profiler.render.roofline import roofline_to_dict

        doc["roofline"] = roofline_to_dict(v.profile.roofline)
    if v.latency is not None:
        from paramscope.profiler.render.latency import latency_to_dict

        doc["latency"] = latency_to_dict(v.latency)
    if v.ops is not None:
        doc["ops"] = ops.ops_dict(v.profile, v.ops)
    return doc


BREAKDOWN: Kind[BreakdownView] = Kind("breakdown", table=_table, md=_md, csv=_csv, to_dict=_dict)
