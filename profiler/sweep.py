"""What-if sweeps: a grid of knob values, each variant against the base design at the same workload.

``--rank 192,384 --pred-len 96,720`` builds four variants and compares each rank with the
full-rank base model *at the same pred_len*, as the seed note does: design knobs (rank, hidden,
router_dim...) define the variant, workload knobs (pred_len, seq_len, batch_size) define where
both are evaluated.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from typing import Any

from paramscope.model_zoo import registry
from paramscope.profiler.errors import ConfigError, ParamscopeError
from paramscope.profiler.spec import ModelSpec, apply_overrides
from paramscope.profiler.stats import Profile

__all__ = [
    "KnobKind", "Status", "Law", "Axis", "Variant", "ModuleDelta", "ScalingLaw", "Sweep",
    "make_axes", "run_sweep", "fit_law", "changed_modules",
]

Progress = Callable[[int, int, str], None]


class KnobKind(StrEnum):
    """A design knob defines the variant; a workload knob is where variant and base are both evaluated."""

    DESIGN = "design"
    WORKLOAD = "workload"


class Status(StrEnum):
    """Whether a variant could be built and measured."""

    OK = "ok"
    FAILED = "failed"


class Law(StrEnum):
    """How a parameter count grows with a knob (exact fit)."""

    CONSTANT = "constant"
    LINEAR = "linear"
    QUADRATIC = "quadratic"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Axis:
    """One swept knob."""

    label: str
    """What the user typed: ``rank`` or ``slot_fuse.hidden``."""
    key: str
    """Resolved dotted key: ``args.slot_fuse.rank``."""
    values: tuple[Any, ...]
    kind: KnobKind
    implies: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class ModuleDelta:
    path: str
    params: int
    baseline_params: int
    macs: int | None = None
    baseline_macs: int | None = None

    @property
    def delta_params(self) -> int:
        return self.params - self.baseline_params


@dataclass(frozen=True)
class Variant:
    """One grid point, measured, with the base design at the same workload."""

    knobs: Mapping[str, Any]
    status: Status
    reason: str | None = None
    profile: Profile | None = None
    baseline: Profile | None = None
    changed: tuple[ModuleDelta, ...] = ()
    """Submodules (to depth 2) whose params or MACs differ from the baseline's."""

    @property
    def params(self) -> int | None:
        return self.profile.total.params if self.profile else None

    @property
    def baseline_params(self) -> int | None:
        return self.baseline.total.params if self.baseline else None

    @property
    def delta_params(self) -> int | None:
        if self.params is None or self.baseline_params is None:
            return None
        return self.params - self.baseline_params

    @property
    def macs(self) -> int | None:
        return self.profile.total.macs if self.profile else None

    @property
    def baseline_macs(self) -> int | None:
        return self.baseline.total.macs if self.baseline else None


@dataclass(frozen=True, slots=True)
class ScalingLaw:
    """How a submodule's parameter count grows with one knob, others held fixed."""

    path: str
    """Module path ("" = whole model)."""
    knob: str
    law: Law
    coefficients: tuple[Fraction, ...]
    """Polynomial coefficients, lowest power first (exact)."""
    fixed: Mapping[str, Any] = field(default_factory=dict)
    """The other knobs' values in the slice that was fitted."""


@dataclass(frozen=True)
class Sweep:
    base: Profile
    axes: tuple[Axis, ...]
    variants: tuple[Variant, ...]
    laws: tuple[ScalingLaw, ...]
    metric_backend: str | None = None


def _knob_table(spec: ModelSpec) -> dict[str, Any]:
    if spec.family is None:
        return {}
    return {k.alias: k for k in registry.get_family(spec.family).knobs}


def make_axes(spec: ModelSpec, knobs: Mapping[str, Sequence[Any]], workload: Sequence[str] = ()) -> tuple[Axis, ...]:
    """Resolve ``{"rank": [192, 384], "slot_fuse.hidden": [512]}`` into axes with kinds.

    A key is a family knob alias (``rank``, ``pred_len``) or any dotted config key; ``workload``
    marks extra keys as workload knobs.
    """
    table = _knob_table(spec)
    axes = []
    for label, values in knobs.items():
        if not values:
            raise ConfigError(f"knob {label}: give at least one value")
        alias = label.replace("-", "_")
        if alias in table:
            k = table[alias]
            kind = KnobKind.WORKLOAD if label in workload or alias in workload else KnobKind(k.kind)
            axes.append(Axis(alias, k.key, tuple(values), kind, k.implies))
            continue
        key = label if label.startswith(("args.", "inputs.")) else (
            f"inputs.{label}" if label.split(".")[0] in spec.inputs and label.split(".")[0] not in spec.args else f"args.{label}")
        kind = KnobKind.WORKLOAD if (label in workload or key.startswith("inputs.")) else KnobKind.DESIGN
        axes.append(Axis(label, key, tuple(values), kind))
    return tuple(axes)


def _override(spec: ModelSpec, axes: Sequence[Axis], values: Sequence[Any]) -> ModelSpec:
    sets: dict[str, Any] = {}
    for axis, value in zip(axes, values, strict=True):
        for ikey, ivalue in axis.implies:
            sets[ikey] = ivalue
        sets[axis.key] = value
    return apply_overrides(spec, sets)


def changed_modules(p: Profile, b: Profile, depth: int = 2) -> tuple[ModuleDelta, ...]:
    """Submodules of ``p`` (to ``depth``) whose params or MACs differ from ``b``'s, then those only ``b`` has."""
    base = {m.path: m for m in b.modules}
    out = []
    for m in p.modules:
        if not m.path or m.depth > depth:
            continue
        bm = base.get(m.path)
        bp, bmacs = (bm.params, bm.macs) if bm else (0, 0)
        if m.params != bp or (m.macs is not None and m.macs != bmacs):
            out.append(ModuleDelta(m.path, m.params, bp, m.macs, bmacs))
    for path, bm in base.items():  # modules the variant no longer has
        if path and bm.depth <= depth and all(m.path != path for m in p.modules):
            out.append(ModuleDelta(path, 0, bm.params, 0, bm.macs))
    return tuple(out)


def run_sweep(
    spec: ModelSpec,
    axes: Sequence[Axis],
    *,
    measure_fn: Callable[[ModelSpec], Profile],
    progress: Progress | None = None,
) -> Sweep:
    """Measure every grid point and its baseline; a variant that cannot be built is a failed row.

    Args:
        spec: the base config (its design is the baseline).
        axes: from ``make_axes``.
        measure_fn: ``spec -> Profile`` (e.g. ``functools.partial(measure, device="meta", flops="torch")``).
        progress: called as ``progress(done, total, label)``.
    """
    check_axes(spec, axes)
    grid = list(itertools.product(*(a.values for a in axes)))
    work = [a for a in axes if a.kind is KnobKind.WORKLOAD]
    base = measure_fn(spec)
    # each distinct configuration is built and measured once: the base doubles as the baseline
    # at its own workload values and as any variant that changes nothing
    own = tuple(_config_value(base, a.key) for a in axes)
    cache: dict[tuple[Any, ...], Profile | str] = {
        tuple(v for a, v in zip(axes, own, strict=True) if a.kind is KnobKind.WORKLOAD): base}

    def baseline_for(values: Sequence[Any]) -> Profile | str:
        wvals = tuple(v for a, v in zip(axes, values, strict=True) if a.kind is KnobKind.WORKLOAD)
        if wvals not in cache:
            try:
                cache[wvals] = measure_fn(_override(spec, work, wvals))
            except ParamscopeError as e:
                cache[wvals] = str(e)
        return cache[wvals]

    def measure_variant(variant_spec: ModelSpec, values: Sequence[Any]) -> Profile:
        unchanged = tuple(values) == own and all(
            _config_value(base, k) == v for a in axes for k, v in a.implies)
        return base if unchanged else measure_fn(variant_spec)

    variants = []
    for i, values in enumerate(grid):
        knobs = {a.label: v for a, v in zip(axes, values, strict=True)}
        label = ", ".join(f"{k}={v}" for k, v in knobs.items())
        if progress:
            progress(i, len(grid), label)
        variants.append(_one(spec, axes, values, knobs, baseline_for, functools.partial(measure_variant, values=values)))
    if progress:
        progress(len(grid), len(grid), "done")
    return Sweep(base, tuple(axes), tuple(variants), tuple(_laws(axes, variants)),
                 base.flops_backend)


_MISSING = object()


def _config_value(profile: Profile, key: str) -> Any:
    """The value a measured model was built with for dotted ``key`` (``args.slot_fuse.rank``)."""
    node: Any = profile.config
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return list(node) if isinstance(node, tuple) else node


def check_axes(spec: ModelSpec, axes: Sequence[Axis]) -> None:
    """Unknown keys and wrong value types are user errors before any build; impossible shapes
    (``d_model=500`` with 8 heads) stay failed rows of the sweep."""
    if spec.family is None:
        from paramscope.profiler.build import check_target_args

        check_target_args(_override(spec, axes, [a.values[0] for a in axes]))
        return
    import dataclasses
    import typing

    from paramscope.model_zoo import registry as zoo
    from paramscope.profiler.config import coerce_value

    family = zoo.load_family(spec.family)
    roots = {"args": family.config_class, "inputs": family.inputs_class}
    for axis in axes:
        for key, values in ((axis.key, axis.values), *((k, (v,)) for k, v in axis.implies)):
            section, _, rest = key.partition(".")
            tp: Any = roots.get(section)
            for part in rest.split("."):
                fields = {f.name for f in dataclasses.fields(tp)} if dataclasses.is_dataclass(tp) else set()
                if part not in fields:
                    raise ConfigError(f"knob {axis.label}: '{key}' is not a config key of {spec.family}"
                                      f" (known: {', '.join(sorted(fields)) or 'none'})")
                tp = typing.get_type_hints(tp)[part]
            for v in values:
                coerce_value(tp, v, f"{axis.label}={v}")


def _one(spec: ModelSpec, axes: Sequence[Axis], values: Sequence[Any], knobs: Mapping[str, Any],
         baseline_for: Callable[[Sequence[Any]], Profile | str], measure_fn: Callable[[ModelSpec], Profile]) -> Variant:
    try:
        prof = measure_fn(_override(spec, axes, values))
    except ParamscopeError as e:  # drop the "file (--set k=v): " location: the row names the knobs
        return Variant(knobs, Status.FAILED, reason=str(e).split("): ", 1)[-1])
    except (RuntimeError, MemoryError) as e:  # out of memory on a real device, a shape error deep inside
        return Variant(knobs, Status.FAILED, reason=f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
    base = baseline_for(values)
    if isinstance(base, str):
        return Variant(knobs, Status.OK, reason=f"baseline failed: {base}", profile=prof)
    return Variant(knobs, Status.OK, profile=prof, baseline=base, changed=changed_modules(prof, base))


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


def _laws(axes: Sequence[Axis], variants: Sequence[Variant]) -> list[ScalingLaw]:
    laws: list[ScalingLaw] = []
    for ai, axis in enumerate(axes):
        if len(axis.values) < 3 or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in axis.values):
            continue
        others = [a for j, a in enumerate(axes) if j != ai]
        first_other = {a.label: a.values[0] for a in others}
        slice_ = [v for v in variants if v.status is Status.OK and all(v.knobs[k] == x for k, x in first_other.items())]
        if len(slice_) < 3:
            continue
        changed = {d.path for v in variants for d in v.changed if d.delta_params}
        top = {m.path for v in slice_ if v.profile for m in v.profile.modules if m.depth == 1 or m.path in changed}
        paths = ["", *sorted(top)]
        xs = [v.knobs[axis.label] for v in slice_]
        for path in paths:
            ys = [y for v in slice_ if (y := _params_at(v.profile, path)) is not None]
            if len(ys) < len(slice_):
                continue
            law, coeffs = fit_law(xs, ys)
            laws.append(ScalingLaw(path, axis.label, law, coeffs, first_other))
    return laws


def _params_at(profile: Profile | None, path: str) -> int | None:
    if profile is None:
        return None
    if path == "":
        return profile.total.params
    try:
        return profile.get(path).params
    except KeyError:
        return 0
