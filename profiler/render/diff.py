"""The ``diff`` report: two models' totals and every submodule that differs, both values side by side."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from rich.table import Table
from rich.text import Text

from paramscope.profiler.diff import ModelDiff
from paramscope.profiler.render.fit import droppable
from paramscope.profiler.render.formats import Kind, csv_text
from paramscope.profiler.render.text import clean, md_row
from paramscope.profiler.render.units import fmt_int
from paramscope.profiler.stats import Profile
from paramscope.profiler.paths import is_within
from paramscope.profiler.sweep import ModuleDelta, changed_modules

__all__ = ["DIFF", "DiffView"]

JSON_SCHEMA = "paramscope.diff/1"
_HEADS = ("module", "base params", "other params", "delta", "delta %", "base MACs", "other MACs", "MACs delta")


@dataclass(frozen=True)
class DiffView:
    diff: ModelDiff
    module: str | None = None
    """A submodule to show in both models even when it did not change (``--module``)."""

    @cached_property
    def under(self) -> list[ModuleDelta]:
        """With ``--module``: every changed submodule at or under it, at any depth."""
        if self.module is None:
            return []
        d = self.diff
        return [c for c in changed_modules(d.other, d.base, depth=1 << 30) if is_within(c.path, self.module)]

    @property
    def rows(self) -> list[ModuleDelta]:
        """The totals and the changed submodules (to depth 2); with ``--module`` also every changed
        submodule under it, or the module itself with both values when nothing under it changed."""
        d = self.diff
        total = ModuleDelta("", d.other.total.params, d.base.total.params, d.other.total.macs, d.base.total.macs)
        if self.module is None:
            return [total, *d.changed]
        shown = {c.path for c in d.changed}
        extra = [c for c in self.under if c.path not in shown]
        if self.module not in shown and not any(c.path == self.module for c in extra):
            (params, macs), (base_params, base_macs) = _at(d.other, self.module), _at(d.base, self.module)
            extra.append(ModuleDelta(self.module, params, base_params, macs, base_macs))
        return [total, *d.changed, *extra]


def _at(profile: Profile, path: str) -> tuple[int, int | None]:
    try:
        m = profile.get(path)
    except KeyError:  # the module exists in one model only
        return 0, 0
    return m.params, m.macs


def _signed(n: int | None) -> str:
    return "-" if n is None else f"{n:+,}"


def _pct(delta: int, base: int) -> str:
    return f"{100.0 * delta / base:+.2f}%" if base else "-"


def _cells(r: ModuleDelta) -> list[str]:
    dm = None if r.macs is None or r.baseline_macs is None else r.macs - r.baseline_macs
    return [clean(r.path) or "(total)", fmt_int(r.baseline_params), fmt_int(r.params), _signed(r.delta_params),
            _pct(r.delta_params, r.baseline_params), fmt_int(r.baseline_macs), fmt_int(r.macs), _signed(dm)]


def _caption(d: ModelDiff) -> str:
    verdict = "the models differ" if d.differs else "no difference in parameters or MACs"
    return f"base: {d.base.model}; other: {d.other.model}; {verdict}"


def _table(v: DiffView) -> Table:
    table = Table(title=f"diff: {v.diff.base.model} -> {v.diff.other.model}", title_justify="left",
                  caption=_caption(v.diff), caption_justify="left")
    for i, head in enumerate(_HEADS):
        table.add_column(head, justify="left" if i == 0 else "right")
    for i, r in enumerate(v.rows):
        table.add_row(*(Text(c) for c in _cells(r)), style="bold" if i == 0 else None)
    return droppable(table, "delta %", "base MACs", "other MACs")


def _md(v: DiffView) -> str:
    out = [f"### diff: {v.diff.base.model} -> {v.diff.other.model}", "", "| " + " | ".join(_HEADS) + " |",
           "|---|" + "---:|" * (len(_HEADS) - 1), *(md_row(_cells(r)) for r in v.rows), "", f"- {_caption(v.diff)}"]
    return "\n".join(out) + "\n"


def _csv(v: DiffView) -> str:
    return csv_text([("path", "baseline_params", "params", "delta_params", "baseline_macs", "macs"),
                     *((r.path, r.baseline_params, r.params, r.delta_params, r.baseline_macs, r.macs) for r in v.rows)])


def _side(p: Profile) -> dict[str, Any]:
    return {"model": p.model, "params": p.total.params, "macs": p.total.macs, "flops": p.total.flops,
            "flops_backend": p.flops_backend, "config": p.config}


def _delta(r: ModuleDelta) -> dict[str, Any]:
    return {"path": r.path, "params": r.params, "baseline_params": r.baseline_params,
            "delta_params": r.delta_params, "macs": r.macs, "baseline_macs": r.baseline_macs}


def _dict(v: DiffView) -> Mapping[str, Any]:
    d = v.diff
    doc: dict[str, Any] = {"schema": JSON_SCHEMA, "base": _side(d.base), "other": _side(d.other),
                           "differs": d.differs, "changed": [_delta(c) for c in d.changed]}
    if v.module is not None:
        doc["module"] = {**_delta(next(r for r in v.rows if r.path == v.module)),
                         "changed": [_delta(c) for c in v.under]}
    return doc


DIFF: Kind[DiffView] = Kind("diff", table=_table, md=_md, csv=_csv, to_dict=_dict)
