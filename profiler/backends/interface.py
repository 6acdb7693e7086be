"""The counting-backend interface, its frozen result types, and helpers every adapter shares.

Convention (stated once): 1 MAC = one multiply-accumulate; FLOPs = 2 x MACs for matmul/conv-like
ops. Each adapter normalises its library to MACs: torch's FlopCounterMode counts FLOPs (/2),
fvcore's "flops" are MACs, thop counts MACs.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from paramscope.profiler.errors import ForwardFailed
from paramscope.profiler.forward import CallTracker, forward_failed
from paramscope.profiler.paths import within_any
if TYPE_CHECKING:
    import torch

    from paramscope.profiler.stats import Assumption

__all__ = ["Backend", "UncountedOp", "FlopCount", "CountingBackend"]

log = logging.getLogger(__name__)


class Backend(StrEnum):
    """The counting backends, as named on the command line (``--flops NAME``)."""

    TORCH = "torch"
    FVCORE = "fvcore"
    THOP = "thop"


@dataclass(frozen=True, slots=True)
class UncountedOp:
    """An op (or, for thop, a module class) that ran but that the backend could not count."""

    name: str
    """e.g. ``"aten::lstm"``, or a module class name such as ``"MultiheadAttention"`` for thop."""
    count: int
    """How many times it occurred."""
    where: tuple[str, ...]
    """The ``named_modules()`` paths it occurred in (innermost module; ``""`` is the root)."""


@dataclass(frozen=True, slots=True)
class FlopCount:
    """MACs of one forward pass, per module, from one backend."""

    backend: str
    """The backend that produced the numbers (after any fallback)."""
    macs: Mapping[str, int]
    """Inclusive MACs for every ``named_modules()`` path (``""`` = root; 0 when none ran)."""
    calls: Mapping[str, int]
    """How many times each module's forward ran."""
    uncounted: tuple[UncountedOp, ...] = ()
    """Ops or modules that ran but were not counted: no silent zeros."""
    notes: tuple[str, ...] = ()
    """Human-readable remarks: fallbacks, shared modules, conventions."""
    backward_macs: Mapping[str, int] | None = None
    """Inclusive backward-pass MACs per path, when asked for and measurable."""
    elementwise: Mapping[str, int] | None = None
    """Inclusive output elements of element-wise ops per path (``elementwise=True``, torch only).

    Not MACs and not part of FLOPs: 1 per output element of every pointwise op (activations,
    adds, muls) and of every norm/softmax op."""
    assumptions: tuple[Assumption, ...] = ()
    """Values the meta device could not know, assumed (seeded) where an op needed them."""

    elementwise_macs: Mapping[str, int] = field(default_factory=dict)
    """Inclusive MACs this backend charges to element-wise ops (fvcore's norms, pooling,
    upsampling) per path, where it charges any; the torch and thop adapters charge them 0."""
    op_macs: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """Inclusive MACs per path and aten op (``aten.addmm``), where the backend sees ops (torch)."""
    added_macs: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """MACs counted by paramscope's added formulas/rules rather than the library's own:
    formula or rule name -> inclusive MACs per path (only paths where it counted something)."""

    def uncounted_within(self, path: str) -> tuple[UncountedOp, ...]:
        """The uncounted ops that occurred at ``path`` or below it (``""``: anywhere)."""
        return tuple(op for op in self.uncounted if within_any(op.where, path))

    @property
    def total_macs(self) -> int:
        """MACs of the whole model (the root's inclusive figure)."""
        return self.macs.get("", 0)

    @property
    def total_flops(self) -> int:
        """FLOPs of the whole model, 2 x MACs."""
        return 2 * self.total_macs


class CountingBackend(Protocol):
    """One adapter per counting library (``profiler/backends/<name>.py``)."""

    name: str

    def count(
        self, model: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], *, backward: bool = False,
        elementwise: bool = False,
    ) -> FlopCount:
        """Run the model's forward once and count its MACs per module (and element-wise outputs)."""
        ...

    def explain(self, count: FlopCount, path: str, *, low: bool, high: bool, guess: bool = False) -> tuple[str, ...]:
        """Known reasons why this backend's figure at ``path`` (from ``count``) is below (``low``)
        or above (``high``) another backend's; empty when it knows none. With ``guess`` (asked
        only when no backend knows a reason) the likely cause, stated as such."""
        ...


# --------------------------------------------------------------------------------------------
# helpers shared by the adapters (private to the backends package)


def _forward_failed(tracker: CallTracker, exc: BaseException) -> ForwardFailed:
    """The ``ForwardFailed`` for an exception raised inside the model's forward."""
    return forward_failed(tracker.current, exc)


def _first_line(e: BaseException) -> str:
    """An exception's first line (its type name when it has no text)."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _shared_module_notes(model: torch.nn.Module, how: str) -> tuple[str, ...]:
    """One note per module reachable at more than one path (named_modules() lists it once)."""
    paths: defaultdict[int, list[str]] = defaultdict(list)
    for path, mod in model.named_modules(remove_duplicate=False):
        paths[id(mod)].append(path)
    return tuple(
        f"module '{ps[0]}' is shared (also at {', '.join(repr(p) for p in ps[1:])}): "
        f"its MACs are booked at '{ps[0]}'; {how}"
        for ps in paths.values()
        if len(ps) > 1
    )


def _all_paths(model: torch.nn.Module) -> list[str]:
    return [p for p, _ in model.named_modules()]


def _with_all_paths(model: torch.nn.Module, counts: Mapping[str, int]) -> dict[str, int]:
    """``counts`` completed with a 0 for every named_modules() path it lacks, in model order."""
    return {p: int(counts.get(p, 0)) for p in _all_paths(model)}


def _uncounted(records: Mapping[str, Mapping[str, int]]) -> tuple[UncountedOp, ...]:
    """UncountedOps from ``{op_name: {innermost_path: count}}``, sorted by name."""
    return tuple(
        UncountedOp(name=op, count=sum(where.values()), where=tuple(sorted(where)))
        for op, where in sorted(records.items())
        if sum(where.values()) > 0
    )
