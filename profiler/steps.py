"""Per-step growth of the autograd graph in a streaming / stateful model.

The Titan-Stream note (``titan_stream_fixes.zh.md``, section 1) fed ``stats['updated_memory']`` and
``stats['updated_momentum']`` back into the next time slice without ``.detach()``: every slice's
graph stayed attached to the previous one and an iteration went from 0.26 s to 3.7 s.
``trace_steps`` runs the forward several times in train mode, feeding the named outputs back as
keyword inputs, and after each step counts the autograd nodes reachable from the outputs.

Carry paths name a value inside the forward's output, segments separated by ``.``:
an integer selects a tuple/list item (``1.updated_memory``), a name selects a dict key or an
attribute (namedtuple field, dataclass). The tuple items may also have names (``output_names``; a zoo
family declares them, ``FamilyInfo.outputs``): Titan-Stream returns ``(forecast, stats)``, so
``stats.updated_memory`` is ``1.updated_memory``.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from paramscope.profiler.assumptions import meta_execution, on_meta
from paramscope.profiler.errors import ArgumentError
from paramscope.profiler.forward import device_of, run_forward, storage_key, storage_nbytes, tensor_leaves, track_calls

__all__ = [
    "MIN_STEPS", "CarryLink", "StepRow", "StepsReport", "Verdict",
    "count_graph_nodes", "trace_steps",
]

MIN_STEPS = 3
MAX_STEPS = 1000
"""Step 1 runs without carried state and step 2 is the first with it: growth shows from step 3."""


class Verdict(StrEnum):
    CONSTANT = "constant"
    """The graph has the same size every step (from step 3 on)."""
    GROWS = "grows"
    """The graph gains nodes every step: state carries the previous steps' graph."""
    VARIES = "varies"
    """Neither: growth changes sign or size from step to step."""


@dataclass(frozen=True, slots=True)
class StepRow:
    """The autograd graph after one step."""

    step: int
    """1-based; step 1 runs without carried state."""
    graph_nodes: int
    """grad_fn nodes (AccumulateGrad included) reachable from every output tensor."""
    growth_nodes: int | None
    """``graph_nodes`` minus the previous step's (None for step 1)."""
    saved_bytes: int
    """Storages saved for backward that the graph still holds (parameters and buffers excluded)."""


@dataclass(frozen=True, slots=True)
class CarryLink:
    """One output fed back as a keyword input of the next step."""

    output: str
    """Path in the forward's output, e.g. ``stats.updated_memory``."""
    input: str
    """Forward keyword argument it is passed as, e.g. ``memory``."""
    carries_graph: bool
    """The value had a ``grad_fn`` at the last step (before any detach): it drags the graph along."""


@dataclass(frozen=True, slots=True)
class StepsReport:
    """The result of ``trace_steps``."""

    rows: tuple[StepRow, ...]
    carry: tuple[CarryLink, ...]
    detach: bool
    """Carried values were ``.detach()``-ed before being fed back (the fix)."""
    device: str

    @property
    def steady_growth(self) -> tuple[int, ...]:
        """Growth of steps 3.. (step 2 differs from step 1 even when detached: it gets state)."""
        return tuple(r.growth_nodes or 0 for r in self.rows[MIN_STEPS - 1:])

    @property
    def verdict(self) -> Verdict:
        growth = self.steady_growth
        if all(g == 0 for g in growth):
            return Verdict.CONSTANT
        return Verdict.GROWS if all(g > 0 for g in growth) else Verdict.VARIES

    @property
    def grows(self) -> bool:
        """Some step from step 3 on added nodes (what ``--strict`` fails on)."""
        return any(g > 0 for g in self.steady_growth)


def _check_keywords(model: Any, carry: Mapping[str, str]) -> None:
    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    for path, kwarg in carry.items():
        p = params.get(kwarg)
        if p is None or p.kind in (p.POSITIONAL_ONLY, p.VAR_POSITIONAL):
            takes = ", ".join(n for n, q in params.items() if q.kind not in (q.VAR_POSITIONAL, q.POSITIONAL_ONLY))
            raise ArgumentError("carry", f"{path}={kwarg}", f"forward() has no keyword '{kwarg}' (it takes: {takes})")


def _describe(obj: Any) -> str:
    import torch

    if isinstance(obj, torch.Tensor):
        return f"a Tensor {list(obj.shape)}"
    if isinstance(obj, Mapping):
        return f"a dict with keys: {', '.join(map(str, obj))}"
    if isinstance(obj, tuple | list):
        fields = getattr(obj, "_fields", None)
        named = f" (fields: {', '.join(fields)})" if fields else f" (items 0..{len(obj) - 1})"
        return f"a {type(obj).__name__} of {len(obj)}{named}"
    return f"a {type(obj).__name__}"


class _Missing:
    """What ``_step`` returns when the output has no such item (``None`` is a value an output can hold)."""


_MISSING = _Missing()


def _step(obj: Any, seg: str, top: bool, names: Sequence[str]) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(seg, _MISSING)
    if isinstance(obj, tuple | list):
        if seg.lstrip("-").isdigit():
            return obj[int(seg)] if -len(obj) <= int(seg) < len(obj) else _MISSING
        if top and seg in names and names.index(seg) < len(obj):
            return obj[names.index(seg)]
    if not seg.lstrip("-").isdigit() and hasattr(obj, seg) and not callable(getattr(obj, seg)):
        return getattr(obj, seg)
    return _MISSING


def _resolve(out: Any, path: str, kwarg: str, names: Sequence[str]) -> Any:
    """The value at ``path`` in ``out``; an ArgumentError (carry) says what was there instead."""
    obj = out
    segs = path.split(".")
    for i, seg in enumerate(segs):
        nxt = _step(obj, seg, i == 0, names)
        if nxt is _MISSING:
            where = "the output" if i == 0 else f"output {'.'.join(segs[:i])}"
            alias = f"; the items are named {', '.join(names)}" if i == 0 and names else ""
            raise ArgumentError("carry", f"{path}={kwarg}", f"{where} has no '{seg}': it is {_describe(obj)}{alias}")
        obj = nxt
    if not list(tensor_leaves(obj)):
        raise ArgumentError("carry", f"{path}={kwarg}", f"output {path} is {_describe(obj)}, not a tensor")
    return obj


def _detach(obj: Any) -> Any:
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.detach()
    if isinstance(obj, Mapping):
        return {k: _detach(v) for k, v in obj.items()}
    if isinstance(obj, tuple | list):
        return type(obj)(*map(_detach, obj)) if hasattr(obj, "_fields") else type(obj)(map(_detach, obj))
    return obj


def count_graph_nodes(outputs: Any) -> int:
    """grad_fn nodes reachable through ``next_functions`` from every tensor in ``outputs``."""
    stack = [t.grad_fn for t in tensor_leaves(outputs) if t.grad_fn is not None]
    seen: set[Any] = set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(f for f, _ in node.next_functions if f is not None)
    return len(seen)


class _Packed:
    """What the graph holds instead of a saved tensor: weakly referenced, so we see it freed."""

    __slots__ = ("__weakref__", "tensor")

    def __init__(self, tensor: Any) -> None:
        self.tensor = tensor


class _SavedTracker:
    """saved_tensors_hooks that keep track of which saved storages the graph still holds.

    Unpacking gives the detached alias: enough for backward (autograd re-attaches saved outputs)
    but not for double backward through a saved input, which ``trace_steps`` never runs.
    """

    def __init__(self, model: Any) -> None:
        self.exclude = {storage_key(t) for t in (*model.parameters(), *model.buffers())}
        self.live: list[tuple[weakref.ref[_Packed], Any, int]] = []

    def pack(self, t: Any) -> Any:
        key = storage_key(t)
        if key in self.exclude:
            return t
        # hold a detached alias: holding ``t`` itself (an output whose grad_fn is the saving node)
        # would make a node -> packed -> t -> node cycle, and no graph would ever be freed
        packed = _Packed(t.detach())
        self.live.append((weakref.ref(packed), key, storage_nbytes(t)))
        return packed

    @staticmethod
    def unpack(p: Any) -> Any:
        return p.tensor if isinstance(p, _Packed) else p

    def held_bytes(self) -> int:
        self.live = [e for e in self.live if e[0]() is not None]
        return sum({key: n for _, key, n in self.live}.values())


def trace_steps(
    model: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], carry: Mapping[str, str], steps: int,
    *, detach: bool = False, output_names: Sequence[str] = (),
    progress: Callable[[int, int, str], None] | None = None,
) -> StepsReport:
    """Run ``steps`` training-mode forwards, feeding outputs back, and measure the graph each time.

    Works on meta (no weights allocated). The model's train/eval flags are restored afterwards.

    Args:
        model: a ``torch.nn.Module`` whose forward takes the carried values as keywords.
        args, kwargs: the example inputs of every step; carried values are added to ``kwargs``.
        carry: output path -> forward keyword (see the module docstring for the path syntax).
        steps: forwards to run (at least ``MIN_STEPS``).
        detach: ``.detach()`` carried values before feeding them back (the fix).
        output_names: names of the output tuple's items, usable as a path's first segment.
        progress: called as ``progress(done, steps, label)`` after each step.

    Returns:
        A ``StepsReport`` with one row per step.

    Raises:
        ArgumentError: too few steps, an empty carry, a keyword forward does not take, a bad path.
        ForwardFailed: the forward raised.
    """
    from paramscope.profiler.guard import preserved

    with preserved(model):  # buffers, .grad, hooks, flags and RNG as the user left them
        return _trace_steps(model, args, kwargs, carry, steps, detach=detach, output_names=output_names,
                            progress=progress)


def _trace_steps(
    model: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], carry: Mapping[str, str], steps: int,
    *, detach: bool, output_names: Sequence[str], progress: Callable[[int, int, str], None] | None,
) -> StepsReport:
    import torch
    from torch.autograd.graph import saved_tensors_hooks

    if steps < MIN_STEPS:
        raise ArgumentError("steps", steps, f"use at least {MIN_STEPS} (step 1 has no carried state; growth shows from step 3)")
    if steps > MAX_STEPS:
        raise ArgumentError("steps", f"{steps:,}", f"at most {MAX_STEPS:,} (a growing graph costs time and memory with "
                            "the square of the steps; growth shows from step 3)")
    if not carry:
        raise ArgumentError("carry", None, "empty; name an output to feed back, e.g. 1.updated_memory=memory")
    _check_keywords(model, carry)
    tracker = _SavedTracker(model)
    modes = {m: m.training for m in model.modules()}
    rows: list[StepRow] = []
    fed: dict[str, Any] = {}
    graph_flags: dict[str, bool] = {}
    out: Any = None
    try:
        model.train()
        with meta_execution(model, active=on_meta(model, args, kwargs)):  # buffers real, data-dependent ops assumed
            for step in range(1, steps + 1):
                with torch.enable_grad(), saved_tensors_hooks(tracker.pack, tracker.unpack), \
                        track_calls(model) as calls:
                    out = run_forward(model, args, {**kwargs, **fed}, lambda: calls.current, step=step)
                values = {path: _resolve(out, path, kwarg, output_names) for path, kwarg in carry.items()}
                graph_flags = {p: any(t.grad_fn is not None for t in tensor_leaves(v)) for p, v in values.items()}
                fed = {carry[p]: (_detach(v) if detach else v) for p, v in values.items()}
                del values
                nodes = count_graph_nodes(out)
                rows.append(StepRow(step, nodes, nodes - rows[-1].graph_nodes if rows else None,
                                    tracker.held_bytes()))
                if progress:
                    progress(step, steps, f"step {step}")
    finally:
        for m, flag in modes.items():
            m.training = flag
    del out, fed
    links = tuple(CarryLink(p, k, graph_flags.get(p, False)) for p, k in carry.items())
    return StepsReport(tuple(rows), links, detach, device_of(model, args, kwargs))


