"""Adapter for PyTorch's dispatch-level counter, ``torch.utils.flop_counter.FlopCounterMode``.

FlopCounterMode sees every aten op that actually runs, so it works on the meta device and books
each op to every module on the call stack (inclusive, caller-based). Out of the box it silently
drops CPU kernels it has no formula for (``_scaled_dot_product_flash_attention_for_cpu``,
``mkldnn_rnn_layer`` for nn.LSTM, ``_native_multi_head_attention`` for nn.MultiheadAttention's
inference fast path); on meta the same modules decompose into mm/bmm and are counted. The
formulas below close that gap so that meta and cpu counts are identical, and any other op with
matmul-like work but no formula is reported as uncounted instead of a silent zero.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from math import prod
from typing import Any

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

__all__ = ["TorchBackend", "rnn_layer_macs", "sdpa_macs", "native_mha_macs"]

log = logging.getLogger(__name__)

# An op whose name matches this and that has no formula does matmul-like work we cannot see.
_MATMUL_LIKE = re.compile(r"mm|mv|dot|matmul|linear|conv|attention|gru|lstm|rnn|einsum", re.IGNORECASE)


def sdpa_macs(q_shape: Sequence[int], k_shape: Sequence[int], v_shape: Sequence[int]) -> int:
    """MACs of softmax(Q K^T) V: Q K^T is B*Hq*Lq*Lk*E, (.)V is B*Hq*Lq*Lk*Ev (any batch dims)."""
    *batch, lq, e = q_shape
    lk, ev = k_shape[-2], v_shape[-1]
    return prod(batch) * lq * lk * (e + ev)


def rnn_layer_macs(input_shape: Sequence[int], weight_shapes: Iterable[Sequence[int]]) -> int:
    """MACs of one RNN layer/direction: tokens x sum of its matrices' sizes.

    A GRU layer holds W_ih (3H x I) and W_hh (3H x H), so this is T*B*3*(I*H + H*H); an LSTM
    with proj_size adds W_hr (P x H). Biases and gate nonlinearities are elementwise: not counted.
    """
    tokens = prod(input_shape[:-1])
    return tokens * sum(prod(w) for w in weight_shapes if len(w) == 2)


def native_mha_macs(q_shape: Sequence[int], k_shape: Sequence[int], embed_dim: int) -> int:
    """MACs of nn.MultiheadAttention's fused inference path (batch_first (B, L, E) inputs).

    in-projections Lq*B*E*E + 2*Lk*B*E*E, Q K^T and (.)V 2*B*Lq*Lk*E, out-projection Lq*B*E*E.
    """
    e = embed_dim
    b_lq, b_lk = prod(q_shape[:-1]), prod(k_shape[:-1])
    lk = k_shape[-2] if len(k_shape) == 3 else k_shape[0]
    return b_lq * e * e + 2 * b_lk * e * e + 2 * b_lq * lk * e + b_lq * e * e


def _extra_formulas() -> dict[Any, Any]:
    """FLOP formulas (2 x MACs, FlopCounterMode's unit) for CPU kernels it does not know."""
    import torch

    aten = torch.ops.aten

    def cpu_flash(query: Any, key: Any, value: Any, *args: Any, out_shape: Any = None, **kw: Any) -> int:
        return 2 * sdpa_macs(query, key, value)

    def cpu_flash_bw(grad_out: Any, query: Any, key: Any, value: Any, *args: Any, out_shape: Any = None,
                     **kw: Any) -> int:
        # dQ, dK, dV and dP: twice the forward's two matmuls
        return 2 * 2 * sdpa_macs(query, key, value)

    def mkldnn_rnn(inp: Any, w0: Any, w1: Any, *args: Any, out_shape: Any = None, **kw: Any) -> int:
        return 2 * rnn_layer_macs(inp, (w0, w1))

    def mkldnn_rnn_bw(inp: Any, w0: Any, w1: Any, *args: Any, out_shape: Any = None, **kw: Any) -> int:
        # grad wrt input and wrt weights: twice the forward (the same rule as mm's backward)
        return 2 * 2 * rnn_layer_macs(inp, (w0, w1))

    def native_mha(query: Any, key: Any, value: Any, embed_dim: int, *args: Any, out_shape: Any = None,
                   **kw: Any) -> int:
        return 2 * native_mha_macs(query, key, embed_dim)

    def addmm_act(bias: Any, a: Sequence[int], b: Sequence[int], *args: Any, out_shape: Any = None, **kw: Any) -> int:
        return 2 * a[0] * a[1] * b[1]

    def addbmm(bias: Any, a: Sequence[int], b: Sequence[int], *args: Any, out_shape: Any = None, **kw: Any) -> int:
        return 2 * a[0] * a[1] * a[2] * b[2]

    def mv(a: Sequence[int], v: Any, *args: Any, out_shape: Any = None, **kw: Any) -> int:
        return 2 * a[0] * a[1]

    def addmv(bias: Any, a: Sequence[int], v: Any, *args: Any, out_shape: Any = None, **kw: Any) -> int:
        return 2 * a[0] * a[1]

    def dot(a: Sequence[int], b: Any, *args: Any, out_shape: Any = None, **kw: Any) -> int:
        return 2 * a[0]

    table = {
        "_scaled_dot_product_flash_attention_for_cpu": cpu_flash,
        "_scaled_dot_product_flash_attention_for_cpu_backward": cpu_flash_bw,
        "mkldnn_rnn_layer": mkldnn_rnn,
        "mkldnn_rnn_layer_backward": mkldnn_rnn_bw,
        "_native_multi_head_attention": native_mha,
        "_addmm_activation": addmm_act,
        "addbmm": addbmm,
        "mv": mv,
        "addmv": addmv,
        "dot": dot,
        "vdot": dot,
    }
    # Ops missing from older torch builds are skipped rather than failing the import.
    return {getattr(aten, n): f for n, f in table.items() if hasattr(aten, n)}


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


def _name_map(model: Any) -> dict[str, str]:
    """ModuleTracker names ("Global", "Model", "Model.a.b", any alias) -> named_modules() paths."""
    canonical = {id(m): p for p, m in model.named_modules()}
    root = type(model).__name__
    names = {"Global": ""}
    for path, mod in model.named_modules(remove_duplicate=False):
        names[f"{root}.{path}" if path else root] = canonical[id(mod)]
    return names


class TorchBackend:
    """Counts MACs with ``FlopCounterMode`` plus paramscope's extra formulas."""

    name = "torch"

    def count(self, model: Any, args: tuple[Any, ...], kwargs: dict[str, Any], *, backward: bool = False,
              elementwise: bool = False) -> FlopCount:
        """See ``CountingBackend.count``. FLOPs from FlopCounterMode are halved into MACs."""
        try:
            return self._count(model, args, kwargs, backward=backward, grad=backward, elementwise=elementwise)
        except ForwardFailed as e:
            # FlopCounterMode's module tracker hooks the inputs of every submodule; under no_grad a
            # view of a Parameter (``self.query.expand(B, -1, -1)`` passed to a submodule) requires
            # grad but has no grad_fn, and the tracker raises. With grad enabled it has one.
            if backward or "Expected gradient function to be set" not in str(e):
                raise
            count = self._count(model, args, kwargs, backward=False, grad=True, elementwise=elementwise)
            note = "forward counted with grad enabled: a Parameter view was passed to a submodule"
            return dataclasses.replace(count, notes=(*count.notes, note))

    def _count(self, model: Any, args: tuple[Any, ...], kwargs: dict[str, Any], *, backward: bool, grad: bool,
               elementwise: bool = False) -> FlopCount:
        try:
            import torch
            from torch.utils.flop_counter import FlopCounterMode
        except ImportError as e:  # pragma: no cover - torch is a hard dependency
            raise BackendUnavailable(f"torch.utils.flop_counter is unavailable: {e}") from e

        uncounted: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
        notes: list[str] = []
        # element-wise output elements, booked to every module on the call stack (inclusive, like
        # FlopCounterMode's MACs); only while the forward runs
        elem: defaultdict[str, int] | None = defaultdict(int) if elementwise else None
        is_elem: dict[Any, bool] = {}
        fused: set[str] = set()
        with _track_calls(model) as tracker:

            class _Counter(FlopCounterMode):
                # _count_flops sees every op that ran without decomposing further
                def _count_flops(self, func_packet: Any, out: Any, args: Any, kwargs: Any) -> Any:
                    if func_packet not in self.flop_registry:
                        name = str(func_packet).replace(".", "::", 1)
                        if not name.startswith(("aten::", "prims::", "prim::")) or _MATMUL_LIKE.search(name):
                            uncounted[name][tracker.current] += 1
                    if elem is not None:
                        if _is_elementwise(func_packet, is_elem):
                            n = _first_numel(out)
                            for path in {"", *tracker.stack}:
                                elem[path] += n
                        elif _FUSED.search(str(func_packet)):
                            fused.add(str(func_packet).replace(".", "::", 1))
                    return super()._count_flops(func_packet, out, args, kwargs)  # type: ignore[no-untyped-call]  # unannotated in torch

            counter = _Counter(display=False, custom_mapping=_extra_formulas())
            fwd: dict[str, int] = {}
            with counter:
                try:
                    with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
                        out = model(*args, **kwargs)
                except ForwardFailed:
                    raise
                except Exception as e:
                    raise _forward_failed(tracker, e) from e
                fwd = self._macs(counter, model)
                elem_fwd = None if elem is None else _with_all_paths(model, elem)
                elem = None  # the backward pass is not counted
                bwd = self._backward(counter, model, out, fwd, notes) if backward else None

        notes.extend(_shared_module_notes(model, "every caller's total includes it"))
        if fused:
            notes.append(f"element-wise counts inside fused kernels ({', '.join(sorted(fused))}) are not visible "
                         "on cpu/cuda; meta shows the decomposed ops")
        return FlopCount(
            backend=self.name,
            macs=fwd,
            calls=_with_all_paths(model, tracker.calls),
            uncounted=_uncounted(uncounted),
            notes=tuple(notes),
            backward_macs=bwd,
            elementwise=elem_fwd,
        )

    @staticmethod
    def _macs(counter: Any, model: Any) -> dict[str, int]:
        names = _name_map(model)
        macs: defaultdict[str, int] = defaultdict(int)
        for name, by_op in counter.get_flop_counts().items():
            path = names.get(name)
            if path is None:
                log.debug("FlopCounterMode module name %r matches no path", name)
                continue
            # "Global" and the root's own name are the same scope on a single forward
            macs[path] = max(macs[path], sum(by_op.values()) // 2)
        return _with_all_paths(model, macs)

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
