"""Adapter for PyTorch's dispatch-level counter, ``torch.utils.flop_counter.FlopCounterMode``.

FlopCounterMode sees every aten op that actually runs, so it works on the meta device and books
each op to every module on the call stack (inclusive, caller-based). Out of the box it silently
drops CPU kernels it has no formula for (``_scaled_dot_product_flash_attention_for_cpu``,
``mkldnn_rnn_layer`` for nn.LSTM, ``_native_multi_head_attention`` for nn.MultiheadAttention's
inference fast path); on meta the same modules decompose into mm/bmm and are counted. The
formulas of profiler/formulas.py (``_TORCH_OPS``) close that gap so that meta and cpu counts are
identical, and any other op with matmul-like work but no formula is reported as uncounted
instead of a silent zero.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from types import FrameType
from typing import Any

from paramscope.profiler.backends.eager_counter import eager_mode_class
from paramscope.profiler.backends.interface import (
    FlopCount,
    _forward_failed,
    _shared_module_notes,
    _uncounted,
    _with_all_paths,
)
from paramscope.profiler.errors import BackendUnavailable, ForwardFailed
from paramscope.profiler.forward import tensor_leaves as _tensor_leaves
from paramscope.profiler.forward import track_calls as _track_calls
from paramscope.profiler.formulas import FORMULAS, is_matmul_class

__all__ = ["TorchBackend"]

log = logging.getLogger(__name__)

# paramscope's formulas (profiler/formulas.py) for ops FlopCounterMode has none for: one line each.
# Ops missing from older torch builds are skipped.
_TORCH_OPS = (
    "_scaled_dot_product_flash_attention_for_cpu",  # F.scaled_dot_product_attention on cpu
    "_scaled_dot_product_flash_attention_for_cpu_backward",
    "mkldnn_rnn_layer",  # nn.LSTM on cpu
    "mkldnn_rnn_layer_backward",
    "_native_multi_head_attention",  # nn.MultiheadAttention's inference fast path
    "_addmm_activation",
    "addbmm",
    "mv",
    "addmv",
    "addmm_",  # in-place variants: FlopCounterMode knows addmm, baddbmm and addmv only out of place
    "baddbmm_",
    "addbmm_",
    "addmv_",
    "dot",
    "vdot",
    "_int_mm",
    "_scaled_mm_v2",
    "_grouped_mm",  # mixture-of-experts experts (transformers' default experts implementation)
    "_scaled_grouped_mm",
    "_scaled_grouped_mm_v2",
    "_euclidean_dist",  # torch.cdist, p=2 on large inputs
    "_cdist_forward",
    "_pdist_forward",
    "_trilinear",  # nn.Bilinear
)


def _in_flops(macs: Any) -> Any:
    """A FlopCounterMode formula (2 x MACs, shapes in, ``out_shape`` keyword) over a MAC formula."""

    def flops(*args: Any, out_shape: Any = None, **kwargs: Any) -> int:
        return 2 * int(macs(*args, **kwargs))

    return flops


def _extra_formulas() -> dict[Any, Any]:
    """FLOP formulas (FlopCounterMode's unit) for the ops in ``_TORCH_OPS``."""
    import torch

    aten = torch.ops.aten
    return {getattr(aten, n): _in_flops(FORMULAS[n]) for n in _TORCH_OPS if hasattr(aten, n)}


# Element-wise work that is not tagged pointwise: normalisations and the softmax family.
_NORM_SOFTMAX = frozenset({
    "native_layer_norm", "native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training",
    "_native_batch_norm_legit_functional", "native_group_norm", "_fused_rms_norm", "_softmax", "_log_softmax",
    "_safe_softmax", "_masked_softmax", "cudnn_batch_norm", "miopen_batch_norm", "_batch_norm_with_update",
    "_batch_norm_no_update", "instance_norm", "_weight_norm_interface",
})
# Tagged pointwise but pure copies, not element-wise work (``.contiguous()`` clones).
_COPIES = frozenset({"clone", "positive"})
# Fused kernels that hide element-wise work (softmax, gate activations) inside one op.
_FUSED = re.compile(r"attention|mkldnn_rnn|_thnn_fused|cudnn_rnn|_addmm_activation", re.IGNORECASE)


def _is_elementwise(func_packet: Any, cache: dict[Any, bool]) -> bool:
    """The op is tagged pointwise (any overload; copies aside) or is a norm/softmax; cached per packet."""
    hit = cache.get(func_packet)
    if hit is None:
        import torch

        name = getattr(func_packet, "__name__", str(func_packet)).split(".")[-1]
        overloads = (getattr(func_packet, o, None) for o in getattr(func_packet, "overloads", list)())
        hit = name in _NORM_SOFTMAX or (name not in _COPIES and any(
            torch.Tag.pointwise in getattr(o, "tags", ()) for o in overloads))
        cache[func_packet] = hit
    return hit


def _first_numel(out: Any) -> int:
    """numel of the first tensor in an op's output (0 when there is none)."""
    leaves = _tensor_leaves(out)
    return int(leaves[0].numel()) if leaves else 0


class _PathTracker:
    """Stands in for FlopCounterMode's ModuleTracker: the modules running are paramscope's own hook stack.

    ModuleTracker also hooks every module's inputs and outputs for backward scopes (which paramscope
    does not use: backward is whole-model only); that cost about a fifth of a meta forward of a
    1,000-block Sequential (3,001 modules) and raised on a Parameter view passed to a submodule
    under no_grad. The op-to-module booking is the same: every module on the stack, plus "Global".
    """

    def __init__(self, stack: list[str]) -> None:
        self.stack = stack

    @property
    def parents(self) -> set[str]:
        return {"Global", *self.stack}

    def __enter__(self) -> _PathTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class _DirectCalls:
    """MACs done inside a module's ``forward`` called directly (``self.lin.forward(x)``).

    No hook fires for such a call, so FlopCounterMode books its ops to the caller. An op that
    uses a parameter (or a view of one) of a module that is not on the hook stack, while that
    module's ``forward`` is on the Python stack, is booked to that module and to its ancestors up
    to the caller; a functional use of the weight (``F.linear(x, self.lin.weight)``) stays with
    the caller, where it happened.
    """

    def __init__(self, model: Any) -> None:
        self.owners: dict[int, tuple[str, Any]] = {
            id(p): (path, mod) for path, mod in model.named_modules() for p in mod.parameters(recurse=False)}
        self.macs: defaultdict[str, int] = defaultdict(int)

    def owner(self, args: Any, stack: list[str]) -> str | None:
        """The directly-called module whose parameter this op uses, if any."""
        for a in args:
            for t in (a, getattr(a, "_base", None)):
                hit = self.owners.get(id(t)) if t is not None else None
                if hit is not None and hit[0] not in stack and _in_forward(hit[1]):
                    return hit[0]
        return None

    def book(self, path: str, macs: int, stack: list[str]) -> None:
        callers = {"", *stack}
        parts = path.split(".")
        for i in range(len(parts), 0, -1):
            p = ".".join(parts[:i])
            if p in callers:
                break
            self.macs[p] += macs

    def notes(self) -> list[str]:
        ran = [p for p in self.macs if not any(q != p and p.startswith(q + ".") for q in self.macs)]
        return [f"'{p}' ran as {p}.forward(...) without its hooks: its MACs are booked to it (and its "
                "ancestors), its calls are not counted" for p in ran]


def _in_forward(module: Any) -> bool:
    """``module.forward`` is running somewhere up the Python stack."""
    import sys

    code = getattr(type(module).forward, "__code__", None)
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        if frame.f_code is code and frame.f_locals.get("self") is module:
            return True
        frame = frame.f_back
    return False


class _Observer:
    """What paramscope sees of each op FlopCounterMode counts: uncounted matmul-class ops, element-wise
    outputs, the MACs of paramscope's formulas, and ops run by a directly-called forward."""

    def __init__(self, model: Any, tracker: Any, extra: dict[Any, Any], elementwise: bool) -> None:
        self.tracker, self.extra = tracker, extra
        self.forward = True
        self.uncounted: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
        # element-wise output elements, booked to every module on the call stack (inclusive, like
        # FlopCounterMode's MACs); only while the forward runs
        self.elem: defaultdict[str, int] | None = defaultdict(int) if elementwise else None
        self.is_elem: dict[Any, bool] = {}
        self.unknown_ops: dict[Any, str | None] = {}
        """Op -> its name when it has no formula and may do matmul-like work, else None."""
        self.fused: set[str] = set()
        # forward MACs counted by paramscope's formulas, per formula and path
        self.added: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.direct = _DirectCalls(model)

    def op(self, registry: Any, func_packet: Any, out: Any, args: Any, kwargs: Any) -> None:
        stack = self.tracker.stack
        if func_packet not in registry:
            name = self.unknown_ops.get(func_packet, "")
            if name == "":  # first sight of the op: is it one to report? (asked once per op)
                name = str(func_packet).replace(".", "::", 1)
                if name.startswith(("aten::", "prims::", "prim::")) and not is_matmul_class(name):
                    name = None
                self.unknown_ops[func_packet] = name
            if name is not None:
                self.uncounted[name][self.tracker.current] += 1
        if not self.forward:
            return
        if self.elem is not None:
            if _is_elementwise(func_packet, self.is_elem):
                n = _first_numel(out)
                for path in {"", *stack}:
                    self.elem[path] += n
            elif _FUSED.search(str(func_packet)):
                self.fused.add(str(func_packet).replace(".", "::", 1))
        if func_packet not in registry or (func_packet not in self.extra and not self.direct.owners):
            return
        owner = self.direct.owner(args, stack)
        if func_packet not in self.extra and owner is None:
            return
        n = registry[func_packet](*args, **kwargs, out_val=out) // 2
        if func_packet in self.extra:
            for path in {"", *stack}:
                self.added[func_packet.__name__][path] += n
        if owner is not None:
            self.direct.book(owner, n, stack)

    def fused_notes(self) -> list[str]:
        return [f"element-wise counts inside fused kernels ({', '.join(sorted(self.fused))}) are not "
                "visible on cpu/cuda; meta shows the decomposed ops"] if self.fused else []


class TorchBackend:
    """Counts MACs with ``FlopCounterMode`` plus paramscope's extra formulas."""

    name = "torch"

    def count(self, model: Any, args: tuple[Any, ...], kwargs: dict[str, Any], *, backward: bool = False,
              elementwise: bool = False) -> FlopCount:
        """See ``CountingBackend.count``. FLOPs from FlopCounterMode are halved into MACs."""
        try:
            import torch
            from torch.utils.flop_counter import FlopCounterMode
        except ImportError as e:  # pragma: no cover - torch is a hard dependency
            raise BackendUnavailable(f"torch.utils.flop_counter is unavailable: {e}") from e

        notes: list[str] = []
        extra = _extra_formulas()
        with _track_calls(model) as tracker:
            seen = _Observer(model, tracker, extra, elementwise)

            eager = eager_mode_class()

            class _Counter(FlopCounterMode):
                # _count_flops sees every op that ran without decomposing further
                def _count_flops(self, func_packet: Any, out: Any, args: Any, kwargs: Any) -> Any:
                    seen.op(self.flop_registry, func_packet, out, args, kwargs)
                    return super()._count_flops(func_packet, out, args, kwargs)  # type: ignore[no-untyped-call]  # unannotated in torch

                def __enter__(self) -> Any:
                    if eager is None:
                        return super().__enter__()  # type: ignore[no-untyped-call]  # unannotated in torch
                    self.flop_counts.clear()  # FlopCounterMode.__enter__, with the unwrapped mode
                    self.mod_tracker.__enter__()  # type: ignore[no-untyped-call]
                    self.mode = eager(self)
                    self.mode.__enter__()
                    return self

            counter = _Counter(display=False, custom_mapping=extra)
            counter.mod_tracker = _PathTracker(tracker.stack)  # type: ignore[assignment]  # duck-typed: parents, enter, exit
            fwd: dict[str, int] = {}
            with counter:
                try:
                    with torch.set_grad_enabled(backward and torch.is_grad_enabled()):
                        out = model(*args, **kwargs)
                except ForwardFailed:
                    raise
                except Exception as e:
                    raise _forward_failed(tracker, e) from e
                fwd = self._macs(counter, model)
                op_fwd = self._op_macs(counter, model)
                seen.forward = False  # the backward pass adds no element-wise or added-formula counts
                for path, n in seen.direct.macs.items():
                    fwd[path] += n
                notes.extend(seen.direct.notes())
                bwd = self._backward(counter, model, out, fwd, notes) if backward else None

        notes.extend(_shared_module_notes(model, "every caller's total includes it"))
        notes.extend(seen.fused_notes())
        return FlopCount(
            backend=self.name,
            macs=fwd,
            calls=_with_all_paths(model, tracker.calls),
            uncounted=_uncounted(seen.uncounted),
            notes=tuple(notes),
            backward_macs=bwd,
            elementwise=None if seen.elem is None else _with_all_paths(model, seen.elem),
            added_macs={op: dict(by_path) for op, by_path in seen.added.items()},
            op_macs=op_fwd,
        )

    def explain(self, count: FlopCount, path: str, *, low: bool, high: bool, guess: bool = False) -> tuple[str, ...]:
        """See ``CountingBackend.explain``: the ops without a formula, and a forward called directly."""
        reasons = [f"torch has no formula for {op.name}" for op in count.uncounted_within(path)]
        if high and any(n.startswith(f"'{path}' ran as ") for n in count.notes):
            reasons.append(f"'{path}' ran as {path}.forward(...) without hooks: torch books its MACs to it, the "
                           "others to its caller")
        return tuple(reasons)

    @staticmethod
    def _macs(counter: Any, model: Any) -> dict[str, int]:
        return _with_all_paths(model, {p: sum(ops.values()) for p, ops in TorchBackend._op_macs(counter, model).items()})

    @staticmethod
    def _op_macs(counter: Any, model: Any) -> dict[str, dict[str, int]]:
        """Inclusive MACs per path and op, from FlopCounterMode's per-module op counts."""
        out: dict[str, dict[str, int]] = {}
        for name, by_op in counter.get_flop_counts().items():
            path = "" if name == "Global" else name  # _PathTracker's names are named_modules() paths
            ops = {str(op): n // 2 for op, n in by_op.items()}
            # "Global" and the root's own path are the same scope on a single forward
            if sum(ops.values()) >= sum(out.get(path, {}).values()):
                out[path] = ops
        return out

    @staticmethod
    def _backward(counter: Any, model: Any, out: Any, fwd: dict[str, int], notes: list[str]) -> dict[str, int] | None:
        losses = [t.sum() for t in _tensor_leaves(out) if t.is_floating_point() and t.requires_grad]
        if not losses:
            notes.append("backward not measured: no output requires grad (inputs and parameters are frozen?)")
            return None
        sum(losses).backward()  # type: ignore[union-attr]
        # ModuleTracker's backward scopes leak across modules (a module whose output feeds a later
        # one stays "current"), so only the whole-model figure is trustworthy.
        notes.append("backward MACs are measured for the whole model only (key '')")
        return {"": TorchBackend._macs(counter, model)[""] - fwd[""]}
