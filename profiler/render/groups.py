"""Render a ``GroupReport``: Rich table, markdown, JSON dict and the warning lines."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rich.table import Table
from rich.text import Text

from paramscope.profiler.groups import IGNORE, GroupReport, ParamGroup
from paramscope.profiler.render.formats import Kind, csv_text
from paramscope.profiler.render.text import clean, md_row
from paramscope.profiler.render.units import fmt_int, fmt_pct, human

__all__ = ["GROUPS", "GroupsView", "JSON_SCHEMA", "groups_markdown", "groups_table", "groups_to_dict", "warning_lines"]

JSON_SCHEMA = "paramscope.groups/1"
_EXAMPLES = 3


def _keywords(g: ParamGroup) -> str:
    """``core (24), input_proj (2), backbone (0)``; ``(rest)`` for a rest-only group."""
    if not g.keywords:
        return "(rest)"
    return ", ".join(f"{k} ({n})" for k, n in g.keyword_hits)


def _elements(n: int) -> str:
    return f"{fmt_int(n)} ({human(n)})" if n >= 1000 else fmt_int(n)


def _examples(g: ParamGroup) -> str:
    more = f", ... (+{g.tensors - _EXAMPLES})" if g.tensors > _EXAMPLES else ""
    return ", ".join(g.names[:_EXAMPLES]) + more


def _rest_note(report: GroupReport, g: ParamGroup) -> str:
    received = g.tensors - g.matched
    return f" ({received} unmatched)" if received and g.keywords else ""


def groups_table(report: GroupReport, title: str | None = None) -> Table:
    """One row per group: tensors, elements, share of all elements, keyword hits, example names."""
    table = Table(title=title, caption="first matching group wins; keyword (parameters it assigned)")
    for name, justify in (("group", "left"), ("tensors", "right"), ("elements", "right"), ("% elements", "right"),
                          ("keywords (hits)", "left"), ("example names", "left")):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    empty = {g.name for g in report.empty_groups}
    for g in report.groups:
        style = "bold red" if g.name in empty else None
        table.add_row(*(Text(clean(c)) for c in (g.name, f"{g.tensors}{_rest_note(report, g)}", _elements(g.elements),
                      fmt_pct(g.elements, report.total_elements), _keywords(g), _examples(g))), style=style)
    if report.ignored:
        table.add_row(f"({IGNORE})", str(len(report.ignored)), "", "", "--rest ignore", ", ".join(report.ignored[:_EXAMPLES]),
                      style="dim")
    table.add_section()
    table.add_row("total", str(report.total_tensors), _elements(report.total_elements),
                  "100.0%" if report.total_elements else "-", "", "", style="bold")
    return table


def groups_markdown(report: GroupReport) -> str:
    """A markdown table with the same columns as ``groups_table`` (warnings: ``warning_lines``)."""
    lines = ["| group | tensors | elements | % elements | keywords (hits) | example names |",
             "|---|---:|---:|---:|---|---|"]
    for g in report.groups:
        lines.append(md_row([g.name, f"{g.tensors}{_rest_note(report, g)}", fmt_int(g.elements),
                             fmt_pct(g.elements, report.total_elements), _keywords(g), _examples(g)]))
    lines.append(f"| **total** | {report.total_tensors} | {fmt_int(report.total_elements)} | 100.0% | | |")
    return "\n".join(lines) + "\n\nfirst matching group wins; keyword (parameters it assigned)\n"


def groups_to_dict(report: GroupReport) -> dict[str, Any]:
    """JSON-ready dict (schema ``paramscope.groups/1``); element counts are exact ints."""
    return {
        "schema": JSON_SCHEMA,
        "rest": report.rest,
        "total_tensors": report.total_tensors,
        "total_elements": report.total_elements,
        "groups": [
            {"name": g.name, "keywords": list(g.keywords), "tensors": g.tensors, "elements": g.elements,
             "share": g.elements / report.total_elements if report.total_elements else None,
             "matched": g.matched, "keyword_hits": dict(g.keyword_hits), "names": list(g.names)}
            for g in report.groups
        ],
        "empty_groups": [g.name for g in report.empty_groups],
        "unmatched": list(report.unmatched),
        "ignored": list(report.ignored),
        "overlaps": [{"name": o.name, "groups": [{"group": g, "keyword": k} for g, k in o.matches]}
                     for o in report.overlaps],
        "clean": report.clean,
    }


def _list(names: tuple[str, ...], limit: int = 5) -> str:
    return ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")


def warning_lines(report: GroupReport) -> list[str]:
    """``warning:`` / ``note:`` lines: empty groups, unplaced parameters, overlapping keywords."""
    lines = [
        f"warning: group '{g.name}' matched no parameter (keywords: {', '.join(g.keywords)}); "
        f"parameter names look like: {_list(report.sample_names)}"
        for g in report.empty_groups
    ]
    if report.unmatched and report.rest is None:
        lines.append(f"warning: {len(report.unmatched)} parameters matched no keyword and went to group "
                     f"'unmatched': {_list(report.unmatched)}; place them on purpose with --rest GROUP")
    elif report.ignored:
        lines.append(f"note: {len(report.ignored)} parameters matched no keyword and are in no group "
                     f"(--rest ignore): {_list(report.ignored)}")
    if report.overlaps:
        shown = "; ".join(
            f"{o.name} ({o.matches[0][0]} via '{o.matches[0][1]}', also "
            + ", ".join(f"{g} via '{k}'" for g, k in o.matches[1:]) + ")"
            for o in report.overlaps[:5]
        )
        more = f"; ... (+{len(report.overlaps) - 5})" if len(report.overlaps) > 5 else ""
        lines.append(f"note: {len(report.overlaps)} parameters match keywords of more than one group; "
                     f"the first group wins: {shown}{more}")
    return lines


@dataclass(frozen=True)
class GroupsView:
    model: str
    report: GroupReport


def _csv(v: GroupsView) -> str:
    """One row per group: exact counts, keywords joined by ``;``."""
    total = v.report.total_elements
    return csv_text([("group", "tensors", "elements", "share", "matched", "keywords"),
                     *((g.name, g.tensors, g.elements, f"{g.elements / total:.6f}" if total else None, g.matched,
                        ";".join(g.keywords)) for g in v.report.groups)])


def _dict(v: GroupsView) -> Mapping[str, Any]:
    return {**groups_to_dict(v.report), "model": v.model}


GROUPS: Kind[GroupsView] = Kind(
    "groups", table=lambda v: groups_table(v.report, title=f"Parameter groups: {v.model}"),
    md=lambda v: f"### Parameter groups: {v.model}\n\n" + groups_markdown(v.report), csv=_csv, to_dict=_dict)
