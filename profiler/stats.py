"""The data paramscope measures: frozen records that every renderer consumes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from paramscope.profiler.layers import LayerInfo

from paramscope.profiler.backends.interface import UncountedOp

__all__ = ["ModuleStats", "SharedParam", "Totals", "Uncounted", "Assumption", "Profile"]


class _Rates:
    """FLOPs and arithmetic intensity from a row's (or the total's) MACs and bytes moved."""

    __slots__ = ()
    macs: int | None
    bytes: int | None

    @property
    def flops(self) -> int | None:
        """FLOPs = 2 x MACs (one multiply plus one add per MAC)."""
        return None if self.macs is None else 2 * self.macs

    @property
    def intensity(self) -> float | None:
        """Arithmetic intensity, FLOPs per byte moved (None unless both are measured and bytes > 0)."""
        flops = self.flops
        return None if flops is None or not self.bytes else flops / self.bytes


@dataclass(frozen=True, slots=True)
class ModuleStats(_Rates):
    """One row of a breakdown: a submodule (or a parameter held directly by a container)."""

    path: str
    """``named_modules()`` name ("" is the root), or ``module.param`` for a direct parameter."""
    type: str
    """Class name, or ``Parameter`` for a direct parameter row."""
    depth: int
    """Dots in the path plus one; the root has depth 0."""
    params: int
    """Unique parameter elements in this subtree (a shared tensor counts at its first owner)."""
    trainable: int
    frozen: int
    buffers: int
    """Buffer elements in this subtree (never part of ``params``)."""
    macs: int | None = None
    """Inclusive multiply-accumulates of one forward; None = not measured, 0 = measured zero."""
    calls: int | None = None
    """Times the module's forward ran during the measured pass."""
    shared_with: tuple[str, ...] = ()
    """Parameters in this subtree that are the same tensor as a parameter elsewhere (``a ~ b``)."""
    is_param: bool = False
    """True for a direct-parameter row (e.g. ``output_hgate_bias``)."""
    elementwise: int | None = None
    """Inclusive output elements of element-wise ops (``--elementwise``); not MACs, not in FLOPs."""
    bytes: int | None = None
    """Inclusive bytes moved by the ops of one forward (``--bytes``; model in ``profiler/bytes.py``)."""
    roofline_ms: float | None = None
    """Roofline time on a hardware (``--hardware``): per op max(FLOPs/peak, bytes/bandwidth), summed."""
    bound: str | None = None
    """``"compute"`` or ``"memory"``: what limits most of ``roofline_ms`` (``--hardware``)."""



@dataclass(frozen=True, slots=True)
class SharedParam:
    """A parameter tensor reachable under more than one name (tied/shared weights)."""

    owner: str
    """The first name ``named_parameters()`` gives it; its elements are counted there."""
    aliases: tuple[str, ...]
    numel: int


Uncounted = UncountedOp
"""An op or module a FLOP backend could not count (never a silent zero): the backends' own type."""


@dataclass(frozen=True, slots=True)
class Assumption:
    """A value the meta device cannot know, assumed (seeded) where an op needed it."""

    op: str
    """The op whose input was assumed, e.g. ``aten::topk`` (routing) or ``aten::nonzero``."""
    where: str
    """Module path; repeats in numbered siblings are folded (``model.layers.*.mlp.gate``)."""
    assumed: str
    """What was assumed, with the seed (and the outcome when it is one decision)."""
    line: str | None = None
    """``file.py:123`` of the model's code that called the op, when it can be found."""
    count: int = 1
    """How many times the same assumption was made (once per layer, per call)."""
    read_by: tuple[str, ...] = ()
    """The ops (and source lines) that needed the assumed values: what the assumption changed."""
    affects: tuple[str, ...] = ()
    """Modules that ran after an op read the assumed values, inside the module that read them: their
    figures follow the assumption (the per-expert split of a mixture of experts)."""


@dataclass(frozen=True, slots=True)
class Totals(_Rates):
    params: int
    trainable: int
    frozen: int
    buffers: int
    macs: int | None = None
    backward_macs: int | None = None
    """MACs of one backward pass (``--backward``), when the backend could measure it."""
    elementwise: int | None = None
    """Output elements of element-wise ops in one forward (``--elementwise``), when measured."""
    bytes: int | None = None
    """Bytes moved by one forward (``--bytes``), when measured."""
    roofline_ms: float | None = None
    """Roofline time of one forward on the ``--hardware``."""
    bound: str | None = None



@dataclass(frozen=True)
class Profile:
    """Everything measured about one model: the result of ``profile_model``."""

    model: str
    """Display name (preset, file stem, target or class name)."""
    model_class: str
    device: str
    total: Totals
    modules: tuple[ModuleStats, ...]
    """Every submodule (and direct-parameter row), in ``named_modules()`` pre-order."""
    shared: tuple[SharedParam, ...] = ()
    input_shapes: Mapping[str, list[int]] = field(default_factory=dict)
    flops_backend: str | None = None
    uncounted: tuple[Uncounted, ...] = ()
    notes: tuple[str, ...] = ()
    assumptions: tuple[Assumption, ...] = ()
    """Values the meta device could not know, assumed (seeded) where an op needed them."""
    source: str | None = None
    preset_of: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    """The args and inputs the model was built from (after overrides)."""
    layers: Mapping[str, LayerInfo] = field(default_factory=dict, repr=False)
    """Shapes and layer details per path, when asked for (``--columns shape``; ``profiler.layers``)."""
    roofline: Any = None
    """A ``paramscope.profiler.roofline.Roofline`` when a ``--hardware`` was given (per-module detail)."""
    op_macs: Mapping[str, Mapping[str, int]] = field(default_factory=dict, repr=False)
    """Inclusive MACs per path and aten op, where the backend sees ops (torch); see ``ops_of``."""

    def table(self, depth: int | None = 2, top: int | None = None, width: int | None = None) -> str:
        """The breakdown table as text (what ``paramscope breakdown`` prints)."""
        from paramscope.profiler.render.table import profile_text

        return profile_text(self, depth=depth, top=top, width=width)

    def to_markdown(self, depth: int | None = None) -> str:
        """A GitHub markdown table with the footer lines."""
        from paramscope.profiler.render.table import breakdown_markdown, select_rows

        return breakdown_markdown(self, select_rows(self, depth=depth))

    def to_dict(self) -> dict[str, Any]:
        """The ``paramscope.breakdown/1`` JSON document, as plain data."""
        from paramscope.profiler.render.table import profile_to_dict

        return profile_to_dict(self)

    def __str__(self) -> str:
        return self.table()


    @cached_property
    def by_path(self) -> Mapping[str, ModuleStats]:
        """Every row by its path (built once, on first use)."""
        index: dict[str, ModuleStats] = {}
        for m in self.modules:
            index.setdefault(m.path, m)
        return index

    def ops_of(self, path: str) -> dict[str, int]:
        """MACs of ``path`` by aten op, largest first; a container that never ran sums its children."""
        ops = self.op_macs.get(path)
        if ops is None:
            prefix = f"{path}." if path else ""
            children = [p for p in self.op_macs if p.startswith(prefix) and "." not in p[len(prefix):] and p]
            summed: dict[str, int] = {}
            for child in children:
                for op, n in self.ops_of(child).items():
                    summed[op] = summed.get(op, 0) + n
            ops = summed
        return dict(sorted(((op, n) for op, n in ops.items() if n), key=lambda kv: -kv[1]))

    def get(self, path: str) -> ModuleStats:
        """The row for ``path`` in O(1); ``KeyError`` if there is none."""
        return self.by_path[path]
