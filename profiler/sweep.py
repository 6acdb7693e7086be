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
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from paramscope.model_zoo import registry
from paramscope.profiler.errors import ConfigError, ParamscopeError, TimedOut
from paramscope.profiler.laws import ScalingLaw, fit_law, fit_laws
from paramscope.profiler.parallel import premeasure, start_server
from paramscope.profiler.spec import ModelSpec, apply_overrides
from paramscope.profiler.stats import Profile

__all__ = ["KnobKind", "Status", "Axis", "Variant", "ModuleDelta", "ScalingLaw", "Sweep", "make_axes", "run_sweep",
           "fit_law", "changed_modules", "changed_within", "shape_axis"]

Progress = Callable[[int, int, str], None]


class KnobKind(StrEnum):
    """A design knob defines the variant; a workload knob is where variant and base are both evaluated."""

    DESIGN = "design"
    WORKLOAD = "workload"


class Status(StrEnum):
    """Whether a variant could be built and measured."""

    OK = "ok"
    FAILED = "failed"


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
    dims: tuple[tuple[str, int], ...] = ()
    """For a shape axis of a ``target:`` model's inputs: the (input name, axis index) pairs it sets."""


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
        if spec.family is None and alias == "batch_size" and alias not in spec.args and spec.inputs:
            axes.append(_batch_axis(spec, tuple(values)))
            continue
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


def _shape_of(desc: Any) -> list[Any]:
    """An input entry's shape: ``[1, 96, 7]`` or ``{shape: [1, 96, 7], dtype: ...}``."""
    shape = desc if isinstance(desc, list | tuple) else desc.get("shape") if isinstance(desc, Mapping) else None
    return list(shape) if isinstance(shape, list | tuple) else []


def shape_axis(spec: ModelSpec, name: str, dim: int, values: Sequence[int]) -> Axis:
    """A workload axis over axis ``dim`` of input ``name`` of a ``target:`` model (``--dim x.1=96,336``)."""
    from paramscope.profiler.paths import did_you_mean

    label = f"{name}.{dim}"
    if spec.family is not None:
        raise ConfigError(f"dim {label}: {spec.name} is a zoo family; its inputs are knobs (paramscope zoo show "
                          f"{spec.family})")
    if name not in spec.inputs:
        raise ConfigError(f"dim {label}: no input '{name}'{did_you_mean(name, spec.inputs)}")
    rank = len(_shape_of(spec.inputs[name]))
    if not -rank <= dim < rank:
        raise ConfigError(f"dim {label}: input {name} has {rank} axes (0..{rank - 1})")
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
        raise ConfigError(f"dim {label}: expected positive integer sizes, got {list(values)}")
    dim %= rank
    return Axis(label, f"inputs.{name}.shape.{dim}", tuple(values), KnobKind.WORKLOAD, dims=((name, dim),))


def _batch_axis(spec: ModelSpec, values: tuple[Any, ...]) -> Axis:
    """``batch_size`` of a ``target:`` model: axis 0 of every input with at least one axis."""
    names = [n for n, d in spec.inputs.items() if _shape_of(d)]
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
        raise ConfigError(f"batch_size: expected positive integers, got {list(values)}")
    return Axis("batch_size", "inputs.*.shape.0", values, KnobKind.WORKLOAD, dims=tuple((n, 0) for n in names))


def _override(spec: ModelSpec, axes: Sequence[Axis], values: Sequence[Any]) -> ModelSpec:
    sets: dict[str, Any] = {}
    shapes: dict[str, dict[str, Any]] = {}
    for axis, value in zip(axes, values, strict=True):
        for ikey, ivalue in axis.implies:
            sets[ikey] = ivalue
        for name, dim in axis.dims:
            if name not in shapes:
                desc = spec.inputs[name]
                shapes[name] = dict(desc) if isinstance(desc, Mapping) else {}
                shapes[name]["shape"] = _shape_of(desc)
            shapes[name]["shape"][dim] = value
        if not axis.dims:
            sets[axis.key] = value
    sets.update({f"inputs.{name}": desc for name, desc in shapes.items()})
    return apply_overrides(spec, sets)


def changed_modules(p: Profile, b: Profile, depth: int = 2) -> tuple[ModuleDelta, ...]:
    """Submodules of ``p`` (to ``depth``) whose params or MACs differ from ``b``'s, then those only ``b`` has."""
    base = b.by_path
    out = []
    for m in p.modules:
        if not m.path or m.depth > depth:
            continue
        bm = base.get(m.path)
        bp, bmacs = (bm.params, bm.macs) if bm else (0, 0)
        if m.params != bp or (m.macs is not None and m.macs != bmacs):
            out.append(ModuleDelta(m.path, m.params, bp, m.macs, bmacs))
    for path, bm in base.items():  # modules the variant no longer has
        if path and bm.depth <= depth and path not in p.by_path:
            out.append(ModuleDelta(path, 0, bm.params, 0, bm.macs))
    return tuple(out)


def run_sweep(
    spec: ModelSpec,
    axes: Sequence[Axis],
    *,
    measure_fn: Callable[[ModelSpec], Profile],
    progress: Progress | None = None,
    jobs: int = 1,
) -> Sweep:
    """Measure every grid point and its baseline; a variant that cannot be built is a failed row.

    Args:
        spec: the base config (its design is the baseline).
        axes: from ``make_axes``.
        measure_fn: ``spec -> Profile`` (e.g. ``functools.partial(measure, device="meta", flops="torch")``);
            picklable when ``jobs > 1``.
        progress: called as ``progress(done, total, label)``.
        jobs: worker processes measuring configurations in parallel; the result is the same as
            with 1, in grid order (see ``parallel.premeasure``).
    """
    if jobs > 1:
        start_server()  # its imports overlap check_axes' (loading a zoo family imports torch)
    check_axes(spec, axes)
    grid = list(itertools.product(*(a.values for a in axes)))
    work = [a for a in axes if a.kind is KnobKind.WORKLOAD]
    if jobs > 1:
        measure_fn = premeasure(measure_fn, _configurations(spec, axes, grid, work), jobs, progress)
    try:
        base = measure_fn(spec)
    except TimedOut as e:  # nothing to compare with: the sweep ends
        raise TimedOut(e.seconds, f"{spec.source}: the base design {e}") from None
    # each distinct configuration is built and measured once: the base doubles as the baseline
    # at its own workload values and as any variant that changes nothing
    own = tuple(_axis_value(base, a) for a in axes)
    cache: dict[tuple[Any, ...], Profile | str] = {
        tuple(v for a, v in zip(axes, own, strict=True) if a.kind is KnobKind.WORKLOAD): base}

    def baseline_for(values: Sequence[Any]) -> Profile | str:
        wvals = tuple(v for a, v in zip(axes, values, strict=True) if a.kind is KnobKind.WORKLOAD)
        if wvals not in cache:
            try:
                cache[wvals] = measure_fn(_override(spec, work, wvals))
            except Exception as e:  # noqa: BLE001 - a failing baseline is a note on the rows, not the end
                cache[wvals] = _reason(e)
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
    return Sweep(base, tuple(axes), tuple(variants), tuple(fit_laws(axes, variants, own)),
                 base.flops_backend)


def _configurations(spec: ModelSpec, axes: Sequence[Axis], grid: Sequence[Sequence[Any]],
                    work: Sequence[Axis]) -> list[ModelSpec]:
    """Every configuration a sweep may measure: the base, each variant, each workload's baseline."""
    out = [spec]
    for values in grid:
        wvals = tuple(v for a, v in zip(axes, values, strict=True) if a.kind is KnobKind.WORKLOAD)
        for axes_, vals in ((axes, values), (work, wvals)):
            try:
                out.append(_override(spec, axes_, vals))
            except ParamscopeError:  # measured (and reported) in order by the sweep itself
                continue
    return out


_MISSING = object()


def _config_value(profile: Profile, key: str) -> Any:
    """The value a measured model was built with for dotted ``key`` (``args.slot_fuse.rank``)."""
    node: Any = profile.config
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return list(node) if isinstance(node, tuple) else node


def _axis_value(profile: Profile, axis: Axis) -> Any:
    """The base model's value of ``axis`` (a shape axis reads its first input's shape)."""
    if not axis.dims:
        return _config_value(profile, axis.key)
    name, dim = axis.dims[0]
    shape = _shape_of(_config_value(profile, f"inputs.{name}"))
    return shape[dim] if dim < len(shape) else _MISSING


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
    except Exception as e:  # noqa: BLE001 - any error of one variant is its failed row; the sweep goes on
        return Variant(knobs, Status.FAILED, reason=_reason(e))
    base = baseline_for(values)
    if isinstance(base, str):
        return Variant(knobs, Status.OK, reason=f"baseline failed: {base}", profile=prof)
    return Variant(knobs, Status.OK, profile=prof, baseline=base, changed=changed_modules(prof, base))


def changed_within(variant: Variant, path: str) -> tuple[ModuleDelta, ...]:
    """Every submodule at or below ``path`` (any depth) whose params or MACs differ from the baseline's."""
    from paramscope.profiler.paths import is_within

    if variant.profile is None or variant.baseline is None:
        return ()
    every = changed_modules(variant.profile, variant.baseline, depth=1 << 30)
    return tuple(d for d in every if is_within(d.path, path))


def _reason(e: Exception) -> str:
    """Why a variant failed, on one line: a user error without its "file (--set k=v): " location
    (the row names the knobs); anything else (out of memory, a shape error deep inside, a
    KeyError in the user's factory) with its type."""
    if isinstance(e, ParamscopeError):
        return str(e).split("): ", 1)[-1].splitlines()[0] if str(e) else type(e).__name__
    first = next((line for line in str(e).splitlines() if line.strip()), "")
    return f"{type(e).__name__}: {first}" if first else type(e).__name__
