"""The ``whatif --plot`` chart: params and MACs as lines by knob, a baseline per workload value.

The data (``plot_lines``) is computed apart from drawing so that tests can check what the chart
shows; ``sweep_plot`` draws it with matplotlib as small multiples (one panel per metric).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from paramscope.profiler.sweep import Axis, Sweep, Variant

__all__ = ["Line", "plot_lines", "sweep_plot"]

METRICS = ("params", "macs")


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a panel: y over the x knob's values (None where a variant failed)."""

    metric: str
    """``params`` or ``macs``."""
    label: str
    role: str
    """``variant``, ``baseline`` (the base design at one workload value) or ``module`` (``--module``)."""
    ys: tuple[float | None, ...]


def _x_axis(axes: Sequence[Axis]) -> int:
    """The knob along x: the design knob with the most values (else any knob with the most)."""
    return max(range(len(axes)), key=lambda i: (len(axes[i].values), axes[i].kind == "design", -i))


def _value(profile: Any, metric: str, path: str = "") -> float | None:
    if profile is None:
        return None
    if path:
        try:
            row = profile.get(path)
        except KeyError:
            return 0.0
    else:
        row = profile.total
    v = row.params if metric == "params" else row.macs
    return None if v is None else float(v)


def plot_lines(sweep: Sweep, module: str | None = None) -> tuple[Axis, list[Line]]:
    """The x knob and every line: per combination of the other knobs, the variants (and the
    ``module``'s share of them); per workload value, the base design's figure."""
    xi = _x_axis(sweep.axes)
    x = sweep.axes[xi]
    others = [a for i, a in enumerate(sweep.axes) if i != xi]
    series: dict[tuple[Any, ...], dict[Any, Variant]] = {}
    for v in sweep.variants:
        series.setdefault(tuple(v.knobs[a.label] for a in others), {})[v.knobs[x.label]] = v
    lines: list[Line] = []
    for metric in METRICS:
        if metric == "macs" and sweep.base.total.macs is None:
            continue
        for key, by_x in series.items():
            name = ", ".join(f"{a.label}={k}" for a, k in zip(others, key, strict=True)) or x.label
            row = [by_x.get(xv) for xv in x.values]
            lines.append(Line(metric, name, "variant", tuple(_value(v.profile if v else None, metric) for v in row)))
            if module is not None:
                lines.append(Line(metric, f"{module} ({name})", "module",
                                  tuple(_value(v.profile if v else None, metric, module) for v in row)))
        lines += _baselines(sweep, x, others, series, metric)
    return x, lines


def _baselines(sweep: Sweep, x: Axis, others: Sequence[Axis], series: dict[tuple[Any, ...], dict[Any, Variant]],
               metric: str) -> list[Line]:
    """One baseline per workload value: the base design where every variant of that workload is compared."""
    work = [i for i, a in enumerate(others) if a.kind == "workload"]
    seen: dict[tuple[Any, ...], Line] = {}
    for key, by_x in series.items():
        wkey = tuple(key[i] for i in work)
        if wkey in seen:
            continue
        label = "base" + (f" ({', '.join(f'{others[i].label}={key[i]}' for i in work)})" if work else "")
        ys = tuple(_value(by_x[xv].baseline if xv in by_x else None, metric) for xv in x.values)
        if x.kind == "design":  # the base design does not move along a design knob: one level
            level = next((y for y in ys if y is not None), None)
            ys = tuple(level for _ in ys)
        seen[wkey] = Line(metric, label, "baseline", ys)
    return list(seen.values())


def sweep_plot(sweep: Sweep, module: str | None = None) -> bytes:
    """PNG bytes: one panel per metric (parameters, MACs), a line per variant series by the x knob."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, lines = plot_lines(sweep, module)
    metrics = [m for m in METRICS if any(line.metric == m for line in lines)]
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in x.values)
    xs = list(x.values) if numeric else list(range(len(x.values)))
    n_series = sum(1 for line in lines if line.metric == metrics[0] and line.role == "variant")
    fig, axes = plt.subplots(1, len(metrics), figsize=(6.0 * len(metrics) + 2.5, 4.8), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        colors = iter(plt.get_cmap("tab20" if n_series > 10 else "tab10").colors)  # type: ignore[attr-defined]
        color: Any = None
        for line in (ln for ln in lines if ln.metric == metric):
            scale = 1e6 if metric == "params" else 1e9
            ys = [float("nan") if y is None else y / scale for y in line.ys]
            if line.role == "variant":
                color = next(colors)
                ax.plot(xs, ys, marker="o", ms=3, lw=1.2, color=color, label=line.label)
            elif line.role == "module":
                ax.plot(xs, ys, ls=":", lw=2.6, color=color, label=line.label)
            else:
                ax.plot(xs, ys, ls="--", lw=1.0, color="0.35", label=line.label)
        ax.set_xlabel(f"{x.label} ({x.kind})")
        ax.set_ylabel("parameters (millions)" if metric == "params" else "MACs (billions)")
        ax.set_title(("parameters" if metric == "params" else "MACs per forward")
                     + (f"; {module} dotted" if module else ""), fontsize=10)
        if not numeric:
            ax.set_xticks(xs, [str(v) for v in x.values], fontsize=8)
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="center right", ncol=2 if len(labels) > 16 else 1)
    fig.suptitle(f"what if: {sweep.base.model}")
    fig.tight_layout(rect=(0.0, 0.0, 0.78 if len(labels) > 16 else 0.84, 1.0))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()
