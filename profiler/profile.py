"""``profile_model``: the one call that measures a model and returns a ``Profile``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from paramscope.profiler.flops import not_called
from paramscope.profiler.forward import device_of
from paramscope.profiler.params import ParamCounts, count_params
from paramscope.profiler.paths import is_within, parent_of
from paramscope.profiler.stats import ModuleStats, Profile, Totals

if TYPE_CHECKING:
    from torch import nn

    from paramscope.profiler.backends.interface import FlopCount

__all__ = ["profile_model", "input_shapes"]


def input_shapes(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, list[int]]:
    """Shapes of the tensor inputs, by keyword (positional ones as ``arg0``, ``arg1``...)."""
    out: dict[str, list[int]] = {}
    for i, a in enumerate(args):
        if hasattr(a, "shape"):
            out[f"arg{i}"] = list(a.shape)
    for k, v in kwargs.items():
        if hasattr(v, "shape"):
            out[k] = list(v.shape)
    return out


def _shared_marks(counts: ParamCounts) -> dict[str, list[str]]:
    """Module path -> human notes on the tied parameters it holds directly."""
    marks: dict[str, list[str]] = {}
    for sp in counts.shared:
        marks.setdefault(parent_of(sp.owner), []).append(f"{sp.owner} = {', '.join(sp.aliases)} (counted here)")
        for alias in sp.aliases:
            marks.setdefault(parent_of(alias), []).append(f"{alias} = {sp.owner} (counted there)")
    return marks


def _direct_rows(counts: ParamCounts, path: str) -> list[ModuleStats]:
    """Rows for the parameters a container holds directly (not through a child module)."""
    return [
        ModuleStats(path=pname, type="Parameter", depth=pname.count(".") + 1, params=numel,
                    trainable=numel if trainable else 0, frozen=0 if trainable else numel, buffers=0, is_param=True)
        for pname, numel, trainable in counts.direct.get(path, ())
    ]


def profile_model(
    model: nn.Module,
    args: tuple[Any, ...] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    name: str | None = None,
    flops: FlopCount | None = None,
    device: str | None = None,
) -> Profile:
    """Measure ``model``: parameters per submodule, and MACs when a ``FlopCount`` is given.

    Args:
        model: any ``torch.nn.Module`` (meta, cpu or cuda).
        args: positional example inputs of ``forward``.
        kwargs: keyword example inputs of ``forward``.
        name: display name; defaults to the class name.
        flops: a ``FlopCount`` from ``paramscope.profiler.flops.count_macs`` (or None).
        device: device label; defaults to where the parameters (or buffers, or inputs) are.

    Returns:
        A ``Profile`` whose ``modules`` are in ``named_modules()`` pre-order.
    """
    kwargs = dict(kwargs or {})
    counts = count_params(model)
    marks = _shared_marks(counts)
    macs: Mapping[str, int] = flops.macs if flops is not None else {}
    calls: Mapping[str, int] = flops.calls if flops is not None else {}
    elem: Mapping[str, int] | None = flops.elementwise if flops is not None else None
    idle = not_called(flops) if flops is not None else frozenset()  # macs None: unknown, not 0
    rows: list[ModuleStats] = []
    open_containers: list[str] = []  # the containers whose subtree the walk is inside, outermost first
    for path, mod in model.named_modules():
        while open_containers and not is_within(path, open_containers[-1]):
            rows.extend(_direct_rows(counts, open_containers.pop()))
        depth = 0 if path == "" else path.count(".") + 1
        p = counts.params[path]
        t = counts.trainable[path]
        rows.append(ModuleStats(
            path=path, type=type(mod).__name__, depth=depth, params=p, trainable=t, frozen=p - t,
            buffers=counts.buffers[path], macs=macs.get(path) if flops is not None and path not in idle else None,
            calls=calls.get(path) if flops is not None else None,
            shared_with=tuple(marks.get(path, ())), elementwise=None if elem is None else elem.get(path, 0),
        ))
        if next(mod.children(), None) is not None:
            open_containers.append(path)
    while open_containers:  # pre-order: a container's own parameters go right after its subtree
        rows.extend(_direct_rows(counts, open_containers.pop()))
    total = Totals(
        params=counts.params[""], trainable=counts.trainable[""],
        frozen=counts.params[""] - counts.trainable[""], buffers=counts.buffers[""],
        macs=macs.get("") if flops is not None else None,
        backward_macs=(flops.backward_macs or {}).get("") if flops is not None else None,
        elementwise=None if elem is None else elem.get("", 0),
    )
    if device is None:
        device = device_of(model, args, kwargs)
    return Profile(
        model=name or type(model).__name__, model_class=type(model).__name__, device=device,
        total=total, modules=tuple(rows), shared=counts.shared, input_shapes=input_shapes(args, kwargs),
        flops_backend=None if flops is None else flops.backend, uncounted=() if flops is None else flops.uncounted,
        notes=() if flops is None else flops.notes, op_macs={} if flops is None else flops.op_macs,
        assumptions=() if flops is None else tuple(flops.assumptions),
    )
