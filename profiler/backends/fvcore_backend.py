"""Adapter for fvcore's ``FlopCountAnalysis`` (JIT-trace based; its "flops" are MACs).

Shipped fvcore counts nn.GRU/LSTM/RNN and scaled-dot-product attention as 0; the op handles in
``_FVCORE_OPS`` count them with paramscope's formulas (profiler/formulas.py). What fvcore still
cannot count is returned as data (``unsupported_ops()`` per module), with fvcore's own warnings
silenced. When the JIT trace fails (e.g. a Hugging Face decoder returning a cache object) the
count falls back to the torch backend and says so."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from paramscope.profiler.backends.interface import (
    FlopCount,
    _first_line,
    _shared_module_notes,
    _uncounted,
    _with_all_paths,
)
from paramscope.profiler.errors import BackendUnavailable
from paramscope.profiler.forward import tensor_leaves as _tensor_leaves
from paramscope.profiler.forward import track_calls as _track_calls
from paramscope.profiler.formulas import FORMULAS, is_matmul_class

__all__ = ["FvcoreBackend"]

log = logging.getLogger(__name__)

_PREFIX = "model"  # the user's model is the child "model" of the tracing wrapper


# paramscope's formulas (profiler/formulas.py) for ops shipped fvcore counts as 0 or skips: one line each.
_FVCORE_OPS = (
    "gru", "lstm", "rnn_tanh", "rnn_relu",  # nn.GRU/LSTM/RNN
    "scaled_dot_product_attention",
    "_native_multi_head_attention",  # nn.MultiheadAttention's inference fast path
    "baddbmm", "addbmm", "mv", "addmv", "dot",
    "_grouped_mm",  # mixture-of-experts experts
    "cdist", "pdist",
    "bilinear",  # nn.Bilinear
)


def _value(val: Any) -> Any:
    """A JIT value as a formula takes it: a tensor's shape, a list of shapes, or the constant."""
    from fvcore.nn.jit_handles import get_shape

    node = val.node()
    if node.kind() == "prim::ListConstruct":
        return [_value(v) for v in node.inputs()]
    if val.isCompleteTensor() or val.type().kind() == "TensorType":
        shape = get_shape(val)
        if shape is None:
            raise ValueError(f"fvcore: no static shape for {val.debugName()}")
        return tuple(shape)
    return val.toIValue()


def _in_jit(macs: Any) -> Any:
    """An fvcore op handle (jit inputs and outputs in, MACs out) over a MAC formula."""

    def handle(inputs: list[Any], outputs: list[Any]) -> int:
        return int(macs(*(_value(v) for v in inputs)))

    return handle


_HANDLES = {f"aten::{n}": _in_jit(FORMULAS[n]) for n in _FVCORE_OPS}


def _wrapper(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, tuple[Any, ...]]:
    """A module whose positional inputs are the tensor leaves of (args, kwargs) and whose output
    is the tuple of the model's output tensors: what torch.jit.trace accepts."""
    import torch
    from torch.utils._pytree import tree_flatten, tree_unflatten

    leaves, spec = tree_flatten((args, kwargs))
    tensor_at = [i for i, leaf in enumerate(leaves) if isinstance(leaf, torch.Tensor)]

    class _Traced(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.add_module(_PREFIX, model)

        def forward(self, *tensors: Any) -> tuple[Any, ...]:
            filled = list(leaves)
            for i, t in zip(tensor_at, tensors):
                filled[i] = t
            a, kw = tree_unflatten(filled, spec)
            return tuple(_tensor_leaves(getattr(self, _PREFIX)(*a, **kw)))

    return _Traced(), tuple(leaves[i] for i in tensor_at)



# Largest model that may be copied to CPU when fvcore cannot trace on meta: the forward really runs.
_MAX_CPU_COPY_BYTES = 1 << 30


def _cpu_copy(model: Any, args: Any, kwargs: Any) -> tuple[Any, Any, Any] | None:
    """A CPU copy of a meta model and its inputs for fvcore to trace, or None (not meta, or too big).

    Parameters and meta inputs are zeros; buffers keep their real values (a meta build keeps
    them on cpu), so a mask or index buffer gives the true shapes and the count is the same on
    every run. An integer or boolean buffer that is itself on meta has no values to copy.

    Raises:
        ValueError: such a buffer, named.
    """
    import copy

    import torch
    from torch.utils._pytree import tree_map

    tensors = [*model.parameters(), *model.buffers()]
    if not any(t.is_meta for t in tensors) or sum(t.numel() * t.element_size() for t in tensors) > _MAX_CPU_COPY_BYTES:
        return None
    buffers = dict(model.named_buffers())
    unknown = [n for n, b in buffers.items() if b.is_meta and not (b.is_floating_point() or b.is_complex())]
    if unknown:
        raise ValueError(f"buffer '{unknown[0]}' ({buffers[unknown[0]].dtype}) is on meta: its values, which the "
                         "forward may index with, are unknown")

    def to_cpu(x: Any) -> Any:
        return torch.zeros(x.shape, dtype=x.dtype, device="cpu") if isinstance(x, torch.Tensor) and x.is_meta else x

    copied = copy.deepcopy(model).to_empty(device="cpu")  # to_empty leaves every tensor uninitialised
    with torch.no_grad():
        for t in copied.parameters():
            t.zero_()
        for name, b in copied.named_buffers():
            if buffers[name].is_meta:
                b.zero_()
            else:
                b.copy_(buffers[name])
    return copied, tree_map(to_cpu, args), tree_map(to_cpu, kwargs)


class FvcoreBackend:
    """Counts MACs with ``fvcore.nn.FlopCountAnalysis`` plus paramscope's op handles."""

    name = "fvcore"

    def count(self, model: Any, args: tuple[Any, ...], kwargs: dict[str, Any], *, backward: bool = False,
              elementwise: bool = False) -> FlopCount:
        """See ``CountingBackend.count``. Backward MACs and element-wise counts are not measured here."""
        try:
            from fvcore.nn import FlopCountAnalysis
        except ImportError as e:
            raise BackendUnavailable(f"fvcore is not installed ({e}); run `pip install fvcore`") from e

        notes = ["fvcore counts norms, upsampling and pooling as elementwise MACs; the JIT trace drops ops "
                 "whose results are unused"]
        try:
            macs, calls, uncounted, added = self._analyse(FlopCountAnalysis, model, args, kwargs)
        except Exception as e:
            try:
                copied = _cpu_copy(model, args, kwargs)
            except ValueError as refused:
                return self._fallback(model, args, kwargs, backward, refused)
            if copied is None:
                return self._fallback(model, args, kwargs, backward, e)
            try:
                macs, calls, uncounted, added = self._analyse(FlopCountAnalysis, *copied)
            except Exception as e2:
                return self._fallback(model, args, kwargs, backward, e2)
            notes.append(f"fvcore's JIT trace cannot run on meta ({_first_line(e)[:120]}): traced a CPU copy "
                         "of the model instead (zero parameters, the buffers' real values)")
        notes.extend(_shared_module_notes(model, "every caller's total includes it"))
        if backward:
            notes.append("backward MACs not measured: fvcore traces the forward only (use --flops torch)")
        return FlopCount(self.name, macs, calls, uncounted, tuple(notes), elementwise_macs=added[1],
                         added_macs=added[0])

    def explain(self, count: FlopCount, path: str, *, low: bool, high: bool, guess: bool = False) -> tuple[str, ...]:
        """See ``CountingBackend.explain``."""
        reasons = [f"fvcore leaves {op.name} uncounted" for op in count.uncounted_within(path)
                   if is_matmul_class(op.name)]
        if high and count.elementwise_macs.get(path):
            reasons.append(f"fvcore charges {count.elementwise_macs[path]:,} MACs to elementwise ops (norms, "
                           "pooling, upsampling); the others charge 0")
        if guess and low:
            reasons.append("fvcore's JIT trace drops ops whose results are unused, and books a forward called "
                           "directly (module.forward(x)) to its caller")
        return tuple(reasons)

    def _analyse(self, analysis_cls: Any, model: Any, args: Any, kwargs: Any) -> tuple[Any, Any, Any, Any]:
        wrapper, inputs = _wrapper(model, args, kwargs)
        with _track_calls(model) as tracker:
            analysis = (
                analysis_cls(wrapper, inputs)
                .set_op_handle(**_HANDLES)
                .unsupported_ops_warnings(False)
                .uncalled_modules_warnings(False)
                .tracer_warnings("none")
                .ancestor_mode("caller")  # book ops to the modules on the call stack, like torch
            )
            by_module = analysis.by_module()
            by_op = analysis.by_module_and_operator()
            uncounted = self._uncounted(analysis, model)
        wrapped = {p: f"{_PREFIX}.{p}" if p else _PREFIX for p, _ in model.named_modules()}
        macs = {p: int(by_module.get(w, 0)) for p, w in wrapped.items()}
        added: dict[str, dict[str, int]] = {}
        elementwise: dict[str, int] = {}
        for p, w in wrapped.items():
            for op, n in by_op.get(w, {}).items():
                if op in _FVCORE_OPS and n:
                    added.setdefault(op, {})[p] = int(n)
                elif n and not is_matmul_class(op):
                    elementwise[p] = elementwise.get(p, 0) + int(n)
        return macs, _with_all_paths(model, tracker.calls), uncounted, (added, elementwise)

    @staticmethod
    def _uncounted(analysis: Any, model: Any) -> tuple[Any, ...]:
        """Every unsupported op, booked to the innermost modules where it occurred."""
        records: defaultdict[str, dict[str, int]] = defaultdict(dict)
        for path, mod in model.named_modules():
            wrapped = f"{_PREFIX}.{path}" if path else _PREFIX
            mine = analysis.unsupported_ops(wrapped)
            children: defaultdict[str, int] = defaultdict(int)
            for name, _ in mod.named_children():
                for op, n in analysis.unsupported_ops(f"{wrapped}.{name}").items():
                    children[op] += n
            for op, n in mine.items():
                if n - children[op] > 0:
                    records[op][path] = n - children[op]
        return _uncounted(records)

    def _fallback(self, model: Any, args: Any, kwargs: Any, backward: bool, trace_error: Exception) -> FlopCount:
        """The JIT trace failed: count with the torch backend and say why."""
        from paramscope.profiler.backends.torch_backend import TorchBackend

        first_line = _first_line(trace_error)
        log.info("fvcore trace failed (%s); falling back to torch", first_line)
        result = TorchBackend().count(model, args, kwargs, backward=backward)  # raises ForwardFailed if the model is broken
        note = f"fvcore's JIT trace failed ({first_line[:200]}): fell back to torch"
        return FlopCount(
            backend=result.backend,
            macs=result.macs,
            calls=result.calls,
            uncounted=result.uncounted,
            notes=(note, *result.notes),
            backward_macs=result.backward_macs,
        )
