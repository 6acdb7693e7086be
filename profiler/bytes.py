"""Bytes moved per op, from the tensors each dispatched aten op really reads and writes.

The model (also in the README, "Bytes and roofline"):

- One forward runs under a ``TorchDispatchMode`` (on meta by default: no weights allocated). Every
  aten op reads each of its tensor inputs once from memory and writes each of its outputs once:
  no cache reuse across ops and no fusion. Weights are inputs like any other tensor (``addmm``
  reads its bias, its input and its weight).
- A tensor's bytes are its distinct elements times its element size: an expanded (stride 0)
  dimension is read once, not per repeat. The same tensor passed twice to one op is read once.
- View ops (``view``, ``t``, ``transpose``, ``unbind``...) move nothing. An in-place op writes its
  result into the memory of its mutated argument: that tensor counts once (as the write), the
  other arguments as reads.
- Recurrent layers: under dispatch ``nn.GRU``/``nn.RNN`` (and ``nn.LSTM`` on meta) unroll into one
  ``addmm`` per time step, so the hidden-to-hidden weights are read again at every step by
  construction. A fused kernel (``mkldnn_rnn_layer``, the cpu LSTM) is priced the same way: the
  input weights once, the recurrent weights once per time step.
- ``fusion=ELEMENTWISE`` folds element-wise ops into their producer, as a compiler would: an
  element-wise op (tagged pointwise) reading a tensor written by the op just before it (or by an
  element-wise op already folded into that op) reads it for free, and the producer's write of that
  tensor is dropped when no other op reads it and it is not a model output.
- A lookup (``embedding``, ``index_select``) reads its indices and the rows they select, not the
  whole table: one token of a 50k-word embedding reads one row.
- Two shape figures ride along for calibrated CPU profiles (``profiler/roofline.py``): a matrix
  product's ``gemm_dim``, the smallest of M, K, N of each (M, K) x (K, N) product (per matrix for
  ``bmm``; a convolution as the implicit product of output positions x (in-channels per group x
  kernel area) x out-channels per group), on which a CPU's achieved matmul rate depends, and a
  pooling op's ``window`` (output elements x kernel area: the elements its windows visit).
- ``scaled_dot_product_attention`` is one fused kernel on every device, as PyTorch runs it on cpu
  (``_scaled_dot_product_flash_attention_for_cpu``) and cuda (flash / memory-efficient): it reads
  q, k, v and the mask once and writes the output once; the L x S score matrix never reaches
  memory (``profiler/kernels.py`` hands the call over whole, also from ``nn.MultiheadAttention``).
  Attention written out op by op (``matmul``, ``softmax``, ``matmul``: eager BERT) is priced op
  by op.
- FLOPs per op come from the same formulas as the MAC count (FlopCounterMode's registry plus
  paramscope's extra formulas), so ``flops`` here equals ``2 x MACs`` of ``count_macs``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from math import prod
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from paramscope.profiler.backends.interface import _with_all_paths
from paramscope.profiler.forward import run_forward, storage_key, tensor_leaves, track_calls
from paramscope.profiler.kernels import WholeAttention, attention_flops, attention_operands, shape_figures
from paramscope.profiler.memory import Precision, tensor_bytes
from paramscope.profiler.choices import Fusion
from paramscope.profiler.paths import parent_of

__all__ = ["Fusion", "OpCost", "ByteCount", "count_bytes", "reprice", "precision_of"]


_PRECISIONS = {torch.float32: Precision.FP32, torch.bfloat16: Precision.BF16, torch.float16: Precision.FP16,
               torch.int8: Precision.INT8, torch.uint8: Precision.INT8}

_RNN_KERNELS = ("mkldnn_rnn_layer",)
_GATHERS = ("aten::embedding", "aten::index_select")


def precision_of(dtype: torch.dtype) -> Precision:
    """The ``Precision`` an op runs at; other float dtypes (fp64) are priced as fp32."""
    return _PRECISIONS.get(dtype, Precision.FP32)


@dataclass(frozen=True, slots=True)
class OpCost:
    """One dispatched op: its FLOPs and the bytes it moves."""

    op: str
    """``aten::addmm`` ..."""
    path: str
    """Innermost module running when the op ran (``""`` is the root)."""
    stack: tuple[str, ...]
    """Every module on the call stack, outermost first (the op counts in each: inclusive)."""
    flops: int
    """2 x MACs of the op (0 for element-wise and data-movement ops)."""
    float_elems: int
    """Floating-point elements read plus written."""
    float_bytes: int
    """Their bytes at the dtype the op ran at."""
    other_bytes: int
    """Bytes of integer and bool tensors (indices, masks): they keep their dtype at any precision."""
    precision: Precision
    """The precision the op ran at (its first floating input or output)."""
    weight_elems: int = 0
    """Parameter elements among the reads (a GRU step re-reads W_hh: counted at every step)."""
    gemm_dim: int = 0
    """Smallest of M, K, N of each (M, K) x (K, N) product of a matmul or convolution (0: other ops)."""
    window: int = 0
    """Elements a pooling op's windows visit: output elements x kernel area (0 for other ops)."""

    def bytes_at(self, precision: Precision | None = None) -> int:
        """Bytes moved as run, or with every floating tensor stored at ``precision``."""
        if precision is None:
            return self.float_bytes + self.other_bytes
        return tensor_bytes(self.float_elems, precision) + self.other_bytes


@dataclass(frozen=True, slots=True)
class ByteCount:
    """Bytes and FLOPs of one forward, per op and per module (inclusive)."""

    ops: tuple[OpCost, ...]
    bytes: Mapping[str, int]
    """Inclusive bytes moved for every ``named_modules()`` path (``""`` = the whole model)."""
    flops: Mapping[str, int]
    """Inclusive FLOPs (2 x MACs) per path, from the same ops."""
    fusion: Fusion = Fusion.NONE

    @property
    def total_bytes(self) -> int:
        return self.bytes.get("", 0)


@dataclass(slots=True)
class _Access:
    key: tuple[Any, ...]
    """Storage identity (the allocation)."""
    elems: int
    dtype: torch.dtype
    weight: bool = False
    """The storage is a parameter of the model."""
    producer: int | None = None
    """Index of the op that last wrote this storage (reads only)."""
    free: bool = False
    """Read inside a fused kernel, or a write nobody reads back (``Fusion.ELEMENTWISE``)."""


@dataclass(slots=True)
class _Raw:
    op: str
    stack: tuple[str, ...]
    flops: int
    elementwise: bool
    gemm_dim: int = 0
    window: int = 0
    reads: list[_Access] = field(default_factory=list)
    writes: list[_Access] = field(default_factory=list)


def _distinct_elems(t: torch.Tensor) -> int:
    """Elements ``t`` really addresses: an expanded (stride-0) dimension holds one element."""
    return int(prod(s for s, st in zip(t.shape, t.stride()) if st != 0)) if t.dim() else 1


def _access(t: torch.Tensor, elems: int | None = None) -> _Access:
    return _Access(storage_key(t), _distinct_elems(t) if elems is None else elems, t.dtype)


def _floating(a: _Access) -> bool:
    return a.dtype.is_floating_point or a.dtype.is_complex


def _nbytes(a: _Access) -> int:
    return a.elems * a.dtype.itemsize


def _gather_reads(name: str, args: tuple[Any, ...]) -> list[_Access]:
    """A lookup reads its indices and only the rows they select (at most every row once).

    ``embedding(weight, indices)``; ``index_select(self, dim, index)``.
    """
    if name == "aten::embedding":
        table, index, dim = args[0], args[1], 0
    else:
        table, dim, index = args[0], int(args[1]), args[2]
    rows = int(table.shape[dim]) if table.dim() else 1
    per_row = _distinct_elems(table) // max(rows, 1)
    return [_access(index), _access(table, min(int(index.numel()), rows) * per_row)]


def _rnn_reads(args: tuple[Any, ...]) -> list[_Access]:
    """``mkldnn_rnn_layer(input, w_ih, w_hh, b_ih, b_hh, hx, cx, ...)``: W_hh is read once per step."""
    inp, w_ih, w_hh, *rest = args
    steps = int(inp.shape[0]) if inp.dim() == 3 else 1  # (T, B, I), time-major after the module's transpose
    reads = [_access(inp), _access(w_ih), _access(w_hh, steps * w_hh.numel())]
    return reads + [_access(t) for t in rest[:4] if isinstance(t, torch.Tensor)]


class _ByteMode(TorchDispatchMode):  # type: ignore[no-untyped-call]  # unannotated in torch
    """Records each op's reads, writes and FLOPs, with the module stack it ran under."""

    def __init__(self, stack: list[str], weights: set[tuple[Any, ...]]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        from torch.utils.flop_counter import flop_registry, shape_wrapper

        from paramscope.profiler.backends.torch_backend import _COPIES, _extra_formulas

        self.stack = stack
        self.weights = weights
        # the formulas of the MAC count (FlopCounterMode wraps custom ones the same way)
        self.formulas = {**flop_registry,
                         **{k: shape_wrapper(f) for k, f in _extra_formulas().items()}}  # type: ignore[no-untyped-call]
        self.copies = _COPIES
        self.raws: list[_Raw] = []
        self.last_writer: dict[tuple[Any, ...], int] = {}

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        packet = func._overloadpacket
        if packet is torch.ops.aten.scaled_dot_product_attention:
            return self._fused_attention(func, args, kwargs)
        if packet not in self.formulas and func is not torch.ops.prim.device.default:
            with self:  # as FlopCounterMode does, so that both see the same ops
                decomposed = func.decompose(*args, **kwargs)
            if decomposed is not NotImplemented:
                return decomposed
        out = func(*args, **kwargs)
        if func.is_view or not isinstance(func, torch._ops.OpOverload):
            return out
        self._record(func, packet, args, kwargs, out)
        return out

    def _fused_attention(self, func: Any, args: Any, kwargs: Any) -> Any:
        """One kernel, as cpu and cuda run it: q, k, v (and a mask) in, the output out."""
        out = func.decompose(*args, **kwargs)  # outside this mode: its inner ops are not recorded
        operands = attention_operands(args, kwargs)
        raw = _Raw("aten::scaled_dot_product_attention", tuple(dict.fromkeys(("", *self.stack))),
                   attention_flops(*operands[:3]), False)
        raw.reads, raw.writes = [_access(t) for t in operands], [_access(out)]
        self._link(raw)
        return out

    def _link(self, raw: _Raw) -> None:
        """Mark weights and producers among the reads, then append ``raw`` as the latest op."""
        for r in raw.reads:
            r.producer = self.last_writer.get(r.key)
            r.weight = r.key in self.weights
        for w in raw.writes:
            self.last_writer[w.key] = len(self.raws)
        self.raws.append(raw)

    def _record(self, func: Any, packet: Any, args: Any, kwargs: Any, out: Any) -> None:
        name = str(packet).replace(".", "::", 1)
        formula = self.formulas.get(packet)
        flops = int(formula(*args, **kwargs, out_val=out)) if formula is not None else 0
        pointwise = torch.Tag.pointwise in func.tags and packet.__name__ not in self.copies
        raw = _Raw(name, tuple(dict.fromkeys(("", *self.stack))), flops, pointwise, *shape_figures(name, args, out))
        mutated = _mutated_args(func, args, kwargs)
        if any(k in name for k in _RNN_KERNELS):
            raw.reads = _rnn_reads(tuple(args))
        elif name in _GATHERS:
            raw.reads = _gather_reads(name, tuple(args))
        else:
            seen: set[int] = set()
            for t in tree_flatten((args, kwargs))[0]:
                if isinstance(t, torch.Tensor) and id(t) not in seen and id(t) not in mutated:
                    seen.add(id(t))
                    raw.reads.append(_access(t))
        outs = {id(t): t for t in tensor_leaves(out)}
        outs.update(mutated)
        raw.writes = [_access(t) for t in outs.values()]
        self._link(raw)


def _mutated_args(func: Any, args: Any, kwargs: Any) -> dict[int, torch.Tensor]:
    """Tensors the op writes in place (``add_``'s self, ``out=`` arguments), by id."""
    out: dict[int, torch.Tensor] = {}
    for i, a in enumerate(func._schema.arguments):
        if a.alias_info is None or not a.alias_info.is_write:
            continue
        value = args[i] if i < len(args) else kwargs.get(a.name)
        for t in tree_flatten(value)[0]:
            if isinstance(t, torch.Tensor):
                out[id(t)] = t
    return out


def _fuse_elementwise(raws: list[_Raw], outputs: set[tuple[int | None, tuple[Any, ...]]]) -> None:
    """Mark reads inside a fused kernel, and writes only such reads consume, as free (in place).

    A kernel is an op followed by the element-wise ops that each read something the kernel
    wrote; anything else starts a new kernel.
    """
    kernel: set[int] = set()
    for i, raw in enumerate(raws):
        inside = [r for r in raw.reads if r.producer in kernel]
        if raw.elementwise and inside:
            for r in inside:
                r.free = True
            kernel.add(i)
        else:
            kernel = {i}
    read_back: set[tuple[int, tuple[Any, ...]]] = set()
    read_fused: set[tuple[int, tuple[Any, ...]]] = set()
    for raw in raws:
        for r in raw.reads:
            if r.producer is not None:
                (read_fused if r.free else read_back).add((r.producer, r.key))
    for i, raw in enumerate(raws):
        for w in raw.writes:
            if (i, w.key) not in outputs and (i, w.key) in read_fused and (i, w.key) not in read_back:
                w.free = True


def _with_containers(stack: tuple[str, ...], uncalled: set[str]) -> tuple[str, ...]:
    """The call stack plus the containers above it that never run a forward (a ``ModuleList``):
    their inclusive figures are the sums of their children's."""
    extra = [a for p in stack for a in _ancestors(p) if a in uncalled]
    return tuple(dict.fromkeys((*stack, *extra)))


def _ancestors(path: str) -> list[str]:
    out = []
    while path:
        path = parent_of(path)
        out.append(path)
    return out


def _cost(raw: _Raw, uncalled: set[str]) -> OpCost:
    moved = [a for a in (*raw.reads, *raw.writes) if not a.free]
    floats = [a for a in moved if _floating(a)]
    first = next((a.dtype for a in (*raw.reads, *raw.writes) if _floating(a)), torch.float32)
    return OpCost(
        op=raw.op, path=raw.stack[-1], stack=_with_containers(raw.stack, uncalled), flops=raw.flops,
        float_elems=sum(a.elems for a in floats), float_bytes=sum(_nbytes(a) for a in floats),
        other_bytes=sum(_nbytes(a) for a in moved if not _floating(a)), precision=precision_of(first),
        weight_elems=sum(a.elems for a in raw.reads if a.weight), gemm_dim=raw.gemm_dim, window=raw.window,
    )


def count_bytes(model: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None, *,
                fusion: Fusion = Fusion.NONE) -> ByteCount:
    """Run the model's forward once (no grad) and price every op in bytes and FLOPs.

    Raises:
        ForwardFailed: the forward raised (the message names the submodule).
    """
    with track_calls(model) as tracker:
        mode = _ByteMode(tracker.stack, {storage_key(p) for p in model.parameters()})
        with torch.no_grad(), WholeAttention(), mode:
            out = run_forward(model, args, dict(kwargs or {}), lambda: tracker.current)
    if fusion is Fusion.ELEMENTWISE:
        # (last writer, storage): a freed intermediate's storage address can be reused by the output
        keys = [storage_key(t) for t in tensor_leaves(out)]
        _fuse_elementwise(mode.raws, {(mode.last_writer.get(k), k) for k in keys})
    uncalled = {p for p, _ in model.named_modules() if not tracker.calls.get(p)}
    ops = tuple(_cost(r, uncalled) for r in mode.raws)
    flops: defaultdict[str, int] = defaultdict(int)
    for op in ops:
        for path in op.stack:
            flops[path] += op.flops
    moved = _with_all_paths(model, _inclusive_bytes(ops, None))
    return ByteCount(ops=ops, bytes=moved, flops=_with_all_paths(model, flops), fusion=fusion)


def _inclusive_bytes(ops: tuple[OpCost, ...], precision: Precision | None) -> dict[str, int]:
    moved: defaultdict[str, int] = defaultdict(int)
    for op in ops:
        for path in op.stack:
            moved[path] += op.bytes_at(precision)
    return moved


def reprice(count: ByteCount, precision: Precision | None) -> dict[str, int]:
    """Inclusive bytes per path with every floating tensor stored at ``precision`` (None: as run)."""
    moved = _inclusive_bytes(count.ops, precision)
    return {p: moved.get(p, 0) for p in count.bytes}
