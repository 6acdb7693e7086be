"""Renderers for ``whatif``: Rich table, markdown, csv, json and a PNG chart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from paramscope.profiler.render.fit import droppable
from paramscope.profiler.render.formats import Kind, csv_text
from paramscope.profiler.render.text import clean, md_row
from paramscope.profiler.laws import Law
from paramscope.profiler.render.units import fmt_int, human
from paramscope.profiler.sweep import ModuleDelta, ScalingLaw, Status, Sweep, Variant

__all__ = ["WHATIF", "SweepView", "sweep_table", "sweep_markdown", "sweep_csv", "sweep_to_dict", "law_lines"]

JSON_SCHEMA = "paramscope.whatif/1"


def _delta_pct(delta: int | None, base: int | None) -> str:
    if delta is None or not base:
        return "-"
    return f"{100.0 * delta / base:+.2f}%"


def _signed(n: int | None) -> str:
    return "-" if n is None else f"{n:+,}"


def _changed_text(v: Variant, module: str | None, limit: int = 4) -> str:
    if v.status is not Status.OK:
        return v.reason or "failed"
    # a parent whose change is all in one child is named by the child only
    # and a submodule that only exists in the variant is part of its parent's change
    paths = {d.path for d in v.changed}
    deltas = [d for d in v.changed if (module is None or d.path == module) and not any(
        c.path.startswith(d.path + ".") and c.delta_params == d.delta_params for c in v.changed)
        and not (d.baseline_params == 0 and "." in d.path and d.path.rsplit(".", 1)[0] in paths)]
    deltas.sort(key=lambda d: -abs(d.delta_params))
    text = ", ".join(f"{d.path} {_signed(d.delta_params)}" for d in deltas[:limit] if d.delta_params)
    more = len([d for d in deltas if d.delta_params]) - limit
    return text + (f" (+{more} more)" if more > 0 else "") if text else "-"


def _module_value(v: Variant, path: str) -> tuple[int | None, int | None]:
    if v.profile is None:
        return None, None
    try:
        m = v.profile.get(path)
        return m.params, m.macs
    except KeyError:
        return 0, 0


def _row(sweep: Sweep, v: Variant, module: str | None) -> list[str]:
    """The cells of one variant, control characters escaped (names come from user code)."""
    return [clean(c) for c in _raw_row(sweep, v, module)]


def _raw_row(sweep: Sweep, v: Variant, module: str | None) -> list[str]:
    cells = [str(v.knobs[a.label]) for a in sweep.axes]
    if v.status is not Status.OK:
        return cells + ["failed", "", "", "", "", "", *([""] if module is not None else []), v.reason or ""]
    cells += [fmt_int(v.params), fmt_int(v.baseline_params), _signed(v.delta_params),
              _delta_pct(v.delta_params, v.baseline_params)]
    dm = None if v.macs is None or v.baseline_macs is None else v.macs - v.baseline_macs
    cells += [human(v.macs), _delta_pct(dm, v.baseline_macs)]
    if module is not None:
        p, _ = _module_value(v, module)
        cells.append(fmt_int(p))
    cells.append(_changed_text(v, None))
    return cells


def _heads(sweep: Sweep, module: str | None) -> list[str]:
    heads = [f"{a.label} ({a.kind[0]})" for a in sweep.axes]
    heads += ["params", "baseline", "delta", "delta %", "MACs", "MACs delta %"]
    if module is not None:
        heads.append(module)
    return heads + ["changed submodules"]


def _fmt_coeff(c: Fraction) -> str:
    return f"{int(c):,}" if c.denominator == 1 else f"{float(c):,.4g}"


def law_lines(sweep: Sweep) -> list[str]:
    """One sentence per fitted law worth saying (growth, or a changed module that stays constant).

    Parameter laws come first, then MACs laws; each names the base design it was fitted at.
    """
    out = []
    for metric in ("params", "macs"):
        changed = {d.path for v in sweep.variants for d in v.changed
                   if (d.delta_params if metric == "params" else d.macs is not None and d.macs != d.baseline_macs)}
        for law in sweep.laws:
            if law.metric != metric or (law.law is Law.CONSTANT and law.path not in changed):
                continue
            out.append(_law_sentence(law))
    return out


def _law_sentence(law: ScalingLaw) -> str:
    name = (law.path or "total") + (" MACs" if law.metric == "macs" else "")
    at = ", ".join([*(["the base design"] if law.base_design else []), *(f"{k}={v}" for k, v in law.fixed.items())])
    where = f" at {at}" if at else ""
    c = law.coefficients
    if law.law is Law.CONSTANT:
        return f"{name}: independent of {law.knob} ({_fmt_coeff(c[0])}{where})"
    if law.law is Law.LINEAR:
        return (f"{name}: linear in {law.knob}, {'+' if c[1] >= 0 else ''}{_fmt_coeff(c[1])} per unit of {law.knob}"
                f" (+ {_fmt_coeff(c[0])}){where}")
    if law.law is Law.QUADRATIC:
        return (f"{name}: quadratic in {law.knob}: {_fmt_coeff(c[2])}*{law.knob}^2 + {_fmt_coeff(c[1])}*{law.knob}"
                f" + {_fmt_coeff(c[0])}{where}")
    return f"{name}: neither constant, linear nor quadratic in {law.knob}{where}"


def _title(sweep: Sweep) -> str:
    return f"what if: {sweep.base.model}"


_LEGEND = ["(d) design knob: compared with the base design; (w) workload knob: both evaluated at this value"]


def sweep_table(sweep: Sweep, module: str | None = None) -> Any:
    title = f"{_title(sweep)} (base {sweep.base.total.params:,} params)"
    table = Table(title=title, title_justify="left")
    for i, h in enumerate(_heads(sweep, module)):
        table.add_column(h, justify="left" if i < len(sweep.axes) or h == "changed submodules" else "right")
    for v in sweep.variants:
        table.add_row(*[Text(c) for c in _row(sweep, v, module)], style="red" if v.status is not Status.OK else None)
    notes = [*_LEGEND, *law_lines(sweep)]
    table.caption = escape("\n".join(notes))
    table.caption_justify = "left"
    return Group(droppable(table, "baseline", "MACs delta %", "delta %"))


def sweep_markdown(sweep: Sweep, module: str | None = None) -> str:
    heads = _heads(sweep, module)
    out = [f"### {_title(sweep)}", "", "| " + " | ".join(heads) + " |",
           "| " + " | ".join("---" if i < len(sweep.axes) or h == "changed submodules" else "---:"
                             for i, h in enumerate(heads)) + " |"]
    for v in sweep.variants:
        out.append(md_row(_row(sweep, v, module)))
    notes = [*_LEGEND, *law_lines(sweep)]
    if notes:
        out += ["", *[f"- {line}" for line in notes]]
    return "\n".join(out) + "\n"


def sweep_csv(sweep: Sweep) -> str:
    return csv_text([
        (*(a.label for a in sweep.axes), "status", "params", "baseline_params", "delta_params", "macs", "baseline_macs",
         "reason"),
        *((*(v.knobs[a.label] for a in sweep.axes), v.status, v.params, v.baseline_params, v.delta_params, v.macs,
           v.baseline_macs, v.reason) for v in sweep.variants),
    ])


def _coeffs(c: Sequence[Fraction]) -> list[int | float]:
    return [int(x) if x.denominator == 1 else float(x) for x in c]


def sweep_to_dict(sweep: Sweep) -> dict[str, Any]:
    """Schema ``paramscope.whatif/1``: exact integers for params and MACs."""
    b = sweep.base.total
    return {
        "schema": JSON_SCHEMA,
        "model": sweep.base.model,
        "baseline": {"params": b.params, "macs": b.macs, "flops": b.flops, "config": sweep.base.config},
        "axes": [{"knob": a.label, "key": a.key, "kind": a.kind, "values": list(a.values)} for a in sweep.axes],
        "variants": [
            {
                "knobs": dict(v.knobs), "status": v.status, "reason": v.reason,
                "params": v.params, "baseline_params": v.baseline_params, "delta_params": v.delta_params,
                "delta_params_pct": (None if v.delta_params is None or not v.baseline_params
                                     else 100.0 * v.delta_params / v.baseline_params),
                "macs": v.macs, "baseline_macs": v.baseline_macs,
                "changed": [_delta_dict(d) for d in v.changed],
            }
            for v in sweep.variants
        ],
        "scaling": [{"path": law.path, "knob": law.knob, "metric": law.metric, "law": law.law,
                     "coefficients": _coeffs(law.coefficients), "fixed": dict(law.fixed),
                     "base_design": law.base_design} for law in sweep.laws],
        "flops_backend": sweep.metric_backend,
    }


@dataclass(frozen=True)
class SweepView:
    """A sweep and the submodule followed across it (``--module``)."""

    sweep: Sweep
    module: str | None = None


def _view_dict(v: SweepView) -> Mapping[str, Any]:
    return sweep_to_dict(v.sweep)


def _delta_dict(d: ModuleDelta) -> dict[str, Any]:
    return {"path": d.path, "params": d.params, "baseline_params": d.baseline_params,
            "delta_params": d.delta_params, "macs": d.macs, "baseline_macs": d.baseline_macs}


WHATIF: Kind[SweepView] = Kind(
    "whatif", table=lambda v: sweep_table(v.sweep, v.module), md=lambda v: sweep_markdown(v.sweep, v.module),
    csv=lambda v: sweep_csv(v.sweep), to_dict=_view_dict)
