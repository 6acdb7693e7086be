"""Exact scaling laws of a sweep: how params and MACs grow with one knob, the others at the base design."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from paramscope.profiler.stats import Profile

if TYPE_CHECKING:
    from paramscope.profiler.sweep import Axis, ModuleDelta, Variant

__all__ = ["Law", "ScalingLaw", "fit_law", "fit_laws"]


class Law(StrEnum):
    """How a count grows with a knob (exact fit)."""

    CONSTANT = "constant"
    LINEAR = "linear"
    QUADRATIC = "quadratic"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class ScalingLaw:
    """How a submodule's parameter count (or MACs) grows with one knob, the others at the base design."""

    path: str
    """Module path ("" = whole model)."""
    knob: str
    law: Law
    coefficients: tuple[Fraction, ...]
    """Polynomial coefficients, lowest power first (exact)."""
    fixed: Mapping[str, Any] = field(default_factory=dict)
    """The other knobs' values in the slice that was fitted (their base values when swept)."""
    metric: str = "params"
    """``params`` or ``macs``."""
    base_design: bool = False
    """True for a workload knob's law: fitted over the base design's own profiles (the baselines)."""



def fit_law(xs: Sequence[int | float], ys: Sequence[int]) -> tuple[Law, tuple[Fraction, ...]]:
    """Classify ``ys(xs)`` exactly as constant / linear / quadratic / other (needs 3+ points)."""
    pts = sorted({Fraction(x): Fraction(y) for x, y in zip(xs, ys, strict=True)}.items())
    if len(pts) < 3:
        return Law.OTHER, ()
    for degree, law in ((0, Law.CONSTANT), (1, Law.LINEAR), (2, Law.QUADRATIC)):
        coeffs = _poly_through(pts[: degree + 1])
        if all(_eval(coeffs, x) == y for x, y in pts) and (degree < 2 or len(pts) > 3 or coeffs[2] != 0):
            return law, coeffs
    return Law.OTHER, ()


def _poly_through(pts: Sequence[tuple[Fraction, Fraction]]) -> tuple[Fraction, ...]:
    """Exact coefficients (low power first) of the polynomial through ``pts`` (Newton form)."""
    n = len(pts)
    xs = [p[0] for p in pts]
    coef = [p[1] for p in pts]
    for j in range(1, n):
        for i in range(n - 1, j - 1, -1):
            coef[i] = (coef[i] - coef[i - 1]) / (xs[i] - xs[i - j])
    poly = [Fraction(0)] * n
    for i in range(n - 1, -1, -1):  # Horner on the Newton form: P = P * (x - x_i) + c_i
        poly = _mul_add([Fraction(0)] + poly[:-1], xs[i], coef[i])
    return tuple(poly)


def _mul_add(shifted: list[Fraction], x0: Fraction, c: Fraction) -> list[Fraction]:
    # shifted = P(x) * x (already shifted one power up); return P(x)*(x - x0) + c
    out = list(shifted)
    for k in range(len(out) - 1):
        out[k] -= x0 * shifted[k + 1]
    out[0] += c
    return out


def _eval(coeffs: Sequence[Fraction], x: Fraction) -> Fraction:
    return sum((c * x**k for k, c in enumerate(coeffs)), Fraction(0))


def fit_laws(axes: Sequence[Axis], variants: Sequence[Variant], own: Sequence[Any]) -> list[ScalingLaw]:
    """Laws of each numeric knob with 3+ values, fitted where the other knobs sit at the base design.

    A workload knob's law is the base design's (fitted over the baselines); a design knob's is
    fitted over the variants with the other knobs at their base values. ``own`` holds the base
    config's value of every axis; an axis whose base value was not swept is held at its first
    value instead (``ScalingLaw.fixed`` says which).
    """
    laws: list[ScalingLaw] = []
    for ai, axis in enumerate(axes):
        if len(axis.values) < 3 or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in axis.values):
            continue
        on_base = axis.kind == "workload"  # a workload law is the base design's (the baselines)
        fixed = {a.label: (o if o in a.values else a.values[0]) for j, (a, o) in enumerate(zip(axes, own, strict=True))
                 if j != ai and not (on_base and a.kind == "design")}
        points: dict[Any, Profile] = {}
        for v in variants:
            prof = v.baseline if on_base else v.profile
            if v.status == "ok" and prof is not None and all(v.knobs[k] == x for k, x in fixed.items()):
                points.setdefault(v.knobs[axis.label], prof)
        if len(points) < 3:
            continue
        xs, profs = list(points), list(points.values())
        for metric in ("params", "macs"):
            changed = {d.path for v in variants for d in v.changed if _delta(d, metric)}
            top = {m.path for p in profs for m in p.modules if m.depth == 1 or m.path in changed}
            for path in ["", *sorted(top)]:
                ys = [y for p in profs if (y := _metric_at(p, path, metric)) is not None]
                if len(ys) < len(profs):
                    continue  # MACs not measured (--flops none)
                law, coeffs = fit_law(xs, ys)
                laws.append(ScalingLaw(path, axis.label, law, coeffs, fixed, metric, on_base))
    return laws


def _delta(d: ModuleDelta, metric: str) -> bool:
    if metric == "params":
        return d.delta_params != 0
    return d.macs is not None and d.macs != d.baseline_macs


def _metric_at(profile: Profile | None, path: str, metric: str) -> int | None:
    if profile is None:
        return None
    if path == "":
        row: Any = profile.total
    else:
        try:
            row = profile.get(path)
        except KeyError:
            return 0
    value: int | None = row.params if metric == "params" else row.macs
    return value
