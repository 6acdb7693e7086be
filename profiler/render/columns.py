"""The breakdown's columns, by the names ``--columns`` takes; each knows its header and its cell.

The default set is what ``breakdown`` always showed (a column whose data was not measured, such
as MACs with ``--flops none``, stays out). ``--columns shape,kernel`` picks columns (Module is
always first); ``--columns +shape`` adds to the default set. Shape and layer columns read
``Profile.layers`` (one extra hooked forward, made only when they are asked for).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from paramscope.profiler.render.text import clean
from paramscope.profiler.render.units import fmt_int, fmt_intensity, fmt_ms, fmt_pct, human, human_bytes
from paramscope.profiler.stats import ModuleStats, Profile

__all__ = ["Column", "COLUMNS", "DEFAULT", "LAYER_COLUMNS", "choose", "parse_columns"]


@dataclass(frozen=True)
class Column:
    header: str
    right: bool
    """Figures are right-aligned (and never cut when a table is fitted to the terminal)."""
    cell: Callable[[Profile, ModuleStats], str]
    shown: Callable[[Profile], bool] = lambda p: True
    """Whether the column has data for this profile (MACs need a backend, Frozen a frozen tensor)."""


def _macs(p: Profile, m: ModuleStats) -> str:
    if m.is_param:
        return ""
    if m.calls == 0 and m.macs is None:
        return "not called"
    assumed = "~" if any(m.path in a.affects for a in p.assumptions) else ""  # follows a meta assumption
    return assumed + fmt_int(m.macs)


def _shapes(which: str) -> Callable[[Profile, ModuleStats], str]:
    def cell(p: Profile, m: ModuleStats) -> str:
        from paramscope.profiler.layers import shape_text

        info = p.layers.get(m.path) if not m.is_param else None
        if info is None:
            return ""
        if info.calls == 0:
            return "not called"
        text = shape_text(info.input_shapes if which == "in" else info.output_shapes)
        return text + (f" (x{info.calls} calls)" if info.calls > 1 and which == "out" else "")
    return cell


def _attr(name: str) -> Callable[[Profile, ModuleStats], str]:
    def cell(p: Profile, m: ModuleStats) -> str:
        info = p.layers.get(m.path) if not m.is_param else None
        if info is None:
            return ""
        value = getattr(info, name)
        if name == "training":
            return "train" if value else "eval"
        return clean(str(value or ""))
    return cell


def _has_macs(p: Profile) -> bool:
    return p.total.macs is not None


def _has_bytes(p: Profile) -> bool:
    return p.total.bytes is not None


def _has_roofline(p: Profile) -> bool:
    return p.total.roofline_ms is not None


def _unless_param(fmt: Callable[[ModuleStats], str]) -> Callable[[Profile, ModuleStats], str]:
    return lambda p, m: "" if m.is_param else fmt(m)


COLUMNS: dict[str, Column] = {
    "type": Column("Type", False, lambda p, m: clean(m.type)),
    "params": Column("Params", True, lambda p, m: fmt_int(m.params)),
    "%params": Column("% params", True, lambda p, m: fmt_pct(m.params, p.total.params)),
    "trainable": Column("Trainable", True, lambda p, m: fmt_int(m.trainable)),
    "frozen": Column("Frozen", True, lambda p, m: fmt_int(m.frozen), lambda p: bool(p.total.frozen)),
    "buffers": Column("Buffers", True, lambda p, m: fmt_int(m.buffers)),
    "macs": Column("MACs", True, _macs, _has_macs),
    "%macs": Column("% MACs", True, lambda p, m: "" if m.is_param else fmt_pct(m.macs, p.total.macs), _has_macs),
    "flops": Column("FLOPs", True, lambda p, m: "" if m.is_param else human(m.flops), _has_macs),
    "calls": Column("Calls", True, lambda p, m: "" if m.is_param or m.calls is None else fmt_int(m.calls), _has_macs),
    "elementwise": Column("Elementwise", True, lambda p, m: "" if m.is_param else fmt_int(m.elementwise),
                          lambda p: p.total.elementwise is not None),
    "bytes": Column("Bytes", True, _unless_param(lambda m: human_bytes(m.bytes)), _has_bytes),
    "intensity": Column("FLOP/B", True, _unless_param(lambda m: fmt_intensity(m.intensity)), _has_bytes),
    "roofline": Column("Roofline ms", True, _unless_param(lambda m: fmt_ms(m.roofline_ms)), _has_roofline),
    "bound": Column("Bound", True, _unless_param(lambda m: str(m.bound or "-")), _has_roofline),
    "shared": Column("Shared", False, lambda p, m: clean("; ".join(m.shared_with)), lambda p: bool(p.shared)),
    "in_shape": Column("Input shape", False, _shapes("in")),
    "out_shape": Column("Output shape", False, _shapes("out")),
    "kernel": Column("Layer", False, _attr("details")),
    "dtype": Column("dtype", False, _attr("dtype")),
    "mode": Column("Mode", False, _attr("training")),
}
ALIASES = {"shape": ("in_shape", "out_shape"), "shapes": ("in_shape", "out_shape"), "details": ("kernel",),
           "layer": ("kernel",), "pct_params": ("%params",), "pct_macs": ("%macs",)}
DEFAULT = ("type", "params", "%params", "frozen", "macs", "%macs", "flops", "elementwise", "bytes", "intensity",
           "roofline", "bound", "shared")
LAYER_COLUMNS = frozenset({"in_shape", "out_shape", "kernel", "dtype", "mode"})
"""The columns that need ``Profile.layers`` (the shapes forward)."""


def parse_columns(text: str) -> tuple[str, ...]:
    """``"params,macs,shape"`` -> column names; ``"+shape"`` adds to the default set.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    add = text.strip().startswith("+")
    names: list[str] = list(DEFAULT) if add else []
    for raw in text.strip().lstrip("+").split(","):
        name = raw.strip().lower().lstrip("+")
        if not name or name == "module":
            continue
        expanded = ALIASES.get(name, (name,))
        for n in expanded:
            if n not in COLUMNS:
                from paramscope.profiler.paths import did_you_mean

                raise ValueError(f"unknown column '{raw.strip()}'{did_you_mean(name, [*COLUMNS, *ALIASES])}")
            if n not in names:
                names.append(n)
    return tuple(names)


def choose(profile: Profile, names: Sequence[str] | None) -> list[Column]:
    """The columns to show for ``profile``: ``names`` (or the default), those with data."""
    return [COLUMNS[n] for n in (names or DEFAULT) if COLUMNS[n].shown(profile)]
