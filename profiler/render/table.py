"""Breakdown renderers: Rich table, markdown, csv and json, all from a ``Profile``."""

from __future__ import annotations

import dataclasses
import io
from enum import StrEnum
from collections.abc import Sequence
from typing import Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from paramscope.profiler.render.columns import choose
from paramscope.profiler.render.fit import droppable
from paramscope.profiler.render.formats import csv_text
from paramscope.profiler.render.text import assumed_line, clean, md_row
from paramscope.profiler.render.units import fmt_int, fmt_intensity, human, human_bytes, indent_path
from paramscope.profiler.stats import ModuleStats, Profile

__all__ = [
    "SortKey", "select_rows", "collapse_repeats", "breakdown_table", "breakdown_markdown", "breakdown_csv",
    "profile_to_dict", "footer_lines", "profile_text", "JSON_SCHEMA",
]

JSON_SCHEMA = "paramscope.breakdown/1"


class SortKey(StrEnum):
    """Row order of a breakdown (``--sort``)."""

    TREE = "tree"
    """``named_modules()`` order (with ``top``: largest parameters first)."""
    PARAMS = "params"
    MACS = "macs"
    NAME = "name"



def select_rows(profile: Profile, depth: int | None = 2, top: int | None = None,
                sort: SortKey = SortKey.TREE) -> list[ModuleStats]:
    """The rows to show: submodules down to ``depth`` (root excluded), sorted, the first ``top``."""
    sort = SortKey(sort)
    rows = [m for m in profile.modules if m.path and (depth is None or m.depth <= depth)]
    if sort is SortKey.PARAMS or (top is not None and sort is SortKey.TREE):
        rows.sort(key=lambda m: -m.params)
    elif sort is SortKey.MACS:
        rows.sort(key=lambda m: -(m.macs or 0))
    elif sort is SortKey.NAME:
        rows.sort(key=lambda m: m.path)
    if sort in ("params", "macs") or top is not None:
        rows = distinct_rows(rows, "macs" if sort == "macs" else "params")
    return rows[:top] if top is not None else rows


def distinct_rows(rows: list[ModuleStats], metric: str) -> list[ModuleStats]:
    """A ranking lists distinct contributors: a row is dropped when its shown children carry its
    whole ``metric`` (``encoder``, ``encoder.layers``, ``encoder.layers.0`` with one figure: the
    children stay). A module with a figure of its own (an attention's fused MACs) stays."""
    from paramscope.profiler.paths import parent_of

    children: dict[str, int] = {}
    has_children: set[str] = set()
    for m in rows:
        parent = parent_of(m.path)
        has_children.add(parent)
        children[parent] = children.get(parent, 0) + (getattr(m, metric) or 0)
    return [m for m in rows if not (m.path in has_children and children[m.path] == (getattr(m, metric) or 0))]


def _tree_order(rows: list[ModuleStats]) -> bool:
    """True when every row's parent is shown above it (indented as a tree); a ranking is flat."""
    from paramscope.profiler.paths import parent_of

    seen = {""}
    for m in rows:
        if parent_of(m.path) not in seen:
            return False
        seen.add(m.path)
    return True


def _index_of(path: str) -> tuple[str, int] | None:
    parent, _, last = path.rpartition(".")
    return (parent, int(last)) if last.isdigit() else None


def collapse_repeats(rows: list[ModuleStats], min_run: int = 3) -> list[ModuleStats]:
    """Fold runs of identical numbered siblings (``proj.0`` .. ``proj.5``) into one row.

    Only siblings of one type with equal params and MACs fold, and only when none of their
    children is shown; the folded row carries the sums, so the columns still add up.
    """
    out: list[ModuleStats] = []
    i = 0
    while i < len(rows):
        j = i + 1
        first = _index_of(rows[i].path)
        while first is not None and j < len(rows):
            nxt = _index_of(rows[j].path)
            if nxt is None or nxt[0] != first[0] or nxt[1] != first[1] + (j - i) or not _same(rows[i], rows[j]):
                break
            j += 1
        if first is not None and j - i >= min_run:
            run = rows[i:j]
            parent = out[-1] if out else None
            if (parent is not None and parent.path == first[0] and first[1] == 0
                    and parent.params == sum(m.params for m in run)
                    and parent.macs == (None if run[0].macs is None else sum(m.macs or 0 for m in run))
                    and parent.elementwise == _sum_elementwise(run) and parent.bytes == _sum_bytes(run)):
                # the run is the whole container (a ModuleList of blocks): say it on the parent's row
                out[-1] = dataclasses.replace(parent, type=f"{parent.type} ({len(run)} x {run[0].type})")
                i = j
                continue
            out.append(ModuleStats(
                path=f"{first[0]}.[{first[1]}-{first[1] + len(run) - 1}]", type=f"{len(run)} x {run[0].type}",
                depth=run[0].depth, params=sum(m.params for m in run), trainable=sum(m.trainable for m in run),
                frozen=sum(m.frozen for m in run), buffers=sum(m.buffers for m in run),
                macs=None if run[0].macs is None else sum(m.macs or 0 for m in run),
                calls=None if run[0].calls is None else sum(m.calls or 0 for m in run),
                elementwise=_sum_elementwise(run), bytes=_sum_bytes(run),
                roofline_ms=None if run[0].roofline_ms is None else sum(m.roofline_ms or 0.0 for m in run),
                bound=run[0].bound))
            i = j
        else:
            out.append(rows[i])
            i += 1
    return out


def _sum_elementwise(run: list[ModuleStats]) -> int | None:
    return None if run[0].elementwise is None else sum(m.elementwise or 0 for m in run)


def _sum_bytes(run: list[ModuleStats]) -> int | None:
    return None if run[0].bytes is None else sum(m.bytes or 0 for m in run)


def _same(a: ModuleStats, b: ModuleStats) -> bool:
    return (a.type, a.params, a.frozen, a.macs, a.elementwise, a.depth, a.is_param, a.shared_with, a.bytes,
            a.roofline_ms, a.bound) == (
        b.type, b.params, b.frozen, b.macs, b.elementwise, b.depth, b.is_param, b.shared_with, b.bytes,
        b.roofline_ms, b.bound)


def _has_macs(profile: Profile) -> bool:
    return profile.total.macs is not None


def _has_elementwise(profile: Profile) -> bool:
    return profile.total.elementwise is not None


def _has_bytes(profile: Profile) -> bool:
    return profile.total.bytes is not None


def _has_roofline(profile: Profile) -> bool:
    return profile.total.roofline_ms is not None


BYTES_NOTE = "Each op reads its inputs and writes its outputs once (no cache reuse across ops)."

ELEMENTWISE_NOTE = ("output elements of element-wise ops (activations, adds, norms, softmax: 1 per element "
                    "per op); not MACs, not in FLOPs")


def _cells(profile: Profile, m: ModuleStats, indent: bool, columns: Sequence[str] | None = None) -> list[str]:
    name = clean(indent_path(m.path, m.depth) if indent else m.path)
    return [name, *(c.cell(profile, m) for c in choose(profile, columns))]


def _headers(profile: Profile, columns: Sequence[str] | None = None) -> list[str]:
    return ["Module", *(c.header for c in choose(profile, columns))]


def _right(profile: Profile, columns: Sequence[str] | None = None) -> list[bool]:
    """Per column (Module first): right-aligned figures."""
    return [False, *(c.right for c in choose(profile, columns))]


def footer_lines(profile: Profile) -> list[str]:
    """Totals and caveats, one line each (shown under every table format)."""
    t = profile.total
    lines = [f"total params: {fmt_int(t.params)} (trainable {fmt_int(t.trainable)}, frozen {fmt_int(t.frozen)})"]
    if t.buffers:
        lines.append(f"buffers: {fmt_int(t.buffers)} elements, not counted as parameters")
    for sp in profile.shared:
        lines.append(f"shared: {sp.owner} is also {', '.join(sp.aliases)}: {fmt_int(sp.numel)} counted once")
    if t.macs is not None:
        lines.append(f"MACs per forward: {fmt_int(t.macs)} ({human(t.macs)}); "
                     f"FLOPs = 2 x MACs = {fmt_int(t.flops)} ({human(t.flops)}) [backend: {profile.flops_backend}]")
    if t.elementwise is not None:
        lines.append(f"elementwise: {fmt_int(t.elementwise)} ({human(t.elementwise)}) {ELEMENTWISE_NOTE}")
    if t.bytes is not None:
        lines.append(f"bytes moved per forward: {fmt_int(t.bytes)} ({human_bytes(t.bytes)}); "
                     f"{fmt_intensity(t.intensity)} FLOPs per byte. {BYTES_NOTE}")
    if t.backward_macs is not None:
        lines.append(f"backward MACs: {fmt_int(t.backward_macs)} ({human(t.backward_macs)}); "
                     f"forward + backward = {fmt_int(t.macs + t.backward_macs if t.macs else None)} MACs")
    if profile.input_shapes:
        shapes = ", ".join(f"{k}={list(v)}" for k, v in profile.input_shapes.items())
        lines.append(f"inputs: {shapes} on {profile.device}")
    for u in profile.uncounted:
        where = f" in {', '.join(w or '(root)' for w in u.where[:3])}" if u.where else ""
        more = f" and {len(u.where) - 3} more" if len(u.where) > 3 else ""
        lines.append(f"not counted: {u.name} x{u.count}{where}{more}")
    lines.extend(f"note: {n}" for n in profile.notes)
    lines.extend(assumption_lines(profile))
    return [clean(line) for line in lines]


def assumption_lines(profile: Profile) -> list[str]:
    """One ``assumed:`` line per assumption a meta forward made (values meta cannot know)."""
    lines = [assumed_line(a) for a in profile.assumptions]
    if any(a.affects for a in profile.assumptions):
        lines.append("~ marks MACs that follow the assumptions (which tokens reach an expert, which branch runs); "
                     "a top-k router's total does not depend on them")
    return lines


def breakdown_table(profile: Profile, rows: list[ModuleStats], columns: Sequence[str] | None = None) -> Table:
    """A Rich table of ``rows`` with totals; the largest rows are highlighted."""
    title = profile.model + (f"  ({profile.preset_of})" if profile.preset_of else "")
    table = Table(title=escape(title), title_justify="left", caption=escape("\n".join(footer_lines(profile))),
                  caption_justify="left", show_footer=False)
    for i, (head, right) in enumerate(zip(_headers(profile, columns), _right(profile, columns))):
        table.add_column(head, justify="right" if right else "left", no_wrap=i == 0)
    big = sorted((m.params for m in rows if not m.is_param), reverse=True)[:3]
    tree = _tree_order(rows)
    for m in rows:
        style = "bold" if big and m.params >= big[-1] and m.params > 0 and not m.is_param else None
        cells = [Text(c) for c in _cells(profile, m, indent=tree, columns=columns)]
        cells[0].stylize("italic" if m.is_param else "")
        table.add_row(*cells, style=style)
    table.add_section()
    total = ModuleStats(path="", type=profile.model_class, depth=0, params=profile.total.params,
                        trainable=profile.total.trainable, frozen=profile.total.frozen,
                        buffers=profile.total.buffers, macs=profile.total.macs,
                        elementwise=profile.total.elementwise, bytes=profile.total.bytes,
                        roofline_ms=profile.total.roofline_ms, bound=profile.total.bound)
    table.add_row(*(Text(c) for c in _cells(profile, total, indent=True, columns=columns)), style="bold")
    return droppable(table, "Mode", "dtype", "FLOPs", "% MACs", "% params", "Shared", "Type")


def breakdown_markdown(profile: Profile, rows: list[ModuleStats], columns: Sequence[str] | None = None) -> str:
    """A GitHub markdown table plus footer lines."""
    heads = _headers(profile, columns)
    aligns = ["---:" if right else "---" for right in _right(profile, columns)]
    out = [f"### {profile.model}" + (f" ({profile.preset_of})" if profile.preset_of else ""), "",
           "| " + " | ".join(heads) + " |", "| " + " | ".join(aligns) + " |"]
    for m in rows:
        cells = _cells(profile, m, indent=False, columns=columns)
        cells[0] = f"`{cells[0]}`"
        out.append(md_row(cells))
    total = ModuleStats(path="**total**", type=profile.model_class, depth=0, params=profile.total.params,
                        trainable=profile.total.trainable, frozen=profile.total.frozen,
                        buffers=profile.total.buffers, macs=profile.total.macs,
                        elementwise=profile.total.elementwise, bytes=profile.total.bytes,
                        roofline_ms=profile.total.roofline_ms, bound=profile.total.bound)
    out.append("| " + " | ".join(_cells(profile, total, indent=False, columns=columns)) + " |")
    out.append("")
    out.extend(f"- {line}" for line in footer_lines(profile))
    return "\n".join(out) + "\n"


def breakdown_csv(profile: Profile, rows: list[ModuleStats]) -> str:
    """CSV with raw integers (no separators), one row per module, the total last."""
    elem = _has_elementwise(profile)
    t = profile.total
    tot = ModuleStats("", "", 0, 0, 0, 0, 0, macs=t.macs, bytes=t.bytes, roofline_ms=t.roofline_ms, bound=t.bound)
    return csv_text([
        ("path", "type", "depth", "params", "trainable", "frozen", "buffers", "macs", "flops", "calls",
         *(["elementwise"] if elem else []), *_extra_heads(profile)),
        *((m.path, m.type, m.depth, m.params, m.trainable, m.frozen, m.buffers, m.macs, m.flops, m.calls,
           *([None if m.is_param else m.elementwise] if elem else []), *_extra_csv(profile, m)) for m in rows),
        ("", profile.model_class, 0, t.params, t.trainable, t.frozen, t.buffers, t.macs, t.flops, None,
         *([t.elementwise] if elem else []), *_extra_csv(profile, tot)),
    ])


def _extra_heads(profile: Profile) -> list[str]:
    return ((["bytes", "intensity"] if _has_bytes(profile) else [])
            + (["roofline_ms", "bound"] if _has_roofline(profile) else []))


def _extra_csv(profile: Profile, m: ModuleStats) -> list[int | float | str | None]:
    vals: list[int | float | str | None] = []
    if _has_bytes(profile):
        vals += [None, None] if m.is_param else [m.bytes, m.intensity]
    if _has_roofline(profile):
        vals += [None, None] if m.is_param else [m.roofline_ms, m.bound]
    return vals


def _module_dict(m: ModuleStats, elementwise: bool = False, moved: bool = False, roof: bool = False) -> dict[str, Any]:
    d: dict[str, Any] = {"path": m.path, "type": m.type, "depth": m.depth, "params": m.params,
                         "trainable": m.trainable, "frozen": m.frozen, "buffers": m.buffers,
                         "macs": m.macs, "flops": m.flops, "calls": m.calls}
    if elementwise:  # the key exists only when measured (--elementwise); null on parameter rows
        d["elementwise"] = None if m.is_param else m.elementwise
    if moved:  # --bytes / --hardware; null on parameter rows
        d["bytes"] = None if m.is_param else m.bytes
        d["intensity"] = None if m.is_param else m.intensity
    if roof:
        d["roofline_ms"] = None if m.is_param else m.roofline_ms
        d["bound"] = None if m.is_param else m.bound
    if m.is_param:
        d["is_parameter"] = True
    if m.shared_with:
        d["shared"] = list(m.shared_with)
    return d


def _with_layer(d: dict[str, Any], profile: Profile) -> dict[str, Any]:
    """Shapes and layer details of the module (``--columns`` with a shape or layer column)."""
    info = None if d.get("is_parameter") else profile.layers.get(d["path"])
    if info is not None:
        d.update(input_shapes=[list(s) for s in info.input_shapes], output_shapes=[list(s) for s in info.output_shapes],
                 layer=info.details, dtype=info.dtype, training=info.training)
    return d


def profile_to_dict(profile: Profile, rows: list[ModuleStats] | None = None) -> dict[str, Any]:
    """The documented JSON document (schema ``paramscope.breakdown/1``), exact integers."""
    t = profile.total
    elem = _has_elementwise(profile)
    total: dict[str, Any] = {"params": t.params, "trainable": t.trainable, "frozen": t.frozen,
                             "buffers": t.buffers, "macs": t.macs, "flops": t.flops,
                             "backward_macs": t.backward_macs}
    if elem:
        total["elementwise"] = t.elementwise
    moved, roof = _has_bytes(profile), _has_roofline(profile)
    if moved:
        total.update(bytes=t.bytes, intensity=t.intensity)
    if roof:
        total.update(roofline_ms=t.roofline_ms, bound=t.bound)
    return {
        "schema": JSON_SCHEMA,
        "model": profile.model,
        "model_class": profile.model_class,
        "source": profile.source,
        "preset_of": profile.preset_of,
        "device": profile.device,
        "inputs": {k: list(v) for k, v in profile.input_shapes.items()},
        "config": profile.config,
        "total": total,
        "flops_backend": profile.flops_backend,
        "modules": [_with_layer(_module_dict(m, elem, moved, roof), profile)
                    for m in (rows if rows is not None else [m for m in profile.modules if m.path])],
        "shared": [{"owner": s.owner, "aliases": list(s.aliases), "numel": s.numel} for s in profile.shared],
        "uncounted": [{"name": u.name, "count": u.count, "where": list(u.where)} for u in profile.uncounted],
        "notes": list(profile.notes),
        "assumptions": [{"op": a.op, "where": a.where, "line": a.line, "assumed": a.assumed, "count": a.count,
                         "read_by": list(a.read_by), "affects": list(a.affects)} for a in profile.assumptions],
    }


def profile_text(profile: Profile, *, depth: int | None = 2, top: int | None = None, width: int | None = None) -> str:
    """The breakdown table rendered to plain text (``Profile.table()``, ``print(profile)``), fitted as the
    CLI fits it: no figure is cut."""
    from rich.console import Console

    from paramscope.profiler.render.fit import fitted_text

    rows = select_rows(profile, depth=depth, top=top)
    if top is None:
        rows = collapse_repeats(rows)
    return fitted_text(breakdown_table(profile, rows), width or Console(file=io.StringIO()).width)  # $COLUMNS or 80
