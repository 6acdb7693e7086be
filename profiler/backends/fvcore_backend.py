"""Adapter for fvcore's ``FlopCountAnalysis`` (JIT-trace based; its "flops" are MACs).

Shipped fvcore counts nn.GRU/LSTM/RNN and scaled-dot-product attention as 0; the op handles
below count them. What fvcore still cannot count is returned as data (``unsupported_ops()`` per
module), with fvcore's own warnings silenced. When the JIT trace fails (e.g. a Hugging Face
decoder returning a cache object) the count falls back to the torch backend and says so.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from paramscope.profiler.backends.interface import (
    FlopCount,
    _shared_module_notes,
    _uncounted,
    _with_all_paths,
)
from paramscope.profiler.backends.torch_backend import native_mha_macs, rnn_layer_macs, sdpa_macs
from paramscope.profiler.errors import BackendUnavailable
from paramscope.profiler.forward import tensor_leaves as _tensor_leaves
from paramscope.profiler.forward import track_calls as _track_calls

__all__ = ["FvcoreBackend"]

log = logging.getLogger(__name__)

_PREFIX = "model"  # the user's model is the child "model" of the tracing wrapper


def _shape(val: Any) -> list[int]:
    from fvcore.nn.jit_handles import get_shape

    shape = get_shape(val)
    if shape is None:
        raise ValueError(f"fvcore: no static shape for {val.debugName()}")
    return list(shape)


def _rnn_jit(inputs: list[Any], outputs: list[Any]) -> int:
    """aten::gru / lstm / rnn_tanh / rnn_relu: tokens x sum of the 2-D weights (all layers/directions).

    The weights arrive as a prim::ListConstruct (index 2, or 3 for the packed-sequence overload);
    an LSTM's (h, c) is a ListConstruct too, so take the last list among the first four inputs.
    """
    lists = [v for v in inputs[:4] if v.node().kind() == "prim::ListConstruct"]
    weights = [_shape(w) for w in lists[-1].node().inputs()]
    x = _shape(inputs[0])
    # every layer and direction sees the same number of tokens; rnn_layer_macs sums its matrices
    return rnn_layer_macs(x, weights)


def _sdpa_jit(inputs: list[Any], outputs: list[Any]) -> int:
    return sdpa_macs(_shape(inputs[0]), _shape(inputs[1]), _shape(inputs[2]))


def _native_mha_jit(inputs: list[Any], outputs: list[Any]) -> int:
    return native_mha_macs(_shape(inputs[0]), _shape(inputs[1]), int(inputs[3].toIValue()))


def _baddbmm_jit(inputs: list[Any], outputs: list[Any]) -> int:
    b, n, k = _shape(inputs[1])
    return b * n * k * _shape(inputs[2])[-1]


def _addbmm_jit(inputs: list[Any], outputs: list[Any]) -> int:
    return _baddbmm_jit(inputs, outputs)


def _mv_jit(inputs: list[Any], outputs: list[Any]) -> int:
    n, k = _shape(inputs[0])
    return n * k


def _addmv_jit(inputs: list[Any], outputs: list[Any]) -> int:
    return _mv_jit(inputs[1:], outputs)


def _dot_jit(inputs: list[Any], outputs: list[Any]) -> int:
    return _shape(inputs[0])[0]


_HANDLES = {
    "aten::gru": _rnn_jit,
    "aten::lstm": _rnn_jit,
    "aten::rnn_tanh": _rnn_jit,
    "aten::rnn_relu": _rnn_jit,
    "aten::scaled_dot_product_attention": _sdpa_jit,
    "aten::_native_multi_head_attention": _native_mha_jit,
    "aten::baddbmm": _baddbmm_jit,
    "aten::addbmm": _addbmm_jit,
    "aten::mv": _mv_jit,
    "aten::addmv": _addmv_jit,
    "aten::dot": _dot_jit,
}


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


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


# Largest model that may be copied to CPU when fvcore cannot trace on meta. to_empty() leaves the
# memory uninitialised, and untouched pages cost no RSS, but the forward still really runs.
_MAX_CPU_COPY_BYTES = 1 << 30


def _cpu_copy(model: Any, args: Any, kwargs: Any) -> tuple[Any, Any, Any] | None:
    """An uninitialised CPU copy of a meta model and its inputs, or None (not meta, or too big)."""
    import copy

    import torch
    from torch.utils._pytree import tree_map

    tensors = [*model.parameters(), *model.buffers()]
    if not any(t.is_meta for t in tensors) or sum(t.numel() * t.element_size() for t in tensors) > _MAX_CPU_COPY_BYTES:
        return None

    def to_cpu(x: Any) -> Any:
        return torch.zeros(x.shape, dtype=x.dtype, device="cpu") if isinstance(x, torch.Tensor) and x.is_meta else x

    return copy.deepcopy(model).to_empty(device="cpu"), tree_map(to_cpu, args), tree_map(to_cpu, kwargs)


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
            macs, calls, uncounted = self._analyse(FlopCountAnalysis, model, args, kwargs)
        except Exception as e:
            copied = _cpu_copy(model, args, kwargs)
            if copied is None:
                return self._fallback(model, args, kwargs, backward, e)
            try:
                macs, calls, uncounted = self._analyse(FlopCountAnalysis, *copied)
            except Exception as e2:
                return self._fallback(model, args, kwargs, backward, e2)
            notes.append(f"fvcore's JIT trace cannot run on meta ({_first_line(e)[:120]}): traced an "
                         "uninitialised CPU copy of the model instead")
        notes.extend(_shared_module_notes(model, "every caller's total includes it"))
        if backward:
            notes.append("backward MACs not measured: fvcore traces the forward only (use --flops torch)")
        return FlopCount(self.name, macs, calls, uncounted, tuple(notes))

    def _analyse(self, analysis_cls: Any, model: Any, args: Any, kwargs: Any) -> tuple[Any, Any, Any]:
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
            uncounted = self._uncounted(analysis, model)
        macs = {p: int(by_module.get(f"{_PREFIX}.{p}" if p else _PREFIX, 0)) for p, _ in model.named_modules()}
        return macs, _with_all_paths(model, tracker.calls), uncounted

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
